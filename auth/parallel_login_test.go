package auth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// peer is a client connection the router sends to: what it sends comes
// out of msgs.
type peer struct{ msgs chan wamp.Message }

func (p *peer) Send(m wamp.Message) error {
	select {
	case p.msgs <- m:
		return nil
	default:
		return router.ErrQueueFull
	}
}

func (p *peer) Close() {}

func (p *peer) recv(t *testing.T) wamp.Message {
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Error("no message from the router")
		return nil
	}
}

// loginMethod is how a client of one method says HELLO and guesses wrong.
type loginMethod struct {
	method  string
	extra   wamp.Dict                                // HELLO.Details.authextra
	answer  func(*wamp.Challenge) *wamp.Authenticate // a wrong guess, well formed
	enrolls func(*auth.Policy)
}

func loginMethods(t *testing.T) []loginMethod {
	ticket, err := auth.NewPasswordHash("right", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	scram, err := auth.NewSCRAMCredential("right", auth.KDFPBKDF2, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	joe := auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: ticket,
		CRA: &auth.CRAKey{Key: []byte("right")}, SCRAM: []*auth.SCRAMCredential{scram}, PublicKeys: []ed25519.PublicKey{pub}}})
	zeros := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	return []loginMethod{
		{method: auth.MethodTicket,
			answer: func(*wamp.Challenge) *wamp.Authenticate {
				return &wamp.Authenticate{Signature: "wrong", Extra: wamp.Dict{}}
			},
			enrolls: func(p *auth.Policy) { p.Add(auth.MethodTicket, &auth.Ticket{Principals: joe}) }},
		{method: auth.MethodWAMPCRA,
			answer: func(*wamp.Challenge) *wamp.Authenticate {
				return &wamp.Authenticate{Signature: zeros(32), Extra: wamp.Dict{}}
			},
			enrolls: func(p *auth.Policy) { p.Add(auth.MethodWAMPCRA, auth.NewWAMPCRA(joe)) }},
		{method: auth.MethodSCRAM, extra: wamp.Dict{"nonce": zeros(16), "channel_binding": nil},
			answer: func(c *wamp.Challenge) *wamp.Authenticate {
				return &wamp.Authenticate{Signature: zeros(32), Extra: wamp.Dict{"nonce": c.Extra["nonce"], "channel_binding": nil}}
			},
			enrolls: func(p *auth.Policy) { p.Add(auth.MethodSCRAM, auth.NewSCRAM(joe)) }},
		{method: auth.MethodCryptosign, extra: wamp.Dict{"pubkey": hex.EncodeToString(pub)},
			answer: func(*wamp.Challenge) *wamp.Authenticate {
				return &wamp.Authenticate{Signature: hex.EncodeToString(make([]byte, 96)), Extra: wamp.Dict{}}
			},
			enrolls: func(p *auth.Policy) { p.Add(auth.MethodCryptosign, auth.NewCryptosign(joe)) }},
	}
}

