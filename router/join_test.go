package router

import (
	"crypto/ed25519"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// authRouter is a router with realm1 guarded by ticket, cryptosign and
// anonymous (role public) logins and the roles, and realm "auth"
// for trusted components (anonymous, every permission).
func authRouter(t *testing.T, dyn *auth.Dynamic, browser *auth.DynamicAuthorizer) (*Router, ed25519.PrivateKey) {
	t.Helper()
	h, err := auth.NewPasswordHash("ticket-secret", "pbkdf2-sha256", 1000, 0) // cheap, for the test
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	tbl := auth.NewPrincipals([]*auth.Principal{
		{AuthID: "ticket-user", Role: "backend", Ticket: h},
		{AuthID: "device-1", Role: "device", PublicKeys: []ed25519.PublicKey{pub}},
	})
	pol := &auth.Policy{}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: tbl})
	pol.Add(auth.MethodCryptosign, auth.NewCryptosign(tbl))
	pol.Add(auth.MethodAnonymous, &auth.Anonymous{Role: "public"})
	if dyn != nil {
		a, err := dyn.Authenticator(auth.MethodTicket)
		if err != nil {
			t.Fatal(err)
		}
		pol.Add(auth.MethodTicket, a)
	}
	var allow = func(as ...auth.Action) auth.Allow {
		var a auth.Allow
		for _, x := range as {
			a = a.With(x)
		}
		return a
	}
	roles, err := auth.NewRoles([]*auth.Role{
		{Name: "backend", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}, DiscloseCaller: auth.DiscloseAlways},
		{Name: "device", Permissions: []auth.Permission{{URI: "device.{authid}.", Match: wamp.MatchPrefix, Allow: allow(auth.ActionRegister, auth.ActionPublish)}}},
		{Name: "public", Permissions: []auth.Permission{{URI: "public.", Match: wamp.MatchPrefix, Allow: allow(auth.ActionSubscribe, auth.ActionCall)}}},
		{Name: "browser", Authorizer: browser},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Realms: []RealmConfig{
		{Name: "realm1", Auth: pol, Roles: roles, DiscloseCaller: DiscloseNever},
		{Name: "auth", Anonymous: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r, priv
}

func hello(realm wamp.URI, authid string, methods ...any) *wamp.Hello {
	d := wamp.Dict{"roles": allRoles["roles"], "authmethods": wamp.List(methods)}
	if authid != "" {
		d["authid"] = authid
	}
	return &wamp.Hello{Realm: realm, Details: d}
}

func wantAuthAbort(t *testing.T, p *pipe, reason wamp.URI) *wamp.Abort {
	t.Helper()
	m := p.recv()
	a, ok := m.(*wamp.Abort)
	if !ok || a.Reason != reason {
		t.Fatalf("want ABORT %s, got %s %+v", reason, m.Type(), m)
	}
	return a
}

func wantWelcome(t *testing.T, p *pipe) *wamp.Welcome {
	t.Helper()
	m := p.recv()
	w, ok := m.(*wamp.Welcome)
	if !ok {
		t.Fatalf("want WELCOME, got %s %+v", m.Type(), m)
	}
	return w
}

// ticketLogin joins realm1 with a ticket.
func ticketLogin(t *testing.T, r *Router, authid, ticket string) *pipe {
	t.Helper()
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(hello("realm1", authid, "ticket"))
	ch, ok := p.recv().(*wamp.Challenge)
	if !ok || ch.AuthMethod != "ticket" {
		t.Fatalf("want CHALLENGE ticket, got %+v", ch)
	}
	p.s.Receive(&wamp.Authenticate{Signature: ticket, Extra: wamp.Dict{}})
	return p
}

func TestTicketJoin(t *testing.T) {
	r, _ := authRouter(t, nil, nil)
	p := ticketLogin(t, r, "ticket-user", "ticket-secret")
	w := wantWelcome(t, p)
	for k, v := range map[string]string{"authid": "ticket-user", "authrole": "backend", "authmethod": "ticket", "authprovider": "static", "realm": "realm1"} {
		if w.Details[k] != v {
			t.Errorf("WELCOME.Details.%s = %v, want %s", k, w.Details[k], v)
		}
	}
	if c, _ := p.s.disclosure(); c != DiscloseAlways {
		t.Errorf("backend's caller disclosure = %v, want the role's DiscloseAlways", c)
	}
	// The dealer applies the role's setting: the callee learns who called
	// although the caller did not ask.
	reg := register(t, p, 1, "com.example.who", nil)
	p.s.Receive(&wamp.Call{Request: 2, Procedure: "com.example.who"})
	inv := wantInvocation(t, p)
	if caller, _ := wamp.AsUint(inv.Details["caller"]); inv.Registration != reg || caller != uint64(p.s.ID()) || inv.Details["caller_authid"] != "ticket-user" {
		t.Errorf("INVOCATION %+v, want registration %d and the backend caller %d disclosed", inv, reg, p.s.ID())
	}

	bad := ticketLogin(t, r, "ticket-user", "wrong")
	a1 := wantAuthAbort(t, bad, wamp.ErrAuthenticationFailed)
	unknown := ticketLogin(t, r, "nobody", "ticket-secret")
	a2 := wantAuthAbort(t, unknown, wamp.ErrAuthenticationFailed)
	if a1.Details["message"] != a2.Details["message"] {
		t.Errorf("the refusals differ: %v vs %v", a1.Details, a2.Details)
	}
	if !bad.waitClosed() || bad.s.Established() { // the verdict's goroutine closes after its ABORT
		t.Error("the refused session is not closed")
	}

	p = attachPipe(t, r, codec.JSON)
	p.s.Receive(hello("realm1", "x", "wampcra"))
	wantAuthAbort(t, p, wamp.ErrNoAuthMethod)

	p = attachPipe(t, r, codec.JSON)
	p.s.Receive(hello("realm1", ""))
	w = wantWelcome(t, p)
	if w.Details["authrole"] != "public" || w.Details["authmethod"] != "anonymous" {
		t.Errorf("anonymous: %v", w.Details)
	}
	if c, _ := p.s.disclosure(); c != DiscloseNever {
		t.Errorf("public's caller disclosure = %v, want the realm's DiscloseNever", c)
	}
}

func TestJoinViolations(t *testing.T) {
	r, _ := authRouter(t, nil, nil)
	for _, tc := range []struct {
		name string
		run  func(p *pipe)
	}{
		{"AUTHENTICATE before HELLO", func(p *pipe) {
			p.s.Receive(&wamp.Authenticate{Signature: "x"})
		}},
		{"AUTHENTICATE twice", func(p *pipe) {
			p.s.Receive(hello("realm1", "ticket-user", "ticket"))
			p.recv() // CHALLENGE
			p.s.Receive(&wamp.Authenticate{Signature: "wrong"})
			p.s.Receive(&wamp.Authenticate{Signature: "ticket-secret"})
		}},
		{"CALL before WELCOME", func(p *pipe) {
			p.s.Receive(hello("realm1", "ticket-user", "ticket"))
			p.recv() // CHALLENGE
			p.s.Receive(&wamp.Call{Request: 1, Procedure: "a.b"})
		}},
		{"second HELLO", func(p *pipe) {
			p.s.Receive(hello("realm1", "ticket-user", "ticket"))
			p.recv() // CHALLENGE
			p.s.Receive(hello("realm1", "ticket-user", "ticket"))
		}},
		{"malformed cryptosign signature", func(p *pipe) {
			h := hello("realm1", "", "cryptosign")
			h.Details["authextra"] = wamp.Dict{"pubkey": hex.EncodeToString(make([]byte, 32))}
			p.s.Receive(h)
			p.recv() // CHALLENGE
			p.s.Receive(&wamp.Authenticate{Signature: "zz"})
		}},
		{"authmethods not a list", func(p *pipe) {
			h := hello("realm1", "")
			h.Details["authmethods"] = "ticket"
			p.s.Receive(h)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attachPipe(t, r, codec.JSON)
			tc.run(p)
			// The second AUTHENTICATE may race with the failure of the
			// first: either way the session ends with an ABORT.
			m := p.recv()
			a, ok := m.(*wamp.Abort)
			if !ok {
				t.Fatalf("want ABORT, got %s %+v", m.Type(), m)
			}
			if tc.name != "AUTHENTICATE twice" && a.Reason != wamp.ErrProtocolViolation {
				t.Errorf("ABORT %s %v, want protocol_violation", a.Reason, a.Details)
			}
			// An AUTHENTICATE is judged on the login's goroutine, which
			// sends the ABORT and then closes: wait for the close.
			if !p.waitClosed() {
				t.Error("connection not closed")
			}
		})
	}
	// Meanwhile another session is unaffected.
	p := ticketLogin(t, r, "ticket-user", "ticket-secret")
	wantWelcome(t, p)
}

func TestCryptosignJoin(t *testing.T) {
	r, priv := authRouter(t, nil, nil)
	p := attachPipe(t, r, codec.MsgPack)
	h := hello("realm1", "device-1", "cryptosign")
	h.Details["authextra"] = wamp.Dict{"pubkey": hex.EncodeToString(priv.Public().(ed25519.PublicKey))}
	p.s.Receive(h)
	ch := p.recv().(*wamp.Challenge)
	sig, err := auth.SignCryptosignChallenge(priv, ch.Extra["challenge"].(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.s.Receive(&wamp.Authenticate{Signature: sig})
	w := wantWelcome(t, p)
	if w.Details["authid"] != "device-1" || w.Details["authrole"] != "device" {
		t.Fatalf("WELCOME %v", w.Details)
	}

	// device-1 may register and publish in its own namespace only.
	p.s.Receive(&wamp.Register{Request: 1, Procedure: "device.device-1.reboot", Options: wamp.Dict{}})
	if _, ok := p.recv().(*wamp.Registered); !ok {
		t.Error("register in its namespace refused")
	}
	for _, m := range []wamp.Message{
		&wamp.Register{Request: 2, Procedure: "device.device-2.reboot", Options: wamp.Dict{}},
		&wamp.Call{Request: 3, Procedure: "device.device-1.reboot", Options: wamp.Dict{}},
		&wamp.Subscribe{Request: 4, Topic: "device.device-1.temp", Options: wamp.Dict{}},
		&wamp.Publish{Request: 5, Topic: "device.device-2.temp", Options: wamp.Dict{"acknowledge": true}},
		&wamp.Call{Request: 6, Procedure: "wamp.session.count", Options: wamp.Dict{}},
	} {
		p.s.Receive(m)
		e, ok := p.recv().(*wamp.Error)
		if !ok || e.Error != wamp.ErrNotAuthorized {
			t.Errorf("%s: want ERROR not_authorized, got %+v", m.Type(), e)
		}
	}
	p.s.Receive(&wamp.Publish{Request: 7, Topic: "device.device-2.temp", Options: wamp.Dict{}})
	p.s.Receive(&wamp.Publish{Request: 8, Topic: "device.device-1.temp", Options: wamp.Dict{"acknowledge": true}})
	if _, ok := p.recv().(*wamp.Published); !ok {
		t.Error("publish in its namespace refused")
	}
	p.none() // the unacknowledged denied PUBLISH got no answer
}

// authCallee joins realm "auth" and registers proc.
func authCallee(t *testing.T, r *Router, proc wamp.URI) *pipe {
	t.Helper()
	p := attachPipe(t, r, codec.CBOR)
	p.s.Receive(&wamp.Hello{Realm: "auth", Details: allRoles})
	wantWelcome(t, p)
	p.s.Receive(&wamp.Register{Request: 1, Procedure: proc, Options: wamp.Dict{}})
	if _, ok := p.recv().(*wamp.Registered); !ok {
		t.Fatal("REGISTER failed")
	}
	return p
}

func recvInvocation(t *testing.T, p *pipe) (*wamp.Invocation, wamp.List) {
	t.Helper()
	m := p.recv()
	inv, ok := m.(*wamp.Invocation)
	if !ok {
		t.Fatalf("want INVOCATION, got %s %+v", m.Type(), m)
	}
	args, _, err := codec.DecodePayload(&inv.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return inv, args
}

func TestDynamicAuthentication(t *testing.T) {
	r, _ := authRouter(t, &auth.Dynamic{Realm: "auth", Procedure: "com.example.authenticate"}, nil)
	authenticator := authCallee(t, r, "com.example.authenticate")

	p := ticketLogin(t, r, "alice", "alice-ticket")
	inv, args := recvInvocation(t, authenticator)
	details, _ := args[2].(map[string]any)
	if len(args) != 3 || args[0] != "realm1" || args[1] != "alice" || details["ticket"] != "alice-ticket" {
		t.Fatalf("authenticator called with %v", args)
	}
	if tr, _ := details["transport"].(map[string]any); tr["type"] != "test" {
		t.Errorf("details.transport = %v", details["transport"])
	}
	authenticator.s.Receive(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{map[string]any{"role": "public"}}}})
	w := wantWelcome(t, p)
	if w.Details["authid"] != "alice" || w.Details["authrole"] != "public" || w.Details["authprovider"] != "dynamic" {
		t.Errorf("WELCOME %v", w.Details)
	}

	q := ticketLogin(t, r, "mallory", "guess")
	inv, _ = recvInvocation(t, authenticator)
	authenticator.s.Receive(&wamp.Error{RequestType: wamp.TypeInvocation, Request: inv.Request, Error: wamp.ErrNotAuthorized,
		Payload: wamp.Payload{Args: wamp.List{"not you"}}})
	a := wantAuthAbort(t, q, wamp.ErrNotAuthorized)
	if a.Details["message"] != "not you" {
		t.Errorf("ABORT %v", a.Details)
	}

	// The static principal is tried first and needs no call.
	s := ticketLogin(t, r, "ticket-user", "ticket-secret")
	wantWelcome(t, s)
	authenticator.none()
}

func TestDynamicAuthorizationKeepsOrder(t *testing.T) {
	az := &auth.DynamicAuthorizer{Realm: "auth", Procedure: "com.example.authorize"}
	r, _ := authRouter(t, &auth.Dynamic{Realm: "auth", Procedure: "com.example.authenticate"}, az)
	authenticator := authCallee(t, r, "com.example.authenticate")
	authorizer := authCallee(t, r, "com.example.authorize")
	backend := ticketLogin(t, r, "ticket-user", "ticket-secret")
	wantWelcome(t, backend)
	backend.s.Receive(&wamp.Register{Request: 1, Procedure: "app.echo", Options: wamp.Dict{}})
	backend.recv() // REGISTERED

	p := ticketLogin(t, r, "bob", "bob-ticket")
	inv, _ := recvInvocation(t, authenticator)
	authenticator.s.Receive(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{"browser"}}})
	wantWelcome(t, p)

	// Three messages: the first two wait for decisions, the third behind
	// them. Their raw payloads alias a read buffer that the transport
	// reuses as soon as Receive returns, as the real ones do: what is held
	// must be the router's own copy.
	buf := []byte(`["first"]["third"]`)
	p.s.Receive(&wamp.Call{Request: 10, Procedure: "app.echo", Options: wamp.Dict{}, Payload: wamp.Payload{Format: wamp.FormatJSON, RawArgs: buf[:9]}})
	p.s.Receive(&wamp.Call{Request: 11, Procedure: "app.secret", Options: wamp.Dict{}})
	p.s.Receive(&wamp.Call{Request: 12, Procedure: "app.echo", Options: wamp.Dict{}, Payload: wamp.Payload{Format: wamp.FormatJSON, RawArgs: buf[9:]}})
	copy(buf, `["XXXXX"]["YYYYY"]`)

	answer := func(allow bool, wantURI string) {
		t.Helper()
		inv, args := recvInvocation(t, authorizer)
		if args[1] != wantURI || args[2] != "call" {
			t.Fatalf("authorizer asked about %v, want %s", args, wantURI)
		}
		if sess, _ := args[0].(map[string]any); sess["authid"] != "bob" || sess["authrole"] != "browser" {
			t.Errorf("session details %v", args[0])
		}
		authorizer.s.Receive(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{allow}}})
	}
	answer(true, "app.echo")
	first, args := recvInvocation(t, backend)
	if args[0] != "first" {
		t.Fatalf("first invocation %v", args)
	}
	answer(false, "app.secret")
	if e, ok := p.recv().(*wamp.Error); !ok || e.Request != 11 || e.Error != wamp.ErrNotAuthorized {
		t.Fatalf("want ERROR not_authorized for request 11, got %+v", e)
	}
	answer(true, "app.echo")
	third, args := recvInvocation(t, backend)
	if args[0] != "third" {
		t.Fatalf("third invocation %v", args)
	}
	for _, inv := range []*wamp.Invocation{first, third} {
		backend.s.Receive(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{"ok"}}})
	}
	for _, want := range []wamp.ID{10, 12} {
		if res, ok := p.recv().(*wamp.Result); !ok || res.Request != want {
			t.Fatalf("want RESULT %d, got %+v", want, res)
		}
	}
	authorizer.none()
}

