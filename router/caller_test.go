package router

import (
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestRouterCallTimeoutForgetsTheCall checks that a router-side call
// whose callee never answers (a dynamic authenticator that hangs) leaves
// nothing behind once it times out: the dealer forgets the call at both
// ends, the callee is told with INTERRUPT, the client is refused, and the
// callee's late answer goes nowhere.
func TestRouterCallTimeoutForgetsTheCall(t *testing.T) {
	r, _ := authRouter(t, &auth.Dynamic{Realm: "auth", Procedure: "com.example.authenticate", Timeout: 20 * time.Millisecond}, nil)
	authenticator := attachPipe(t, r, codec.CBOR)
	authenticator.s.Receive(&wamp.Hello{Realm: "auth", Details: helloWith("call_canceling")})
	wantWelcome(t, authenticator)
	register(t, authenticator, 1, "com.example.authenticate", nil)

	p := ticketLogin(t, r, "alice", "alice-ticket")
	inv, _ := recvInvocation(t, authenticator)
	// No answer: the client is refused once the call times out...
	wantAuthAbort(t, p, wamp.ErrAuthenticationFailed)
	// ...and by then the dealer has forgotten the call.
	wantInterrupt(t, authenticator, inv.Request, "killnowait")
	internal := r.realms.get("auth").caller()
	internal.session.mu.Lock()
	calls := len(internal.session.rpc.calls)
	internal.session.mu.Unlock()
	authenticator.s.mu.Lock()
	invs := len(authenticator.s.invocations)
	authenticator.s.mu.Unlock()
	internal.mu.Lock()
	pending := len(internal.pending)
	internal.mu.Unlock()
	if calls != 0 || invs != 0 || pending != 0 {
		t.Fatalf("after the timeout: %d calls of the router's caller, %d invocations of the callee, %d pending, want none", calls, invs, pending)
	}

	// The late answer is dropped; the authenticator's session goes on: it
	// is asked about the next login, which times out in its turn (an
	// answer would race the 20ms timeout on a loaded machine).
	authenticator.s.Receive(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{map[string]any{"role": "public"}}}})
	authenticator.none()
	if authenticator.closed() {
		t.Fatal("the late YIELD ended the authenticator's session")
	}
	q := ticketLogin(t, r, "bob", "bob-ticket")
	inv, _ = recvInvocation(t, authenticator)
	wantAuthAbort(t, q, wamp.ErrAuthenticationFailed)
	wantInterrupt(t, authenticator, inv.Request, "killnowait")
}
