package auth

import (
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

func allow(as ...Action) Allow {
	var a Allow
	for _, x := range as {
		a = a.With(x)
	}
	return a
}

func mustRoles(t *testing.T, roles ...*Role) *Roles {
	t.Helper()
	rs, err := NewRoles(roles)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestRules(t *testing.T) {
	rs := mustRoles(t,
		&Role{Name: "backend", Permissions: []Permission{{URI: "*", Allow: AllowAll}}},
		&Role{Name: "device", Permissions: []Permission{
			{URI: "device.{authid}.", Match: wamp.MatchPrefix, Allow: allow(ActionRegister, ActionPublish)},
		}},
		&Role{Name: "public", Permissions: []Permission{
			{URI: "public.", Match: wamp.MatchPrefix, Allow: allow(ActionSubscribe, ActionCall)},
			{URI: "public.secret", Match: wamp.MatchExact, Allow: 0},
			{URI: "public..admin", Match: wamp.MatchWildcard, Allow: 0},
			{URI: "other..news", Match: wamp.MatchWildcard, Allow: allow(ActionSubscribe)},
		}},
	)
	type check struct {
		role, authid string
		a            Action
		uri          wamp.URI
		m            wamp.Match
		want         bool
	}
	for _, c := range []check{
		{"backend", "b", ActionRegister, "anything.at.all", wamp.MatchExact, true},
		{"backend", "b", ActionSubscribe, "a.", wamp.MatchPrefix, true},
		{"device", "device-1", ActionRegister, "device.device-1.reboot", wamp.MatchExact, true},
		{"device", "device-1", ActionPublish, "device.device-1.temp", wamp.MatchExact, true},
		{"device", "device-1", ActionCall, "device.device-1.reboot", wamp.MatchExact, false},
		{"device", "device-1", ActionRegister, "device.device-2.reboot", wamp.MatchExact, false},
		{"device", "device-1", ActionRegister, "device.device-1", wamp.MatchExact, false},
		// An authid with a dot must not reach into another namespace.
		{"device", "device-1.x", ActionPublish, "device.device-1.x.temp", wamp.MatchExact, false},
		{"public", "p", ActionSubscribe, "public.news", wamp.MatchExact, true},
		{"public", "p", ActionCall, "public.time", wamp.MatchExact, true},
		{"public", "p", ActionPublish, "public.news", wamp.MatchExact, false},
		{"public", "p", ActionRegister, "public.time", wamp.MatchExact, false},
		{"public", "p", ActionSubscribe, "private.news", wamp.MatchExact, false},
		{"public", "p", ActionCall, "public.secret", wamp.MatchExact, false},    // exact beats prefix
		{"public", "p", ActionCall, "public.x.admin", wamp.MatchExact, true},    // prefix beats wildcard
		{"public", "p", ActionSubscribe, "other.x.news", wamp.MatchExact, true}, // wildcard
		{"public", "p", ActionSubscribe, "wamp.session.on_join", wamp.MatchExact, false},
		// Patterns: allowed only when one rule covers them all and no more
		// specific rule denies a URI in them.
		{"public", "p", ActionSubscribe, "public.sports.", wamp.MatchPrefix, true},
		{"public", "p", ActionSubscribe, "public.", wamp.MatchPrefix, false}, // public.secret is inside
		{"public", "p", ActionSubscribe, "public", wamp.MatchPrefix, false},  // also matches "public"
		{"public", "p", ActionSubscribe, "public.sports..score", wamp.MatchWildcard, true},
		{"public", "p", ActionSubscribe, "..news", wamp.MatchWildcard, false},
		{"nobody", "n", ActionCall, "public.time", wamp.MatchExact, false},
	} {
		sa := rs.ForSession(&Subject{Realm: "r", AuthID: c.authid, AuthRole: c.role}, nil)
		d, pending := sa.Authorize(c.a, c.uri, c.m, nil, nil)
		if pending || d.Allowed != c.want {
			t.Errorf("%s (%s) %s %s %q: allowed %v pending %v, want %v", c.role, c.authid, c.a, c.m, c.uri, d.Allowed, pending, c.want)
		}
	}
	if _, err := NewRoles([]*Role{{Name: "x", Permissions: []Permission{{URI: "a..b", Match: wamp.MatchExact}}}}); err == nil {
		t.Error("an invalid exact pattern was accepted")
	}
}

// fakeCaller answers calls with answer, on a goroutine of its own, and
// counts them.
type fakeCaller struct {
	mu     sync.Mutex
	calls  []wamp.List
	realms []string
	answer func(proc string, args wamp.List) CallResult
}

func (f *fakeCaller) Call(realm, proc string, args wamp.List, _ wamp.Dict, _ time.Duration, done func(CallResult)) {
	f.mu.Lock()
	f.calls = append(f.calls, args)
	f.realms = append(f.realms, realm)
	f.mu.Unlock()
	go done(f.answer(proc, args))
}

func (f *fakeCaller) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func TestDynamicAuthorizer(t *testing.T) {
	now := time.Unix(1000, 0)
	da := &DynamicAuthorizer{Realm: "auth", Procedure: "com.example.authorize", CacheTTL: time.Minute, now: func() time.Time { return now }}
	rs := mustRoles(t, &Role{Name: "browser", Authorizer: da})
	fc := &fakeCaller{answer: func(_ string, args wamp.List) CallResult {
		uri := args[1].(string)
		if uri == "app.broken" {
			return CallResult{Err: &CallError{URI: "app.error"}}
		}
		return CallResult{Args: wamp.List{map[string]any{"allow": uri == "app.ok"}}}
	}}
	sa := rs.ForSession(&Subject{Realm: "app", AuthID: "ann", AuthRole: "browser"}, fc)
	ask := func(uri wamp.URI) Decision {
		t.Helper()
		ch := make(chan Decision, 1)
		if d, pending := sa.Authorize(ActionCall, uri, wamp.MatchExact, nil, func(d Decision) { ch <- d }); !pending {
			return d
		}
		return <-ch
	}
	// pending the first time: ask again with a done func.
	ch := make(chan Decision, 1)
	if _, pending := sa.Authorize(ActionCall, "app.ok", wamp.MatchExact, nil, func(d Decision) { ch <- d }); !pending {
		t.Fatal("first decision was not pending")
	}
	if d := <-ch; !d.Allowed {
		t.Fatalf("app.ok denied: %+v", d)
	}
	if d, pending := sa.Authorize(ActionCall, "app.ok", wamp.MatchExact, nil, nil); pending || !d.Allowed {
		t.Errorf("cached: %+v pending %v", d, pending)
	}
	if d := ask("app.no"); d.Allowed {
		t.Error("app.no allowed")
	}
	if d := ask("app.broken"); d.Allowed || d.Reason == "" {
		t.Errorf("an ERROR answer: %+v", d)
	}
	n := fc.count()
	ask("app.broken") // errors are not cached
	if fc.count() != n+1 {
		t.Error("an error answer was cached")
	}
	now = now.Add(2 * time.Minute)
	ask("app.ok")
	if fc.count() != n+2 {
		t.Error("an expired answer was used")
	}
	if fc.realms[0] != "auth" {
		t.Errorf("called in realm %q", fc.realms[0])
	}
	args := fc.calls[0]
	if sess, ok := args[0].(wamp.Dict); !ok || sess["authid"] != "ann" || args[2] != "call" {
		t.Errorf("called with %v", args)
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := &Throttle{Free: 2, Base: time.Second, Max: 4 * time.Second, Window: time.Minute, Entries: 3, now: func() time.Time { return now }}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range want {
		if d := th.Delay("10.0.0.1:5555"); d != w {
			t.Errorf("after %d failures: delay %v, want %v", i, d, w)
		}
		th.Failed("10.0.0.1:" + string(rune('0'+i)))
	}
	if d := th.Delay("10.0.0.2:1"); d != 0 {
		t.Errorf("another address is delayed %v", d)
	}
	now = now.Add(2 * time.Minute)
	if d := th.Delay("10.0.0.1:1"); d != 0 {
		t.Errorf("old failures still delay %v", d)
	}
	for i := range 10 {
		th.Failed("192.0.2." + string(rune('0'+i)) + ":1")
	}
	if th.Len() != 3 {
		t.Errorf("remembers %d addresses, want the bound, 3", th.Len())
	}
	// The bound drops the address that failed longest ago, not one that
	// keeps failing.
	for range 3 {
		th.Failed("198.51.100.1:1")
		th.Failed("192.0.2.9:1") // and another newcomer each time
	}
	if d := th.Delay("198.51.100.1:2"); d != 2*time.Second {
		t.Errorf("an address failing all along is delayed %v, want 2s", d)
	}
	if n := th.Delayed(); n != 5 {
		t.Errorf("%d attempts counted as delayed, want 5", n)
	}
}

func TestCookies(t *testing.T) {
	now := time.Unix(0, 0)
	c := &Cookies{Max: 2, TTL: time.Hour, now: func() time.Time { return now }}
	id := &Identity{AuthID: "ann", AuthRole: "user", AuthMethod: "ticket", AuthExtra: wamp.Dict{"x": 1}}
	c.Remember("c1", "r", id)
	got, ok := c.Lookup("c1", "r")
	if !ok || got.AuthID != "ann" || got.AuthExtra != nil {
		t.Fatalf("Lookup = %+v, %v", got, ok)
	}
	if _, ok := c.Lookup("c1", "other"); ok {
		t.Error("a cookie authenticates in another realm")
	}
	now = now.Add(time.Minute)
	c.Remember("c2", "r", id)
	c.Remember("c3", "r", id)
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if _, ok := c.Lookup("c1", "r"); ok {
		t.Error("the entry expiring first was not evicted")
	}
	now = now.Add(2 * time.Hour)
	if _, ok := c.Lookup("c3", "r"); ok {
		t.Error("an expired cookie authenticates")
	}
	a := &CookieAuth{Store: c}
	c.Remember("c4", "r", id)
	got, err := a.AuthenticateNow(&Request{Realm: "r", Transport: &Transport{Cookie: "c4"}})
	if err != nil || got.AuthMethod != MethodCookie || got.AuthID != "ann" {
		t.Errorf("cookie login: %+v %v", got, err)
	}
}

func TestDynamicAuthenticator(t *testing.T) {
	d := &Dynamic{Procedure: "com.example.authenticate"}
	fc := &fakeCaller{answer: func(_ string, args wamp.List) CallResult {
		details := args[2].(wamp.Dict)
		switch {
		case details["ticket"] == "good":
			return CallResult{Args: wamp.List{map[string]any{"role": "user", "extra": map[string]any{"greeting": "hi"}}}}
		case details["ticket"] == "role-only":
			return CallResult{Args: wamp.List{"guest"}}
		}
		return CallResult{Err: &CallError{URI: wamp.ErrNotAuthorized, Args: wamp.List{"go away"}}}
	}}
	a, err := d.Authenticator(MethodTicket)
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Realm: "app", AuthID: "ann", Method: MethodTicket, Caller: fc, Transport: &Transport{Kind: "websocket"}}
	id, err := a.Authenticate(t.Context(), req, constant("good"))
	if err != nil || id.AuthRole != "user" || id.AuthProvider != "dynamic" || id.AuthExtra["greeting"] != "hi" {
		t.Fatalf("good: %+v %v", id, err)
	}
	if fc.realms[0] != "app" || fc.calls[0][0] != "app" || fc.calls[0][1] != "ann" {
		t.Errorf("called with %v in %s", fc.calls[0], fc.realms[0])
	}
	if id, err := a.Authenticate(t.Context(), req, constant("role-only")); err != nil || id.AuthRole != "guest" {
		t.Errorf("role only: %+v %v", id, err)
	}
	_, err = a.Authenticate(t.Context(), req, constant("bad"))
	wantFailure(t, err, wamp.ErrNotAuthorized, "go away")

	// Dynamic cryptosign: the procedure names the role for the key.
	pub, priv, _ := ed25519GenerateKey()
	cs, _ := d.Authenticator(MethodCryptosign)
	fc.answer = func(string, wamp.List) CallResult {
		return CallResult{Args: wamp.List{map[string]any{"role": "device"}}}
	}
	creq := &Request{Realm: "app", Method: MethodCryptosign, Caller: fc, AuthExtra: wamp.Dict{"pubkey": pub}}
	id, err = cs.Authenticate(t.Context(), creq, &scripted{answer: func(e wamp.Dict) string {
		s, _ := SignCryptosignChallenge(priv, e["challenge"].(string), nil)
		return s
	}})
	if err != nil || id.AuthID != pub || id.AuthRole != "device" {
		t.Errorf("dynamic cryptosign: %+v %v", id, err)
	}
}

func TestPolicyRemembersCookies(t *testing.T) {
	c := &Cookies{Max: 10, TTL: time.Hour}
	p := &Policy{Cookies: c}
	req := &Request{Realm: "r", Transport: &Transport{Cookie: "c1", CookieIssued: true}}
	p.Succeeded(req, &Identity{AuthID: "anonymous-1", AuthRole: "public", AuthMethod: MethodAnonymous})
	if c.Len() != 0 {
		t.Error("an anonymous login was remembered")
	}
	p.Succeeded(req, &Identity{AuthID: "joe", AuthRole: "user", AuthMethod: MethodTicket})
	if id, ok := c.Lookup("c1", "r"); !ok || id.AuthID != "joe" {
		t.Errorf("a ticket login was not remembered: %+v", id)
	}

	// A cookie the connection brought along (not issued to it) is taken
	// only when it already remembers the same identity: a value planted
	// by someone else is never tied to this login.
	planted := &Request{Realm: "r", Transport: &Transport{Cookie: "c2"}}
	p.Succeeded(planted, &Identity{AuthID: "joe", AuthRole: "user", AuthMethod: MethodTicket})
	if _, ok := c.Lookup("c2", "r"); ok {
		t.Error("a login was remembered under a cookie the connection did not get from the router")
	}
	again := &Request{Realm: "r", Transport: &Transport{Cookie: "c1"}}
	p.Succeeded(again, &Identity{AuthID: "mallory", AuthRole: "user", AuthMethod: MethodTicket})
	if id, _ := c.Lookup("c1", "r"); id == nil || id.AuthID != "joe" {
		t.Errorf("another login took over joe's cookie: %+v", id)
	}
	p.Succeeded(again, &Identity{AuthID: "joe", AuthRole: "user", AuthMethod: MethodTicket})
	if id, _ := c.Lookup("c1", "r"); id == nil || id.AuthID != "joe" {
		t.Errorf("joe's own login with his cookie: %+v", id)
	}
}