func TestRealmTemplate(t *testing.T) {
	r, err := New(Config{RealmTemplate: &RealmConfig{Anonymous: true}})
	if err != nil {
		t.Fatal(err)
	}
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(&wamp.Hello{Realm: "com.example.new", Details: allRoles})
	if w := wantWelcome(t, p); w.Details["realm"] != "com.example.new" {
		t.Errorf("WELCOME %v", w.Details)
	}
	if n := r.SessionCount("com.example.new"); n != 1 {
		t.Errorf("SessionCount = %d", n)
	}
	p = attachPipe(t, r, codec.JSON)
	p.s.Receive(&wamp.Hello{Realm: "wamp.x", Details: allRoles})
	wantAuthAbort(t, p, wamp.ErrNoSuchRealm)
}

// A login by ticket on a connection that got a cookie is remembered under
// it; the next connection with that cookie joins by cookie; GOODBYE
// wamp.close.logout forgets it.
func TestCookieLoginAndLogout(t *testing.T) {
	r, _ := authRouter(t, nil, nil)
	pol := r.realms.get("realm1").cfg.Auth
	pol.Cookies = &auth.Cookies{Max: 10, TTL: time.Hour}
	pol.Add(auth.MethodCookie, &auth.CookieAuth{Store: pol.Cookies})
	connect := func(issued bool) *pipe {
		p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
		p.s = r.Attach(p, TransportInfo{Kind: "websocket", Serializer: "json", Cookie: "the-cookie", CookieIssued: issued})
		t.Cleanup(p.s.Detach)
		return p
	}
	p := connect(true)
	p.s.Receive(hello("realm1", "ticket-user", "cookie", "ticket"))
	p.recv() // CHALLENGE
	p.s.Receive(&wamp.Authenticate{Signature: "ticket-secret", Extra: wamp.Dict{}})
	if w := wantWelcome(t, p); w.Details["authmethod"] != "ticket" {
		t.Fatalf("first login: %v", w.Details)
	}

	q := connect(false)
	q.s.Receive(hello("realm1", "", "cookie"))
	if w := wantWelcome(t, q); w.Details["authmethod"] != "cookie" || w.Details["authid"] != "ticket-user" {
		t.Fatalf("login by cookie: %v", w.Details)
	}
	q.s.Receive(&wamp.Goodbye{Reason: wamp.CloseLogout, Details: wamp.Dict{}})
	if g, ok := q.recv().(*wamp.Goodbye); !ok || g.Reason != wamp.CloseGoodbyeAndOut {
		t.Fatalf("logout answered with %+v", g)
	}

	z := connect(false)
	z.s.Receive(hello("realm1", "", "cookie"))
	wantAuthAbort(t, z, wamp.ErrAuthenticationFailed) // the cookie remembers nobody now
}

