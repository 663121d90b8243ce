package transport

import (
	"context"
	"testing"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// panicking is an authenticator whose Knows panics: a defect in the
// router's handling of a HELLO, run on the goroutine that read it (an
// event loop on the epoll engine).
type panicking struct{}

func (panicking) Knows(*auth.Request) bool { panic("a defect in the router") }
func (panicking) Authenticate(context.Context, *auth.Request, auth.Challenger) (*auth.Identity, error) {
	return nil, nil
}

// A panic while a message is handled costs its connection (WebSocket
// close 1011), not the process: the other sessions, on the same engine,
// go on.
func TestPanicCostsOnlyItsConnection(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		var policy auth.Policy
		policy.Add("panic", panicking{})
		rt, err := router.New(router.Config{Logger: testLogger(), Realms: []router.RealmConfig{
			{Name: "realm1", Anonymous: true},
			{Name: "realm2", Auth: &policy},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ts := m.start(t, func(s *Server) { s.Router = rt })
		other := ts.dialWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol())
		join(t, other)

		hello := &wamp.Hello{Realm: "realm2", Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}}, "authmethods": wamp.List{"panic"}}}
		c := ts.dialWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol())
		c.send(hello)
		if msgs, code := c.closed(); len(msgs) != 0 || code != ws.StatusInternalServerError {
			t.Fatalf("after the panic: %+v, close %d; want no message, close 1011", msgs, code)
		}
		rc := ts.dialRS(t, wamp.FormatMsgPack)
		rc.send(hello)
		if msgs, _ := rc.closed(); len(msgs) != 0 {
			t.Fatalf("after the panic: %+v, want the connection closed", msgs)
		}

		// The session joined before is served as ever.
		other.send(&wamp.Call{Request: 1, Procedure: "wamp.session.count"})
		expect[*wamp.Result](t, other)
	})
}
