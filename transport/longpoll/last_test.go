package longpoll

import (
	"errors"
	"testing"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// TestNothingAfterGoodbye: once a GOODBYE or ABORT is queued for a
// long-poll transport, nothing else is: a message another session's
// goroutine sends right after a kill's GOODBYE is refused as for a closed
// transport, and receives get the GOODBYE last.
func TestNothingAfterGoodbye(t *testing.T) {
	for _, last := range []wamp.Message{
		&wamp.Goodbye{Reason: wamp.CloseKilled, Details: wamp.Dict{}},
		&wamp.Abort{Reason: wamp.ErrProtocolViolation, Details: wamp.Dict{}},
	} {
		h := &Handler{cfg: Config{MaxMessageSize: 1 << 20, OutboundQueue: 1 << 20}}
		tr := &lpTransport{h: h, proto: protocols[0], wake: make(chan struct{})}
		p := peer{tr}
		if err := p.Send(&wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{}}); err != nil {
			t.Fatal(err)
		}
		if err := p.Send(last); err != nil {
			t.Fatal(err)
		}
		if err := p.Send(&wamp.Event{Subscription: 1, Publication: 3, Details: wamp.Dict{}}); !errors.Is(err, router.ErrClosed) {
			t.Errorf("an EVENT after the %s: %v, want router.ErrClosed", last.Type(), err)
		}
		if len(tr.queue) != 2 {
			t.Errorf("%d messages queued, want the EVENT and the %s", len(tr.queue), last.Type())
		}
	}
}
