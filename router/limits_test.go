package router

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// newLimitedRouter is a router with one anonymous realm1 and the limits l.
func newLimitedRouter(t *testing.T, l SessionLimits) *Router {
	t.Helper()
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantLimitExceeded checks that request req of type t was refused with
// wamp.error.limit_exceeded and a message that says why.
func wantLimitExceeded(t *testing.T, p *pipe, rt wamp.MessageType, req wamp.ID, says string) {
	t.Helper()
	e := wantError(t, p, rt, req, wamp.ErrLimitExceeded)
	args, _ := payloadOf(t, &e.Payload)
	if msg, _ := args[0].(string); len(args) != 1 || !strings.Contains(msg, says) {
		t.Fatalf("ERROR %s for %s %d carries %v, want a message with %q", e.Error, rt, req, args, says)
	}
}

func TestSubscriptionLimit(t *testing.T) {
	const limit = 3 * idSetSmall / 2 // past the small set: the map holds some
	r := newLimitedRouter(t, SessionLimits{Subscriptions: limit})
	p := join(t, r, codec.JSON)
	other := join(t, r, codec.JSON)
	ids := make([]wamp.ID, limit)
	for i := range ids {
		ids[i] = subscribe(t, p, wamp.URI(fmt.Sprintf("com.t.%d", i)), nil)
	}

	p.s.Receive(&wamp.Subscribe{Request: 2, Topic: "com.t.over"})
	wantLimitExceeded(t, p, wamp.TypeSubscribe, 2, fmt.Sprintf("holds %d subscriptions", limit))
	if n := r.Stats().LimitExceeded; n != 1 {
		t.Fatalf("Stats.LimitExceeded = %d, want 1", n)
	}
	// The refused subscription was not left behind in the realm.
	if args, _ := callOK(t, other, 3, "wamp.subscription.lookup", wamp.List{"com.t.over"}, nil); args[0] != nil {
		t.Fatalf("lookup of the refused topic: %v, want null", args)
	}
	// A subscription the session holds is no new one: SUBSCRIBE again
	// answers with its id.
	if got := subscribe(t, p, "com.t.5", nil); got != ids[5] {
		t.Fatalf("SUBSCRIBE again to com.t.5: subscription %d, want %d", got, ids[5])
	}
	// Another session is not limited by p's subscriptions.
	subscribe(t, other, "com.t.over", nil)

	// The session goes on: its subscriptions deliver, and one it gives
	// up makes room for another.
	other.s.Receive(&wamp.Publish{Request: 4, Topic: "com.t.7", Options: wamp.Dict{"acknowledge": true}})
	if _, ok := other.recv().(*wamp.Published); !ok {
		t.Fatal("no PUBLISHED")
	}
	if ev := wantEvent(t, p); ev.Subscription != ids[7] {
		t.Fatalf("EVENT for subscription %d, want %d", ev.Subscription, ids[7])
	}
	p.s.Receive(&wamp.Unsubscribe{Request: 5, Subscription: ids[0]})
	if _, ok := p.recv().(*wamp.Unsubscribed); !ok {
		t.Fatal("no UNSUBSCRIBED")
	}
	subscribe(t, p, "com.t.over", nil)
	p.s.Receive(&wamp.Subscribe{Request: 6, Topic: "com.t.0"})
	wantLimitExceeded(t, p, wamp.TypeSubscribe, 6, "subscriptions")
	p.none()
}

func TestRegistrationLimit(t *testing.T) {
	const limit = 2 * idSetSmall
	r := newLimitedRouter(t, SessionLimits{Registrations: limit})
	callee := joinRPC(t, r)
	caller := joinRPC(t, r)
	ids := make([]wamp.ID, limit)
	for i := range ids {
		ids[i] = register(t, callee, wamp.ID(i+1), wamp.URI(fmt.Sprintf("com.p.%d", i)), nil)
	}

	callee.s.Receive(&wamp.Register{Request: 100, Procedure: "com.p.over"})
	wantLimitExceeded(t, callee, wamp.TypeRegister, 100, fmt.Sprintf("holds %d registrations", limit))
	// Not registered.
	caller.s.Receive(&wamp.Call{Request: 1, Procedure: "com.p.over"})
	wantError(t, caller, wamp.TypeCall, 1, wamp.ErrNoSuchProcedure)

	// The session goes on: its registrations are called, and one it gives
	// up makes room for another.
	inv := invoke(t, caller, callee, 2, "com.p.3", nil)
	if inv.Registration != ids[3] {
		t.Fatalf("INVOCATION for registration %d, want %d", inv.Registration, ids[3])
	}
	callee.s.Receive(&wamp.Yield{Request: inv.Request})
	wantResult(t, caller, 2)
	callee.s.Receive(&wamp.Unregister{Request: 101, Registration: ids[0]})
	if _, ok := callee.recv().(*wamp.Unregistered); !ok {
		t.Fatal("no UNREGISTERED")
	}
	register(t, callee, 102, "com.p.over", nil)
	callee.none()
	if n := r.Stats().LimitExceeded; n != 1 {
		t.Fatalf("Stats.LimitExceeded = %d, want 1", n)
	}
}

func TestCallsInFlightLimit(t *testing.T) {
	const limit = 3
	r := newLimitedRouter(t, SessionLimits{CallsInFlight: limit})
	callee := joinRPC(t, r)
	caller := joinRPC(t, r)
	register(t, callee, 1, "com.slow", nil)
	var invs []*wamp.Invocation
	for i := range limit {
		invs = append(invs, invoke(t, caller, callee, wamp.ID(i+1), "com.slow", nil))
	}

	caller.s.Receive(&wamp.Call{Request: 10, Procedure: "com.slow"})
	wantLimitExceeded(t, caller, wamp.TypeCall, 10, fmt.Sprintf("has %d calls in flight", limit))
	callee.none() // the refused call reached no callee
	// Another caller is not limited by this one's calls.
	other := joinRPC(t, r)
	otherInv := invoke(t, other, callee, 1, "com.slow", nil)

	// An answered call makes room for another.
	callee.s.Receive(&wamp.Yield{Request: invs[0].Request})
	wantResult(t, caller, 1)
	inv := invoke(t, caller, callee, 11, "com.slow", nil)
	caller.s.Receive(&wamp.Call{Request: 12, Procedure: "com.slow"})
	wantLimitExceeded(t, caller, wamp.TypeCall, 12, "calls in flight")
	for _, in := range append(invs[1:], inv) {
		callee.s.Receive(&wamp.Yield{Request: in.Request})
	}
	callee.s.Receive(&wamp.Yield{Request: otherInv.Request})
	for _, req := range []wamp.ID{2, 3, 11} {
		wantResult(t, caller, req)
	}
	wantResult(t, other, 1)
	caller.none()
}

// TestRouterCallsNotLimited checks that the router's own calls (to dynamic
// authenticators and authorizers) are not refused by the limit of calls
// in flight: a burst of HELLOs must not fail authentications.
func TestRouterCallsNotLimited(t *testing.T) {
	const limit = 2
	r := newLimitedRouter(t, SessionLimits{CallsInFlight: limit})
	callee := joinRPC(t, r)
	register(t, callee, 1, "com.authenticate", nil)
	results := make(chan auth.CallResult, 2*limit)
	var invs []*wamp.Invocation
	for range 2 * limit {
		r.Call("realm1", "com.authenticate", nil, nil, time.Minute, func(res auth.CallResult) { results <- res })
		invs = append(invs, wantInvocation(t, callee))
	}
	for _, inv := range invs {
		callee.s.Receive(&wamp.Yield{Request: inv.Request})
	}
	for range invs {
		if res := <-results; res.Err != nil {
			t.Fatalf("router-side call: %v", res.Err)
		}
	}
}

func TestSessionLimitDefaults(t *testing.T) {
	r := newLimitedRouter(t, SessionLimits{Registrations: 5})
	want := SessionLimits{Subscriptions: DefaultMaxSubscriptions, Registrations: 5, CallsInFlight: DefaultMaxCallsInFlight}
	if r.cfg.Limits != want {
		t.Fatalf("limits %+v, want %+v", r.cfg.Limits, want)
	}
}