// A client that accepts only small messages still joins: the WELCOME with
// every feature listed is too large for it, so it gets the one without.
func TestWelcomeForSmallMessages(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64), limit: 512}
	p.s = r.Attach(p, TransportInfo{Kind: "rawsocket", Serializer: "json"})
	t.Cleanup(p.s.Detach)
	p.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	w := wantWelcome(t, p)
	roles, _ := w.Details["roles"].(map[string]any)
	if _, ok := roles["broker"]; !ok || len(roles) != 2 {
		t.Fatalf("WELCOME roles %v, want broker and dealer", roles)
	}
	if dealer, _ := roles["dealer"].(map[string]any); len(dealer) != 0 {
		t.Fatalf("dealer announced %v to a client that takes 512 bytes", dealer)
	}
	p.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.session.count"})
	if res, ok := p.recv().(*wamp.Result); !ok || res.Request != 1 {
		t.Fatalf("want RESULT 1, got %+v", res)
	}

	// With room for it, the full WELCOME.
	q := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64), limit: 4096}
	q.s = r.Attach(q, TransportInfo{Kind: "rawsocket", Serializer: "json"})
	t.Cleanup(q.s.Detach)
	q.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	roles, _ = wantWelcome(t, q).Details["roles"].(map[string]any)
	if dealer, _ := roles["dealer"].(map[string]any); dealer["features"] == nil {
		t.Fatalf("full WELCOME lacks the dealer's features: %v", roles)
	}
}

