package transport

import (
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// TestHelloTimeoutAfterAsyncWelcome: an authentication ends with a
// WELCOME sent from its own goroutine, after the client's last message.
// The hello deadline must not then cut the established session off.
func TestHelloTimeoutAfterAsyncWelcome(t *testing.T) {
	h, err := auth.NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	pol := &auth.Policy{}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: h}})})
	const helloTimeout = 300 * time.Millisecond
	forEngines(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, func(s *Server) {
			rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Auth: pol}}, Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			s.Router, s.HelloTimeout = rt, helloTimeout
		})
		for _, dial := range []func() client{
			func() client { return ts.dialWS(t, "wamp.2.json") },
			func() client { return ts.dialRS(t, wamp.FormatMsgPack) },
		} {
			c := dial()
			d := wamp.Dict{"roles": clientRoles["roles"], "authmethods": wamp.List{"ticket"}, "authid": "joe"}
			c.send(&wamp.Hello{Realm: "realm1", Details: d})
			expect[*wamp.Challenge](t, c)
			c.send(&wamp.Authenticate{Signature: "pw", Extra: wamp.Dict{}})
			expect[*wamp.Welcome](t, c)
			time.Sleep(2 * helloTimeout) // past the hello deadline
			roundTrip(t, c, 1)
		}
	})
}
