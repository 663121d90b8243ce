package transport

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// gatedTicket is a ticket authenticator that gives its verdict only once
// its gate opens: an authentication the router is slow to finish (a key
// derivation waiting for its turn, a dynamic authenticator).
type gatedTicket struct{ gate chan struct{} }

func (g *gatedTicket) Knows(*auth.Request) bool { return true }

func (g *gatedTicket) Authenticate(ctx context.Context, req *auth.Request, c auth.Challenger) (*auth.Identity, error) {
	m, err := c.Challenge(ctx, wamp.Dict{})
	if err != nil {
		return nil, err
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m.Signature != "pw" {
		return nil, &auth.Failure{Reason: wamp.ErrAuthenticationFailed, Message: "wrong ticket"}
	}
	return &auth.Identity{AuthID: req.AuthID, AuthRole: "user", AuthMethod: auth.MethodTicket, AuthProvider: "static"}, nil
}

// TestHelloTimeoutAfterAsyncWelcome: an authentication ends with a
// WELCOME sent from its own goroutine, after the client's last message.
// The hello deadline counts the client's time, not the router's: a client
// that answered its CHALLENGE in time is not cut off while the router
// verifies, however long that takes, and its session, once welcomed,
// outlives the deadline. A client that does not answer its CHALLENGE is
// still cut off.
//
// (This test used to leave the verification to a real password hash and
// expect it to end within the 300ms hello timeout: on a loaded machine it
// sometimes did not, and the client was cut off for the router's slowness.)
func TestHelloTimeoutAfterAsyncWelcome(t *testing.T) {
	const helloTimeout = 300 * time.Millisecond
	forModes(t, func(t *testing.T, m mode) {
		gated := &gatedTicket{gate: make(chan struct{})}
		pol := &auth.Policy{}
		pol.Add(auth.MethodTicket, gated)
		ts := m.start(t, func(s *Server) {
			rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Auth: pol}}, Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			s.Router, s.HelloTimeout = rt, helloTimeout
		})
		hello := func(c client) {
			t.Helper()
			d := wamp.Dict{"roles": clientRoles["roles"], "authmethods": wamp.List{"ticket"}, "authid": "joe"}
			c.send(&wamp.Hello{Realm: "realm1", Details: d})
			expect[*wamp.Challenge](t, c)
		}
		clients := []client{ts.dialWS(t, "wamp.2.json"), ts.dialRS(t, wamp.FormatMsgPack)}
		for _, c := range clients {
			hello(c)
			c.send(&wamp.Authenticate{Signature: "pw", Extra: wamp.Dict{}})
		}
		stalled := ts.dialWS(t, "wamp.2.json")
		hello(stalled) // and never answers the CHALLENGE

		// A bystander dialed after the others says nothing: when it is
		// cut off, the others' hello deadlines have passed too.
		expectAbort(t, ts.dialRS(t, wamp.FormatJSON), "no HELLO within", 0)
		close(gated.gate)
		for i, c := range clients {
			expect[*wamp.Welcome](t, c)
			roundTrip(t, c, wamp.ID(i+1))
		}
		expectAbort(t, stalled, "session not established within", ws.StatusPolicyViolation)
	})
}