// TestParallelGuessesBoundedPerDelay: once an address is slowed down,
// wrong logins sent from it in parallel, for each challenge method, get
// at most the throttle's in-flight bound of guesses (CHALLENGEs answered)
// per delay: those past the bound wait for their turn (they are not
// refused), and each one's delay runs from its turn. Before, the delay was
// fixed at HELLO for all of them at once, so N parallel logins got N
// guesses per delay.
//
// A CHALLENGE of the k-th round of admissions goes out no sooner than k
// delays after the first HELLO, so however slow the machine, the c-th
// CHALLENGE the client sees t after it started has c <= inFlight*(1 +
// t/delay).
func TestParallelGuessesBoundedPerDelay(t *testing.T) {
	const (
		delay    = 200 * time.Millisecond
		inFlight = auth.DefaultLoginsInFlight
		logins   = 3 * inFlight
	)
	for _, m := range loginMethods(t) {
		t.Run(m.method, func(t *testing.T) {
			t.Parallel()
			th := &auth.Throttle{Free: 1, Base: delay, Max: delay}
			pol := &auth.Policy{Throttle: th}
			m.enrolls(pol)
			rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Auth: pol}}})
			if err != nil {
				t.Fatal(err)
			}
			var port atomic.Int32
			login := func(challenged func()) {
				p := &peer{msgs: make(chan wamp.Message, 4)}
				s := rt.Attach(p, router.TransportInfo{Kind: "websocket", Serializer: "json", RemoteAddr: fmt.Sprintf("10.0.0.7:%d", 1000+port.Add(1))})
				details := wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}}, "authid": "joe", "authmethods": []any{m.method}}
				if m.extra != nil {
					details["authextra"] = m.extra
				}
				s.Receive(&wamp.Hello{Realm: "realm1", Details: details})
				c, ok := p.recv(t).(*wamp.Challenge)
				if !ok {
					t.Error("want CHALLENGE")
					return
				}
				if challenged != nil {
					challenged()
				}
				s.Receive(m.answer(c))
				if a, ok := p.recv(t).(*wamp.Abort); !ok || a.Reason != wamp.ErrAuthenticationFailed {
					t.Errorf("after a wrong guess: %+v, want ABORT %s", a, wamp.ErrAuthenticationFailed)
				}
			}
			login(nil) // the failure that slows the address down (Free: 1)

			var mu sync.Mutex
			var seen []time.Duration // when each CHALLENGE came, since start
			var wg sync.WaitGroup
			start := time.Now()
			for range logins {
				wg.Go(func() {
					login(func() {
						mu.Lock()
						seen = append(seen, time.Since(start))
						mu.Unlock()
					})
				})
			}
			wg.Wait()
			if len(seen) != logins {
				t.Fatalf("%d of %d logins challenged", len(seen), logins)
			}
			mu.Lock()
			defer mu.Unlock()
			// seen is in the order the CHALLENGEs came.
			for i, at := range seen {
				if most := inFlight * (1 + int(at/delay)); i+1 > most {
					t.Fatalf("%d guesses %v after the first parallel HELLO, want at most %d (%d in flight per %v)", i+1, at, most, inFlight, delay)
				}
			}
		})
	}
}

// TestLoginQueueBound: past the throttle's in-flight bound, logins from
// one address wait for their turn, and past its queue bound they are
// refused at once with an ABORT that says why, counted, and not counted
// as a failure of the address.
func TestLoginQueueBound(t *testing.T) {
	th := &auth.Throttle{InFlight: 1, Queue: 1}
	pol := &auth.Policy{Throttle: th}
	m := loginMethods(t)[1] // wampcra
	m.enrolls(pol)
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Auth: pol}}})
	if err != nil {
		t.Fatal(err)
	}
	hello := func(port int) (*peer, *router.Session) {
		p := &peer{msgs: make(chan wamp.Message, 4)}
		s := rt.Attach(p, router.TransportInfo{Kind: "websocket", Serializer: "json", RemoteAddr: fmt.Sprintf("10.0.0.7:%d", port)})
		s.Receive(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}}, "authid": "joe", "authmethods": []any{m.method}}})
		return p, s
	}
	pa, sa := hello(1)
	ca, ok := pa.recv(t).(*wamp.Challenge)
	if !ok {
		t.Fatal("first login: want CHALLENGE")
	}
	pb, sb := hello(2) // waits for a's turn to end
	pc, _ := hello(3)  // the queue is full
	if a, ok := pc.recv(t).(*wamp.Abort); !ok || a.Reason != wamp.ErrAuthenticationFailed || a.Details["message"] != auth.ErrTooManyLogins.Message {
		t.Fatalf("login past the queue: %+v, want ABORT %q", a, auth.ErrTooManyLogins.Message)
	}
	if th.Refused() != 1 || th.Len() != 0 {
		t.Fatalf("after the refusal: %d refused, %d addresses failed; want 1, 0", th.Refused(), th.Len())
	}
	select {
	case msg := <-pb.msgs:
		t.Fatalf("queued login got %s before its turn", msg.Type())
	default:
	}
	sa.Receive(m.answer(ca))
	if _, ok := pa.recv(t).(*wamp.Abort); !ok {
		t.Fatal("wrong guess: want ABORT")
	}
	cb, ok := pb.recv(t).(*wamp.Challenge)
	if !ok {
		t.Fatal("queued login, its turn come: want CHALLENGE")
	}
	sb.Receive(m.answer(cb))
	if _, ok := pb.recv(t).(*wamp.Abort); !ok {
		t.Fatal("wrong guess: want ABORT")
	}
}