// welcomeWatch is a pipe that calls onWelcome as the router sends WELCOME,
// before the client can see it.
type welcomeWatch struct {
	*pipe
	onWelcome func()
}

func (w welcomeWatch) Send(m wamp.Message) error {
	if _, ok := m.(*wamp.Welcome); ok {
		w.onWelcome()
	}
	return w.pipe.Send(m)
}

// The cookie remembers a login before the WELCOME goes out: a client that
// reconnects with it as soon as it is welcomed gets in by cookie.
func TestCookieRememberedBeforeWelcome(t *testing.T) {
	r, _ := authRouter(t, nil, nil)
	pol := r.realms.get("realm1").cfg.Auth
	pol.Cookies = &auth.Cookies{Max: 10, TTL: time.Hour}
	pol.Add(auth.MethodCookie, &auth.CookieAuth{Store: pol.Cookies})
	p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
	remembered := make(chan bool, 1)
	w := welcomeWatch{p, func() {
		id, ok := pol.Cookies.Lookup("the-cookie", "realm1")
		remembered <- ok && id.AuthID == "ticket-user"
	}}
	p.s = r.Attach(w, TransportInfo{Kind: "websocket", Serializer: "json", Cookie: "the-cookie", CookieIssued: true})
	t.Cleanup(p.s.Detach)
	p.s.Receive(hello("realm1", "ticket-user", "cookie", "ticket"))
	p.recv() // CHALLENGE
	p.s.Receive(&wamp.Authenticate{Signature: "ticket-secret", Extra: wamp.Dict{}})
	wantWelcome(t, p)
	if !<-remembered {
		t.Fatal("WELCOME was sent before the cookie remembered the login")
	}
}

