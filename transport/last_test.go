package transport

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// TestNothingAfterGoodbye: once a GOODBYE or ABORT is queued for a
// connection, nothing else is (closeInfo.last): a message another session's
// goroutine sends right after a kill's GOODBYE, an EVENT say, is refused
// as for a closed connection, on the plain, the shared and the compressed
// paths alike.
func TestNothingAfterGoodbye(t *testing.T) {
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	srv := &Server{Router: rt}
	if err := srv.setup(); err != nil {
		t.Fatal(err)
	}
	event := &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{}}
	for _, last := range []wamp.Message{
		&wamp.Goodbye{Reason: wamp.CloseKilled, Details: wamp.Dict{}},
		&wamp.Abort{Reason: wamp.ErrProtocolViolation, Details: wamp.Dict{}},
	} {
		for _, proto := range []protocol{protoWebSocket, protoRawSocket} {
			w := &wire{srv: srv, maxOut: 1 << 20, proto: proto, format: wamp.FormatJSON, msgOp: ws.OpText}
			var out []byte
			if err := w.appendMessage(&out, event, 0); err != nil {
				t.Fatalf("an EVENT before the %s: %v", last.Type(), err)
			}
			if err := w.appendMessage(&out, last, len(out)); err != nil {
				t.Fatalf("%s: %v", last.Type(), err)
			}
			n := len(out)
			sh := wamp.NewShared(event)
			if _, err := w.codec().Encode(nil, sh); err != nil { // encoded once, as for the first subscriber
				t.Fatal(err)
			}
			for name, send := range map[string]func() error{
				"an EVENT":       func() error { return w.appendMessage(&out, event, len(out)) },
				"a shared EVENT": func() error { return w.appendMessage(&out, sh, len(out)) },
				"another GOODBYE": func() error {
					return w.appendMessage(&out, &wamp.Goodbye{Reason: wamp.CloseNormal, Details: wamp.Dict{}}, len(out))
				},
				"a compressed EVENT": func() error {
					var d deflated
					d.prepare(w, event)
					defer d.release()
					return w.appendDeflated(&out, event, &d, len(out))
				},
			} {
				if err := send(); !errors.Is(err, router.ErrClosed) {
					t.Errorf("%s after the %s (%v): %v, want router.ErrClosed", name, last.Type(), proto, err)
				}
			}
			if len(out) != n {
				t.Errorf("%d bytes queued after the %s (%v)", len(out)-n, last.Type(), proto)
			}
		}
	}
}
