package router

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Helpers shared by the dealer's tests.

// allFeatures is every RPC feature a client may announce.
var allFeatures = []string{
	"progressive_call_results", "progressive_call_invocations", "call_timeout", "call_canceling",
	"caller_identification", "call_trustlevels", "pattern_based_registration", "shared_registration",
	"sharded_registration", "registration_revocation", "payload_passthru_mode",
}

// helloWith is HELLO.Details announcing every role, the caller and callee
// roles with features.
func helloWith(features ...string) wamp.Dict {
	f := wamp.Dict{}
	for _, n := range features {
		f[n] = true
	}
	return wamp.Dict{"roles": wamp.Dict{
		"publisher": wamp.Dict{}, "subscriber": wamp.Dict{},
		"caller": wamp.Dict{"features": f}, "callee": wamp.Dict{"features": f},
	}}
}

// newRealmRouter returns a router whose realm1 has the settings of rc.
func newRealmRouter(t *testing.T, rc RealmConfig) *Router {
	t.Helper()
	rc.Name, rc.Anonymous = "realm1", true
	r, err := New(Config{Realms: []RealmConfig{rc}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// joinRPC joins realm1 announcing features (JSON).
func joinRPC(t *testing.T, r *Router, features ...string) *pipe {
	t.Helper()
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(&wamp.Hello{Realm: "realm1", Details: helloWith(features...)})
	if w, ok := p.recv().(*wamp.Welcome); !ok {
		t.Fatalf("want WELCOME, got %+v", w)
	}
	return p
}

// register registers procedure with options and returns the registration id.
func register(t *testing.T, p *pipe, req wamp.ID, procedure wamp.URI, options wamp.Dict) wamp.ID {
	t.Helper()
	p.s.Receive(&wamp.Register{Request: req, Procedure: procedure, Options: options})
	m := p.recv()
	reg, ok := m.(*wamp.Registered)
	if !ok || reg.Request != req {
		t.Fatalf("REGISTER %s %v: want REGISTERED %d, got %T %+v", procedure, options, req, m, m)
	}
	return reg.Registration
}

func wantInvocation(t *testing.T, p *pipe) *wamp.Invocation {
	t.Helper()
	m := p.recv()
	inv, ok := m.(*wamp.Invocation)
	if !ok {
		t.Fatalf("want INVOCATION, got %T %+v", m, m)
	}
	return inv
}

func wantResult(t *testing.T, p *pipe, req wamp.ID) *wamp.Result {
	t.Helper()
	m := p.recv()
	res, ok := m.(*wamp.Result)
	if !ok || res.Request != req {
		t.Fatalf("want RESULT %d, got %T %+v", req, m, m)
	}
	return res
}

func wantInterrupt(t *testing.T, p *pipe, req wamp.ID, mode string) *wamp.Interrupt {
	t.Helper()
	m := p.recv()
	in, ok := m.(*wamp.Interrupt)
	if !ok || in.Request != req || in.Options["mode"] != mode {
		t.Fatalf("want INTERRUPT %d mode %s, got %T %+v", req, mode, m, m)
	}
	return in
}

// invoke sends CALL and returns the INVOCATION it caused at callee.
func invoke(t *testing.T, caller, callee *pipe, req wamp.ID, procedure wamp.URI, options wamp.Dict, args ...any) *wamp.Invocation {
	t.Helper()
	caller.s.Receive(&wamp.Call{Request: req, Procedure: procedure, Options: options, Payload: wamp.Payload{Args: args}})
	return wantInvocation(t, callee)
}

func firstArg(t *testing.T, p *wamp.Payload) any {
	t.Helper()
	l := decodeList(t, p)
	if len(l) == 0 {
		t.Fatal("no arguments")
	}
	return l[0]
}

// testInt reads an integer as decoded messages hold it, or as decodeList
// leaves it nested (a json.Number).
func testInt(v any) (int64, bool) {
	if jn, isJSON := v.(json.Number); isJSON {
		n, err := jn.Int64()
		return n, err == nil
	}
	return wamp.AsInt(v)
}

// num converts what a decoded message holds for an integer to int64.
func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := testInt(v)
	if !ok {
		t.Fatalf("%v (%T) is not an integer", v, v)
	}
	return n
}

func TestPatternBasedRegistration(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := joinRPC(t, r, allFeatures...)
	caller := joinRPC(t, r, allFeatures...)

	// The specification's example registrations and calls.
	regs := []struct {
		proc  wamp.URI
		match string
	}{
		{"a1.b2.c3.d4.e55", "exact"},
		{"a1.b2.c3", "prefix"},
		{"a1.b2.c3.d4", "prefix"},
		{"a1.b2..d4.e5", "wildcard"},
		{"a1.b2.c33..e5", "wildcard"},
		{"a1.b2..d4.e5..g7", "wildcard"},
		{"a1.b2..d4..f6.g7", "wildcard"},
	}
	ids := make([]wamp.ID, len(regs))
	for i, reg := range regs {
		ids[i] = register(t, callee, wamp.ID(i+1), reg.proc, wamp.Dict{"match": reg.match})
	}
	cases := []struct {
		uri  wamp.URI
		want int // index in regs, -1 for no_such_procedure
	}{
		{"a1.b2.c3.d4.e55", 0},
		{"a1.b2.c3.d98.e74", 1},
		{"a1.b2.c3.d4.e325", 2},
		{"a1.b2.c55.d4.e5", 3},
		// The spec's example routes this to 5 (a1.b2.c33..e5), as if
		// prefixes matched whole components; both pattern sections define
		// prefix matching on strings (Crossbar.io agrees), so the prefix
		// a1.b2.c3 wins (see wamp/pattern_test.go).
		{"a1.b2.c33.d4.e5", 1},
		{"a1.b2.c88.d4.e5.f6.g7", 5},
		{"a2.b2.c2.d2.e2", -1},
	}
	for i, tc := range cases {
		req := wamp.ID(100 + i)
		if tc.want < 0 {
			caller.s.Receive(&wamp.Call{Request: req, Procedure: tc.uri})
			wantError(t, caller, wamp.TypeCall, req, wamp.ErrNoSuchProcedure)
			continue
		}
		inv := invoke(t, caller, callee, req, tc.uri, nil)
		if inv.Registration != ids[tc.want] {
			t.Errorf("%s: routed to registration %d, want %d (%s)", tc.uri, inv.Registration, ids[tc.want], regs[tc.want].proc)
		}
		proc, has := inv.Details["procedure"]
		if tc.want == 0 && has {
			t.Errorf("%s: exact registration got Details.procedure %v", tc.uri, proc)
		}
		if tc.want > 0 && proc != string(tc.uri) {
			t.Errorf("%s: Details.procedure = %v, want the called URI", tc.uri, proc)
		}
		callee.s.Receive(&wamp.Yield{Request: inv.Request})
		wantResult(t, caller, req)
	}

	// The same pattern under two policies is two registrations.
	other := register(t, callee, 50, "a1.b2.c3.d4.e55", wamp.Dict{"match": "prefix"})
	if other == ids[0] {
		t.Fatal("prefix and exact registrations of one URI share an id")
	}
	// Invalid patterns and policies.
	callee.s.Receive(&wamp.Register{Request: 51, Procedure: "a..b", Options: wamp.Dict{"match": "prefix"}})
	wantError(t, callee, wamp.TypeRegister, 51, wamp.ErrInvalidURI)
	callee.s.Receive(&wamp.Register{Request: 52, Procedure: "a..b"})
	wantError(t, callee, wamp.TypeRegister, 52, wamp.ErrInvalidURI)
	callee.s.Receive(&wamp.Register{Request: 53, Procedure: "a.b", Options: wamp.Dict{"match": "regex"}})
	wantError(t, callee, wamp.TypeRegister, 53, wamp.ErrInvalidArgument)
	// A prefix ending in "." matches what starts with it.
	dot := register(t, callee, 54, "x.y.", wamp.Dict{"match": "prefix"})
	if inv := invoke(t, caller, callee, 55, "x.y.z", nil); inv.Registration != dot {
		t.Fatalf("x.y.z routed to %d, want %d", inv.Registration, dot)
	}
}

func TestSharedRegistration(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := joinRPC(t, r, allFeatures...)
	callees := make([]*pipe, 3)
	for i := range callees {
		callees[i] = joinRPC(t, r, allFeatures...)
	}
	// which calls procedure n times and returns the index of the callee of
	// each call.
	which := func(procedure wamp.URI, n int) []int {
		t.Helper()
		var got []int
		for range n {
			caller.s.Receive(&wamp.Call{Request: caller.s.reqIDs.Next(), Procedure: procedure})
			found := false
			for i, c := range callees {
				select {
				case m := <-c.out:
					inv := m.(*wamp.Invocation)
					c.s.Receive(&wamp.Yield{Request: inv.Request})
					caller.recv()
					got = append(got, i)
					found = true
				default:
				}
			}
			if !found {
				t.Fatalf("call to %s reached no callee", procedure)
			}
		}
		return got
	}
	for _, policy := range []string{"roundrobin", "random", "first", "last"} {
		t.Run(policy, func(t *testing.T) {
			proc := wamp.URI("com.shared." + policy)
			var id wamp.ID
			for i, c := range callees {
				got := register(t, c, 1, proc, wamp.Dict{"invoke": policy})
				if i > 0 && got != id {
					t.Fatalf("callee %d got registration %d, want the shared %d", i, got, id)
				}
				id = got
			}
			got := which(proc, 6)
			switch policy {
			case "roundrobin":
				if fmt.Sprint(got) != "[0 1 2 0 1 2]" {
					t.Fatalf("roundrobin order %v", got)
				}
			case "first":
				if fmt.Sprint(got) != "[0 0 0 0 0 0]" {
					t.Fatalf("first: %v", got)
				}
			case "last":
				if fmt.Sprint(got) != "[2 2 2 2 2 2]" {
					t.Fatalf("last: %v", got)
				}
			}
			// Another policy, or single, is refused; so is the same session twice.
			callees[0].s.Receive(&wamp.Register{Request: 2, Procedure: proc, Options: wamp.Dict{"invoke": "single"}})
			wantError(t, callees[0], wamp.TypeRegister, 2, wamp.ErrProcedureAlreadyExists)
			other := "first"
			if policy == "first" {
				other = "last"
			}
			caller.s.Receive(&wamp.Register{Request: 3, Procedure: proc, Options: wamp.Dict{"invoke": other}})
			wantError(t, caller, wamp.TypeRegister, 3, wamp.ErrProcedureAlreadyExists)
			callees[1].s.Receive(&wamp.Register{Request: 4, Procedure: proc, Options: wamp.Dict{"invoke": policy}})
			wantError(t, callees[1], wamp.TypeRegister, 4, wamp.ErrProcedureAlreadyExists)

			// The first callee leaves the registration: the others stay on it.
			callees[0].s.Receive(&wamp.Unregister{Request: 5, Registration: id})
			callees[0].recv()
			for _, i := range which(proc, 4) {
				if i == 0 {
					t.Fatal("call routed to a callee that unregistered")
				}
			}
			if policy == "first" {
				if got := which(proc, 1); got[0] != 1 {
					t.Fatalf("first after the first left: %v", got)
				}
			}
			for _, c := range callees[1:] {
				c.s.Receive(&wamp.Unregister{Request: 6, Registration: id})
				c.recv()
			}
			caller.s.Receive(&wamp.Call{Request: 7, Procedure: proc})
			wantError(t, caller, wamp.TypeCall, 7, wamp.ErrNoSuchProcedure)
		})
	}
	t.Run("single", func(t *testing.T) {
		register(t, callees[0], 1, "com.single", nil)
		callees[1].s.Receive(&wamp.Register{Request: 2, Procedure: "com.single", Options: wamp.Dict{"invoke": "single"}})
		wantError(t, callees[1], wamp.TypeRegister, 2, wamp.ErrProcedureAlreadyExists)
		callees[1].s.Receive(&wamp.Register{Request: 3, Procedure: "com.single", Options: wamp.Dict{"invoke": "roundrobin"}})
		wantError(t, callees[1], wamp.TypeRegister, 3, wamp.ErrProcedureAlreadyExists)
	})
}

func TestShardedRegistration(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := joinRPC(t, r, allFeatures...)
	callees := make([]*pipe, 4)
	for i := range callees {
		callees[i] = joinRPC(t, r, allFeatures...)
		register(t, callees[i], 1, "com.db.get", wamp.Dict{"invoke": "roundrobin", "nkey": fmt.Sprintf("node%d", i)})
	}
	shardOf := func(rkey string) int {
		t.Helper()
		req := caller.s.reqIDs.Next()
		caller.s.Receive(&wamp.Call{Request: req, Procedure: "com.db.get", Options: wamp.Dict{"runmode": "partition", "rkey": rkey}})
		for i, c := range callees {
			select {
			case m := <-c.out:
				c.s.Receive(&wamp.Yield{Request: m.(*wamp.Invocation).Request})
				wantResult(t, caller, req)
				return i
			default:
			}
		}
		t.Fatalf("call with rkey %s reached no callee", rkey)
		return -1
	}
	shards := map[string]int{}
	used := map[int]bool{}
	for i := range 40 {
		key := fmt.Sprintf("sn%d", i)
		shards[key] = shardOf(key)
		used[shards[key]] = true
	}
	if len(used) < 2 {
		t.Fatalf("40 keys all went to one shard: %v", shards)
	}
	// Stable: the same key reaches the same callee, whatever roundrobin does.
	for key, want := range shards {
		if got := shardOf(key); got != want {
			t.Fatalf("rkey %s went to %d, then %d", key, want, got)
		}
	}
	// A callee leaves: only its keys move.
	gone := shards["sn0"]
	callees[gone].s.Detach()
	for key, was := range shards {
		got := shardOf(key)
		if was != gone && got != was {
			t.Fatalf("rkey %s moved from %d to %d though its callee stayed", key, was, got)
		}
		if got == gone {
			t.Fatalf("rkey %s routed to the callee that left", key)
		}
	}

	bad := []struct {
		opts wamp.Dict
		uri  wamp.URI
	}{
		{wamp.Dict{"runmode": "partition"}, wamp.ErrInvalidArgument},
		{wamp.Dict{"runmode": "partition", "rkey": ""}, wamp.ErrInvalidArgument},
		{wamp.Dict{"runmode": "partition", "rkey": 5}, wamp.ErrInvalidArgument},
		{wamp.Dict{"rkey": "x"}, wamp.ErrInvalidArgument},
		{wamp.Dict{"runmode": "sometimes", "rkey": "x"}, wamp.ErrInvalidArgument},
		{wamp.Dict{"runmode": "all"}, wamp.ErrOptionNotAllowed},
	}
	for i, b := range bad {
		req := wamp.ID(1000 + i)
		caller.s.Receive(&wamp.Call{Request: req, Procedure: "com.db.get", Options: b.opts})
		wantError(t, caller, wamp.TypeCall, req, b.uri)
	}
	callees[0].s.Receive(&wamp.Register{Request: 9, Procedure: "com.x", Options: wamp.Dict{"nkey": 7}})
	wantError(t, callees[0], wamp.TypeRegister, 9, wamp.ErrInvalidArgument)
}

func TestCallerIdentification(t *testing.T) {
	t.Run("on request", func(t *testing.T) {
		r := newRealmRouter(t, RealmConfig{})
		callee := joinRPC(t, r, allFeatures...)
		caller := joinRPC(t, r, allFeatures...)
		register(t, callee, 1, "com.p", nil)
		inv := invoke(t, caller, callee, 1, "com.p", nil)
		if _, ok := inv.Details["caller"]; ok {
			t.Fatalf("caller disclosed without asking: %v", inv.Details)
		}
		callee.s.Receive(&wamp.Yield{Request: inv.Request})
		caller.recv()
		inv = invoke(t, caller, callee, 2, "com.p", wamp.Dict{"disclose_me": true})
		if num(t, inv.Details["caller"]) != int64(caller.s.ID()) || inv.Details["caller_authid"] != caller.s.authid ||
			inv.Details["caller_authrole"] != "anonymous" {
			t.Fatalf("details %v", inv.Details)
		}
		// The callee asks for it.
		register(t, callee, 2, "com.q", wamp.Dict{"disclose_caller": true})
		inv = invoke(t, caller, callee, 3, "com.q", nil)
		if num(t, inv.Details["caller"]) != int64(caller.s.ID()) {
			t.Fatalf("disclose_caller: details %v", inv.Details)
		}
	})
	t.Run("always", func(t *testing.T) {
		r := newRealmRouter(t, RealmConfig{DiscloseCaller: DiscloseAlways})
		callee := joinRPC(t, r)
		caller := joinRPC(t, r)
		register(t, callee, 1, "com.p", nil)
		inv := invoke(t, caller, callee, 1, "com.p", nil)
		if num(t, inv.Details["caller"]) != int64(caller.s.ID()) {
			t.Fatalf("details %v", inv.Details)
		}
	})
	t.Run("never", func(t *testing.T) {
		r := newRealmRouter(t, RealmConfig{DiscloseCaller: DiscloseNever})
		callee := joinRPC(t, r)
		caller := joinRPC(t, r)
		register(t, callee, 1, "com.p", nil)
		caller.s.Receive(&wamp.Call{Request: 1, Procedure: "com.p", Options: wamp.Dict{"disclose_me": true}})
		wantError(t, caller, wamp.TypeCall, 1, wamp.ErrDiscloseMeDisallowed)
		inv := invoke(t, caller, callee, 2, "com.p", wamp.Dict{"disclose_me": false})
		if _, ok := inv.Details["caller"]; ok {
			t.Fatalf("disclosed: %v", inv.Details)
		}
		callee.s.Receive(&wamp.Register{Request: 2, Procedure: "com.q", Options: wamp.Dict{"disclose_caller": true}})
		wantError(t, callee, wamp.TypeRegister, 2, wamp.ErrOptionNotAllowed)
	})
}

func TestCallTrustLevels(t *testing.T) {
	r := newRealmRouter(t, RealmConfig{TrustLevels: map[string]int{"anonymous": 2}})
	callee := joinRPC(t, r, "call_trustlevels")
	caller := joinRPC(t, r)
	register(t, callee, 1, "com.p", nil)
	inv := invoke(t, caller, callee, 1, "com.p", nil)
	if num(t, inv.Details["trustlevel"]) != 2 {
		t.Fatalf("details %v", inv.Details)
	}

	r = newRealmRouter(t, RealmConfig{TrustLevels: map[string]int{"admin": 9}})
	callee = joinRPC(t, r, "call_trustlevels")
	caller = joinRPC(t, r)
	register(t, callee, 1, "com.p", nil)
	inv = invoke(t, caller, callee, 1, "com.p", nil)
	if _, ok := inv.Details["trustlevel"]; ok {
		t.Fatalf("a role without a level got one: %v", inv.Details)
	}
}

func TestCallOptionErrors(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := joinRPC(t, r, allFeatures...)
	caller := joinRPC(t, r, allFeatures...)
	register(t, callee, 1, "com.p", nil)
	calls := []wamp.Dict{
		{"receive_progress": "yes"},
		{"progress": 1},
		{"disclose_me": "true"},
		{"timeout": -5},
		{"timeout": "10"},
		{"timeout": 1.5},
		{"timeout": float64(1 << 62)},
		{"ppt_scheme": 7},
		{"ppt_scheme": "x", "ppt_cipher": false},
	}
	for i, o := range calls {
		req := wamp.ID(i + 1)
		caller.s.Receive(&wamp.Call{Request: req, Procedure: "com.p", Options: o})
		e := wantError(t, caller, wamp.TypeCall, req, wamp.ErrInvalidArgument)
		if msg, _ := firstArg(t, &e.Payload).(string); msg == "" {
			t.Errorf("%v: no message", o)
		}
	}
	regs := []wamp.Dict{
		{"match": 1},
		{"invoke": "everyone"},
		{"disclose_caller": "no"},
		{"forward_timeout": 0},
	}
	for i, o := range regs {
		req := wamp.ID(i + 1)
		callee.s.Receive(&wamp.Register{Request: req, Procedure: "com.q", Options: o})
		wantError(t, callee, wamp.TypeRegister, req, wamp.ErrInvalidArgument)
	}
	caller.s.Receive(&wamp.Cancel{Request: 1, Options: wamp.Dict{"mode": "gently"}})
	wantError(t, caller, wamp.TypeCancel, 1, wamp.ErrInvalidArgument)
	// Both sessions go on.
	inv := invoke(t, caller, callee, 100, "com.p", nil)
	callee.s.Receive(&wamp.Yield{Request: inv.Request})
	wantResult(t, caller, 100)
}

func TestCallReusingRequestIDIsViolation(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := joinRPC(t, r, allFeatures...)
	for _, features := range [][]string{nil, allFeatures} {
		caller := joinRPC(t, r, features...)
		register(t, callee, caller.s.reqIDs.Next(), wamp.URI(fmt.Sprintf("com.p%d", len(features))), nil)
		invoke(t, caller, callee, 1, wamp.URI(fmt.Sprintf("com.p%d", len(features))), nil)
		caller.s.Receive(&wamp.Call{Request: 1, Procedure: wamp.URI(fmt.Sprintf("com.p%d", len(features)))})
		wantAbort(t, caller, wamp.ErrProtocolViolation)
		// The callee is told the caller is gone.
		m := callee.recv()
		if _, ok := m.(*wamp.Interrupt); !ok {
			t.Fatalf("want INTERRUPT for the call of the aborted caller, got %T %+v", m, m)
		}
	}
}

// TestReservedProceduresRefused: no client registers a wamp.* procedure
// (exactly, by prefix or by wildcard), and a call to a wamp.* procedure
// that is not a meta procedure reaches no callee, whatever pattern it
// registered: the meta API's answers are the router's (meta_api.md), also
// in a realm that serves none.
func TestReservedProceduresRefused(t *testing.T) {
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true, DisableMetaAPI: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	callee := join(t, r, codec.JSON)
	for i, reg := range []struct {
		proc  wamp.URI
		match string
	}{{"wamp.session.count", "exact"}, {"wamp.session.", "prefix"}, {"wamp..count", "wildcard"}, {"wamp", "exact"}} {
		req := wamp.ID(i + 1)
		callee.s.Receive(&wamp.Register{Request: req, Procedure: reg.proc, Options: wamp.Dict{"match": reg.match}})
		wantError(t, callee, wamp.TypeRegister, req, wamp.ErrInvalidURI)
	}
	// A wildcard whose first component matches anything does not reach
	// a wamp.* call either.
	callee.s.Receive(&wamp.Register{Request: 10, Procedure: ".session.count", Options: wamp.Dict{"match": "wildcard"}})
	if _, ok := callee.recv().(*wamp.Registered); !ok {
		t.Fatal("an application wildcard registration was refused")
	}
	caller := join(t, r, codec.JSON)
	callFails(t, caller, 11, "wamp.session.count", nil, nil, wamp.ErrNoSuchProcedure)
	callee.none()
	// The application's own procedures still reach it.
	caller.s.Receive(&wamp.Call{Request: 12, Procedure: "app.session.count", Options: wamp.Dict{}})
	if _, ok := callee.recv().(*wamp.Invocation); !ok {
		t.Fatal("a call matching the wildcard did not reach the callee")
	}
}
