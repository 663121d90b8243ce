package interop

import (
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// rawSession is a WAMP session over WebSocket that sends and receives
// messages as they are, for features no client library offers.
type rawSession struct {
	t       *testing.T
	c       codec.Codec
	conn    net.Conn
	id      wamp.ID
	welcome *wamp.Welcome
}

// dialRaw joins realm1 announcing every client role, each with features.
func dialRaw(t *testing.T, r *router, c codec.Codec, features ...string) *rawSession {
	t.Helper()
	d := ws.Dialer{Protocols: []string{c.Subprotocol()}, Timeout: 5 * time.Second}
	conn, _, _, err := d.Dial(t.Context(), r.url("websocket"))
	if err != nil {
		t.Fatalf("dialing %s: %v", r.url("websocket"), err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &rawSession{t: t, c: c, conn: conn}
	f := wamp.Dict{}
	for _, n := range features {
		f[n] = true
	}
	s.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{
		"caller": wamp.Dict{"features": f}, "callee": wamp.Dict{"features": f},
		"publisher": wamp.Dict{"features": f}, "subscriber": wamp.Dict{"features": f},
	}}})
	w, ok := s.recv().(*wamp.Welcome)
	if !ok {
		t.Fatalf("want WELCOME, got %T", w)
	}
	s.id, s.welcome = w.Session, w
	return s
}

func (s *rawSession) send(m wamp.Message) {
	s.t.Helper()
	b, err := s.c.Encode(nil, m)
	if err != nil {
		s.t.Fatalf("encoding %s: %v", m.Type(), err)
	}
	op := ws.OpText
	if s.c.Binary() {
		op = ws.OpBinary
	}
	if err := wsutil.WriteClientMessage(s.conn, op, b); err != nil {
		s.t.Fatalf("sending %s: %v", m.Type(), err)
	}
}

// recv returns the next message; the deadline only guards against a hang.
func (s *rawSession) recv() wamp.Message {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		msgs, err := wsutil.ReadServerMessage(s.conn, nil)
		if err != nil {
			s.t.Fatalf("reading from the router: %v", err)
		}
		for _, m := range msgs {
			if m.OpCode != ws.OpText && m.OpCode != ws.OpBinary {
				continue
			}
			msg, err := s.c.Decode(m.Payload)
			if err != nil {
				s.t.Fatalf("router sent %q: %v", m.Payload, err)
			}
			return msg
		}
	}
}
