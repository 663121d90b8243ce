package router

import (
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// holdingReplica is a cookie replica whose CookieRemembered, which a login
// calls between the session's becoming established and its joining the
// realm's table, waits until released.
type holdingReplica struct {
	reached, release chan struct{}
}

func (h *holdingReplica) CookieRemembered(auth.CookieHash, string, *auth.Identity, time.Time) {
	close(h.reached)
	<-h.release
}

func (h *holdingReplica) CookieForgotten(auth.CookieHash, string) {}

// TestDetachWhileJoining: a connection that ends while its login is being
// welcomed (the session's state is established, its realm's table does not
// hold it yet) leaves nothing behind: no session in the realm's table, none
// counted established, no WELCOME. Before, the end found nothing to take
// out of the table, and the welcome then put the session in it for good
// (a session that session.count and session.list showed forever).
func TestDetachWhileJoining(t *testing.T) {
	r, _ := authRouter(t, nil, nil)
	pol := r.realms.get("realm1").cfg.Auth
	hold := &holdingReplica{reached: make(chan struct{}), release: make(chan struct{})}
	pol.Cookies = &auth.Cookies{Max: 10, TTL: time.Hour, Replica: hold}
	// One login at a time from an address: a second login's CHALLENGE
	// says the first one's goroutine, its welcome included, is done.
	pol.Throttle = &auth.Throttle{InFlight: 1}
	connect := func() *pipe {
		p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
		p.s = r.Attach(p, TransportInfo{Kind: "websocket", Serializer: "json", RemoteAddr: "192.0.2.1:1000", Cookie: "the-cookie", CookieIssued: true})
		t.Cleanup(p.s.Detach)
		return p
	}
	p := connect()
	p.s.Receive(hello("realm1", "ticket-user", "ticket"))
	p.recv() // CHALLENGE
	p.s.Receive(&wamp.Authenticate{Signature: "ticket-secret", Extra: wamp.Dict{}})
	<-hold.reached // the login succeeded and is remembered: the welcome waits here
	p.s.Detach()   // the connection ends meanwhile
	close(hold.release)

	q := connect()
	q.s.Receive(hello("realm1", "ticket-user", "ticket"))
	if m := q.recv(); m.Type() != wamp.TypeChallenge {
		t.Fatalf("the second login got %v", m)
	}
	if c, e := r.SessionCount("realm1"), r.Stats().Established; c != 0 || e != 0 {
		t.Fatalf("a session that ended while it was welcomed: %d in the realm's table, %d established", c, e)
	}
	for len(p.out) > 0 {
		if m := <-p.out; m.Type() == wamp.TypeWelcome {
			t.Fatal("a WELCOME for a session whose connection had ended")
		}
	}
}