// ticketRouter is a router with realm1 guarded by ticket (joe, "pw") and
// throttle th.
func ticketRouter(t *testing.T, th *auth.Throttle) *Router {
	t.Helper()
	h, err := auth.NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	pol := &auth.Policy{Throttle: th}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: h}})})
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: pol}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A client that answers the CHALLENGE and hangs up before the verdict has
// failed: the throttle slows its address down as if it had waited for the
// ABORT.
func TestThrottleCountsHangUps(t *testing.T) {
	th := &auth.Throttle{Free: 1, Base: time.Hour, Max: time.Hour}
	r := ticketRouter(t, th)
	p := ticketLogin(t, r, "joe", "wrong")
	p.s.Detach() // at once, before the verdict
	deadline := time.Now().Add(10 * time.Second)
	for th.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that hung up after its AUTHENTICATE was not counted as a failure")
		}
		time.Sleep(time.Millisecond)
	}
	q := attachPipe(t, r, codec.JSON)
	q.s.Receive(hello("realm1", "joe", "ticket"))
	if n := th.Delayed(); n != 1 {
		t.Fatalf("%d logins held back, want 1", n)
	}
}

// A login whose time runs out while the throttle holds it back (its
// delay, here; its turn in its address's line takes the same path) ends
// with an ABORT that says so, and is not counted as a failed login: the
// address's next delay is what its real failures ask for.
func TestLoginTimedOutWaitingIsNoFailure(t *testing.T) {
	const base = time.Hour
	th := &auth.Throttle{Free: 1, Base: base, Max: 8 * base}
	h, err := auth.NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	pol := &auth.Policy{Throttle: th}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: h}})})
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: pol}}, authTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wantAuthAbort(t, ticketLogin(t, r, "joe", "wrong"), wamp.ErrAuthenticationFailed) // one failure: the next waits base

	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(hello("realm1", "joe", "ticket"))
	a := wantAuthAbort(t, p, wamp.ErrAuthenticationFailed)
	if a.Details["message"] != auth.ErrLoginTimedOut.Message {
		t.Errorf("ABORT %v, want %q", a.Details, auth.ErrLoginTimedOut.Message)
	}
	if n := th.TimedOut(); n != 1 {
		t.Errorf("%d logins timed out waiting, want 1", n)
	}
	if d := th.Delay(""); d != base {
		t.Errorf("the next login waits %v, want %v: the timed-out login counted as a failure", d, base)
	}
	if st := r.Stats(); st.LoginsTimedOut != 1 {
		t.Errorf("Stats().LoginsTimedOut = %d, want 1", st.LoginsTimedOut)
	}
}

// A login from an address the throttle slows down gets its CHALLENGE, and
// so has its ticket hashed, no sooner than the delay after its HELLO.
func TestThrottleHoldsBackTheChallenge(t *testing.T) {
	const delay = 100 * time.Millisecond
	r := ticketRouter(t, &auth.Throttle{Free: 1, Base: delay, Max: delay})
	wantAuthAbort(t, ticketLogin(t, r, "joe", "wrong"), wamp.ErrAuthenticationFailed)

	p := attachPipe(t, r, codec.JSON)
	start := time.Now()
	p.s.Receive(hello("realm1", "joe", "ticket"))
	if _, ok := p.recv().(*wamp.Challenge); !ok {
		t.Fatal("want CHALLENGE")
	}
	if waited := time.Since(start); waited < delay {
		t.Errorf("CHALLENGE %v after the HELLO, before the throttle's %v", waited, delay)
	}
	p.s.Receive(&wamp.Authenticate{Signature: "pw", Extra: wamp.Dict{}})
	wantWelcome(t, p)
}

// TestAnonymousAuthID: in a realm without roles (every client may do
// everything), a client may name itself with HELLO's authid, if it is a
// valid one (no control characters: it ends up in logs and other
// sessions' details); in a realm with roles, which authorize (perhaps by
// authid), the authid is always the router's.
func TestAnonymousAuthID(t *testing.T) {
	hello := func(p *pipe, authid string) {
		p.s.Receive(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": allRoles["roles"], "authid": authid}})
	}
	open := newRouter(t, DropEvents)
	p := attachPipe(t, open, codec.JSON)
	hello(p, "alice")
	if w := wantWelcome(t, p); w.Details["authid"] != "alice" {
		t.Errorf("a realm without roles: authid %v, want the HELLO's", w.Details["authid"])
	}
	p = attachPipe(t, open, codec.JSON)
	hello(p, "admin\x00\nforged")
	wantAbort(t, p, wamp.ErrInvalidArgument)

	roles, err := auth.NewRoles([]*auth.Role{{Name: "anonymous", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}})
	if err != nil {
		t.Fatal(err)
	}
	p = attachPipe(t, newRouterWith(t, RealmConfig{Roles: roles}), codec.JSON)
	hello(p, "admin")
	w := wantWelcome(t, p)
	if want := "anonymous-" + strconv.FormatUint(uint64(w.Session), 10); w.Details["authid"] != want {
		t.Errorf("a realm with roles: authid %v, want %s", w.Details["authid"], want)
	}
}

// TestLoginStats: the router's Stats count its password checks and what
// the realms' login throttles held back (the metrics export them).
func TestLoginStats(t *testing.T) {
	const delay = 20 * time.Millisecond
	r := ticketRouter(t, &auth.Throttle{Free: 1, Base: delay, Max: delay})
	wantAuthAbort(t, ticketLogin(t, r, "joe", "wrong"), wamp.ErrAuthenticationFailed)
	wantAuthAbort(t, ticketLogin(t, r, "joe", "wrong again"), wamp.ErrAuthenticationFailed) // delayed
	st := r.Stats()
	if st.Passwords.Computed != 2 || st.LoginsDelayed != 1 || st.LoginsRefused != 0 {
		t.Errorf("password checks %+v, logins delayed %d and refused %d; want 2 computed, 1 delayed",
			st.Passwords, st.LoginsDelayed, st.LoginsRefused)
	}
}
