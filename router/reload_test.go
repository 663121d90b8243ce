package router

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp/codec"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/wamp"
)

// TestSetRoles: new roles apply to the realm's sessions at once, a
// permission given or taken away from the next message on, and to the
// sessions that join after; a role that is gone leaves its sessions
// allowed nothing; a realm's roles cannot be taken away or given to a
// realm that has none.
func TestSetRoles(t *testing.T) {
	admin := &auth.Role{Name: "admin", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}
	roles := func(low ...auth.Permission) *auth.Roles {
		t.Helper()
		rs := []*auth.Role{admin}
		if low != nil {
			rs = append(rs, &auth.Role{Name: "low", Permissions: low})
		}
		r, err := auth.NewRoles(rs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := authzRouter(t, func(c *Config) {
		c.Realms = append(c.Realms, RealmConfig{Name: "open", Anonymous: true})
	}, &auth.Role{Name: "low", Permissions: []auth.Permission{{URI: "com.a", Allow: allowOf(auth.ActionPublish)}}})
	p := lowLogin(t, r)
	publishAcked(t, p, "com.a")
	deny := func(p *pipe, topic wamp.URI) {
		t.Helper()
		p.s.Receive(&wamp.Publish{Request: 78, Topic: topic, Options: wamp.Dict{"acknowledge": true}})
		wantError(t, p, wamp.TypePublish, 78, wamp.ErrNotAuthorized)
	}
	deny(p, "com.b")

	n, err := r.SetRoles("realm1", roles(auth.Permission{URI: "com.b", Allow: allowOf(auth.ActionPublish)}))
	if err != nil || n != 1 {
		t.Fatalf("SetRoles: %d sessions, %v", n, err)
	}
	publishAcked(t, p, "com.b")
	deny(p, "com.a")
	later := lowLogin(t, r)
	publishAcked(t, later, "com.b")
	deny(later, "com.a")

	// The role gone: its sessions may do nothing.
	if n, err := r.SetRoles("realm1", roles()); err != nil || n != 2 {
		t.Fatalf("SetRoles without the role: %d sessions, %v", n, err)
	}
	deny(p, "com.b")

	for _, tc := range []struct {
		realm wamp.URI
		roles *auth.Roles
	}{{"realm1", nil}, {"open", roles()}} {
		if _, err := r.SetRoles(tc.realm, tc.roles); !errors.Is(err, ErrRolesFixed) {
			t.Errorf("SetRoles(%s, %v): %v, want ErrRolesFixed", tc.realm, tc.roles, err)
		}
	}
	if _, err := r.SetRoles("nowhere", roles()); err == nil {
		t.Error("SetRoles of a realm that is not configured succeeded")
	}
}

// TestSetRolesWhileJoining: roles replaced again and again while
// sessions join and publish: when it stops, every session has the last
// roles, whichever way its WELCOME and a replacement crossed.
func TestSetRolesWhileJoining(t *testing.T) {
	admin := &auth.Role{Name: "admin", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}
	roles := func(topic wamp.URI) *auth.Roles {
		t.Helper()
		r, err := auth.NewRoles([]*auth.Role{admin, {Name: "low", Permissions: []auth.Permission{{URI: string(topic), Allow: allowOf(auth.ActionPublish)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := authzRouter(t, nil, &auth.Role{Name: "low", Permissions: []auth.Permission{{URI: "com.a", Allow: allowOf(auth.ActionPublish)}}})
	a, b := roles("com.a"), roles("com.b")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rs := a
			if i%2 == 1 {
				rs = b
			}
			if _, err := r.SetRoles("realm1", rs); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var ps []*pipe
	for range 30 {
		p := lowLogin(t, r)
		p.s.Receive(&wamp.Publish{Request: 1, Topic: "com.a"})
		ps = append(ps, p)
	}
	close(stop)
	<-done
	if _, err := r.SetRoles("realm1", roles("com.c")); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		publishAcked(t, p, "com.c")
	}
}

// TestSetAuth: new principals end the sessions whose login they no
// longer admit (a key revoked, a ticket changed, a principal given
// another role or removed), and only those: a principal's other key, an
// unchanged principal and an anonymous session stay. Logins from then
// on are judged by the new principals; the realm's throttle is kept.
func TestSetAuth(t *testing.T) {
	ticket := func(secret string) *auth.PasswordHash { return cheapTicket(t, secret) }
	oldKey, oldPriv, _ := ed25519.GenerateKey(nil)
	otherKey, otherPriv, _ := ed25519.GenerateKey(nil)
	policy := func(ps ...*auth.Principal) *auth.Policy {
		tbl := auth.NewPrincipals(ps)
		pol := &auth.Policy{Throttle: &auth.Throttle{Free: 3, Max: time.Second}}
		pol.Add(auth.MethodTicket, &auth.Ticket{Principals: tbl})
		pol.Add(auth.MethodCryptosign, auth.NewCryptosign(tbl))
		pol.Add(auth.MethodAnonymous, &auth.Anonymous{Role: "public"})
		return pol
	}
	alice, bob, carol := ticket("alice-secret"), ticket("bob-secret"), ticket("carol-secret")
	first := policy(
		&auth.Principal{AuthID: "alice", Role: "backend", Ticket: alice},
		&auth.Principal{AuthID: "bob", Role: "backend", Ticket: bob},
		&auth.Principal{AuthID: "carol", Role: "backend", Ticket: carol},
		&auth.Principal{AuthID: "dev", Role: "device", PublicKeys: []ed25519.PublicKey{oldKey, otherKey}},
	)
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: first}, {Name: "open", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	login := func(authid, secret string) *pipe {
		t.Helper()
		p := ticketLogin(t, r, authid, secret)
		wantWelcome(t, p)
		return p
	}
	deviceLogin := func(priv ed25519.PrivateKey) (*pipe, wamp.Message) {
		t.Helper()
		p := attachPipe(t, r, codec.JSON)
		h := hello("realm1", "dev", "cryptosign")
		h.Details["authextra"] = wamp.Dict{"pubkey": hex.EncodeToString(priv.Public().(ed25519.PublicKey))}
		p.s.Receive(h)
		ch, ok := p.recv().(*wamp.Challenge)
		if !ok {
			t.Fatal("no CHALLENGE for cryptosign")
		}
		sig, err := auth.SignCryptosignChallenge(priv, ch.Extra["challenge"].(string), nil)
		if err != nil {
			t.Fatal(err)
		}
		p.s.Receive(&wamp.Authenticate{Signature: sig})
		return p, p.recv()
	}
	a, b, c := login("alice", "alice-secret"), login("bob", "bob-secret"), login("carol", "carol-secret")
	devOld, w1 := deviceLogin(oldPriv)
	devOther, w2 := deviceLogin(otherPriv)
	for _, w := range []wamp.Message{w1, w2} {
		if _, ok := w.(*wamp.Welcome); !ok {
			t.Fatalf("device login: %+v", w)
		}
	}
	anon := attachPipe(t, r, codec.JSON)
	anon.s.Receive(hello("realm1", ""))
	wantWelcome(t, anon)

	// alice unchanged; bob's ticket changed; carol now an admin; the
	// device's old key revoked, its other key kept.
	bob2 := ticket("bob-new")
	next := policy(
		&auth.Principal{AuthID: "alice", Role: "backend", Ticket: alice},
		&auth.Principal{AuthID: "bob", Role: "backend", Ticket: bob2},
		&auth.Principal{AuthID: "carol", Role: "admin", Ticket: carol},
		&auth.Principal{AuthID: "dev", Role: "device", PublicKeys: []ed25519.PublicKey{otherKey}},
	)
	n, err := r.SetAuth("realm1", next)
	if err != nil || n != 3 {
		t.Fatalf("SetAuth: %d sessions ended, %v; want 3", n, err)
	}
	if next.Throttle != first.Throttle {
		t.Error("the realm's throttle was not kept")
	}
	for name, p := range map[string]*pipe{"bob": b, "carol": c, "the old key": devOld} {
		g, ok := p.recv().(*wamp.Goodbye)
		if !ok || g.Reason != wamp.CloseKilled || g.Details["message"] != credentialRevoked {
			t.Errorf("%s: want GOODBYE killed, got %+v", name, g)
		}
	}
	for _, p := range []*pipe{a, devOther, anon} {
		p.none()
	}

	// Logins from now on: the new ticket, not the old one.
	p := ticketLogin(t, r, "bob", "bob-secret")
	wantAuthAbort(t, p, wamp.ErrAuthenticationFailed)
	login("bob", "bob-new")
	if _, m := deviceLogin(oldPriv); m.Type() != wamp.TypeAbort {
		t.Errorf("the revoked key logged in: %+v", m)
	}

	if _, err := r.SetAuth("open", next); !errors.Is(err, ErrAuthFixed) {
		t.Errorf("SetAuth of a realm without authentication: %v, want ErrAuthFixed", err)
	}
	if _, err := r.SetAuth("realm1", nil); !errors.Is(err, ErrAuthFixed) {
		t.Errorf("SetAuth(nil): %v, want ErrAuthFixed", err)
	}
	if _, err := r.SetAuth("nowhere", next); err == nil {
		t.Error("SetAuth of a realm that is not configured succeeded")
	}
}

// TestSetAuthWhileJoining: a ticket revoked while logins with it are
// under way: each login is either refused, or welcomed and then killed,
// whichever way its WELCOME and the revocation crossed; none stays.
func TestSetAuthWhileJoining(t *testing.T) {
	ticket := func(secret string) *auth.PasswordHash { return cheapTicket(t, secret) }
	policy := func(h *auth.PasswordHash) *auth.Policy {
		pol := &auth.Policy{}
		pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "fleet", Role: "device", Ticket: h}})})
		return pol
	}
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: policy(ticket("old"))}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	const logins = 40
	pipes := make([]*pipe, logins)
	for i := range pipes {
		pipes[i] = attachPipe(t, r, codec.JSON)
		pipes[i].s.Receive(hello("realm1", "fleet", "ticket"))
		if _, ok := pipes[i].recv().(*wamp.Challenge); !ok {
			t.Fatal("no CHALLENGE")
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range pipes {
			p.s.Receive(&wamp.Authenticate{Signature: "old", Extra: wamp.Dict{}})
		}
	}()
	if _, err := r.SetAuth("realm1", policy(ticket("new"))); err != nil {
		t.Fatal(err)
	}
	<-done
	welcomed := 0
	for i, p := range pipes {
		switch m := p.recv().(type) {
		case *wamp.Abort:
		case *wamp.Welcome:
			welcomed++
			if g, ok := p.recv().(*wamp.Goodbye); !ok || g.Reason != wamp.CloseKilled {
				t.Errorf("login %d: welcomed with the revoked ticket and not killed: %+v", i, g)
			}
		default:
			t.Errorf("login %d: %+v", i, m)
		}
	}
	t.Logf("%d of %d logins welcomed before they were killed", welcomed, logins)
}

// cheapTicket hashes a ticket at a cost fit for tests.
func cheapTicket(t *testing.T, secret string) *auth.PasswordHash {
	t.Helper()
	h, err := auth.NewPasswordHash(secret, "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSetAuthKeepsMockChallenges: the challenge to an authid that does
// not exist is the same before and after the principals are replaced,
// as that of a principal whose credential did not change is: if only
// the unknown authids' challenges changed at a reload, comparing the
// challenges before and after would tell which authids exist.
func TestSetAuthKeepsMockChallenges(t *testing.T) {
	key, err := auth.DeriveCRAKey("joe-secret", "joe-salt", 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	policy := func() *auth.Policy {
		tbl := auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", CRA: key}})
		pol := &auth.Policy{}
		pol.Add(auth.MethodWAMPCRA, auth.NewWAMPCRA(tbl))
		return pol
	}
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: policy()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	salt := func(authid string) any {
		t.Helper()
		p := attachPipe(t, r, codec.JSON)
		p.s.Receive(hello("realm1", authid, "wampcra"))
		ch, ok := p.recv().(*wamp.Challenge)
		if !ok {
			t.Fatalf("%s: no CHALLENGE", authid)
		}
		return ch.Extra["salt"]
	}
	known, unknown := salt("joe"), salt("nobody")
	if _, err := r.SetAuth("realm1", policy()); err != nil {
		t.Fatal(err)
	}
	if got := salt("joe"); got != known {
		t.Fatalf("joe's salt changed: %v, then %v", known, got)
	}
	if got := salt("nobody"); got != unknown {
		t.Errorf("the mock salt of an unknown authid changed with the reload (%v, then %v), where a known one's did not", unknown, got)
	}
}

// TestSetAuthSaysWhy: a session ended by SetAuth is logged as ended by
// the reload of the principals, not as killed through the meta API (no
// one called wamp.session.kill), and its GOODBYE says why for a
// principal given another role too, whose credential is still there.
func TestSetAuthSaysWhy(t *testing.T) {
	h, err := auth.NewPasswordHash("s3cret", "pbkdf2-sha256", 1000, 0) // cheap, for the test
	if err != nil {
		t.Fatal(err)
	}
	policy := func(role string) *auth.Policy {
		pol := &auth.Policy{}
		pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: role, Ticket: h}})})
		return pol
	}
	var logs testwait.Buffer
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: policy("user")}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p := ticketLogin(t, r, "joe", "s3cret")
	wantWelcome(t, p)
	// Not the count SetAuth returns: the WELCOME is out before the
	// session counts as welcomed, and one that SetAuth finds not
	// welcomed yet is ended by its own welcome (Session.welcome).
	if _, err := r.SetAuth("realm1", policy("admin")); err != nil {
		t.Fatal(err)
	}
	g, ok := p.recv().(*wamp.Goodbye)
	if !ok {
		t.Fatalf("want GOODBYE, got %+v", g)
	}
	if msg, _ := g.Details["message"].(string); !strings.Contains(msg, "role") {
		t.Errorf("GOODBYE to a principal given another role: %q", msg)
	}
	if l := logs.String(); strings.Contains(l, "meta API") || !strings.Contains(l, "principals reloaded") {
		t.Errorf("the kill is logged as:\n%s", l)
	}
}

// TestAddRealm: a realm added to a running router takes sessions at
// once, with its own settings (here, authentication), and shows among the
// router's realms; a name the router has, configured or made from the
// template, is refused, as is a realm that would keep event history.
func TestAddRealm(t *testing.T) {
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}, RealmTemplate: &RealmConfig{Anonymous: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	pol := &auth.Policy{}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: cheapTicket(t, "joe-secret")}})})
	if err := r.AddRealm(RealmConfig{Name: "tenant2", Auth: pol}); err != nil {
		t.Fatal(err)
	}
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(hello("tenant2", "joe", "ticket"))
	if _, ok := p.recv().(*wamp.Challenge); !ok {
		t.Fatal("the added realm did not challenge")
	}
	p.s.Receive(&wamp.Authenticate{Signature: "joe-secret", Extra: wamp.Dict{}})
	if w := wantWelcome(t, p); w.Details["realm"] != "tenant2" || w.Details["authid"] != "joe" {
		t.Fatalf("WELCOME %v", w.Details)
	}
	anon := attachPipe(t, r, codec.JSON)
	anon.s.Receive(hello("tenant2", ""))
	if m, ok := anon.recv().(*wamp.Abort); !ok {
		t.Fatalf("an anonymous client joined the added realm, which has none: %+v", m)
	}
	if got := r.Realms(); !slices.Equal(got, []wamp.URI{"realm1", "tenant2"}) {
		t.Errorf("Realms = %v", got)
	}

	// A realm made from the template: its name is taken.
	auto := attachPipe(t, r, codec.JSON)
	auto.s.Receive(hello("made.here", ""))
	wantWelcome(t, auto)
	for _, rc := range []RealmConfig{{Name: "realm1"}, {Name: "tenant2"}, {Name: "made.here"}} {
		if err := r.AddRealm(rc); !errors.Is(err, ErrRealmExists) {
			t.Errorf("AddRealm(%s): %v, want ErrRealmExists", rc.Name, err)
		}
	}
	if err := r.AddRealm(RealmConfig{Name: "kept", History: []HistoryRule{{Match: wamp.MatchExact, Topic: "a", Limit: 1}}}); err == nil {
		t.Error("a realm with history rules was added")
	}
	if err := r.AddRealm(RealmConfig{Name: "not a uri!"}); err == nil {
		t.Error("a realm whose name is not a URI was added")
	}
}

// TestAddRealmWhileJoining: a realm added while clients join it by name
// under a realm template: each session is in the realm the router has by
// that name when it is done, whichever of the two made it first.
func TestAddRealmWhileJoining(t *testing.T) {
	for range 20 {
		r, err := New(Config{RealmTemplate: &RealmConfig{Anonymous: true}})
		if err != nil {
			t.Fatal(err)
		}
		p := attachPipe(t, r, codec.JSON)
		done := make(chan error, 1)
		go func() { done <- r.AddRealm(RealmConfig{Name: "contested", Anonymous: true}) }()
		p.s.Receive(hello("contested", ""))
		wantWelcome(t, p)
		added := <-done
		if added != nil && !errors.Is(added, ErrRealmExists) {
			t.Fatal(added)
		}
		if rl := r.realmNamed("contested"); rl != p.s.realm {
			t.Fatalf("the session joined a realm that is not the router's realm of its name (AddRealm: %v)", added)
		}
		r.Close()
	}
}

// TestRemoveRealm: a realm taken out of a running router ends its
// sessions (GOODBYE wamp.close.killed), also one that was logging in to
// it (welcomed, then told), refuses HELLOs naming it, and leaves the
// other realms alone; a realm that keeps event history is not removed.
func TestRemoveRealm(t *testing.T) {
	pol := &auth.Policy{}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: cheapTicket(t, "joe-secret")}})})
	r, err := New(Config{
		Realms: []RealmConfig{
			{Name: "realm1", Anonymous: true},
			{Name: "tenant2", Auth: pol},
			{Name: "kept", Anonymous: true, History: []HistoryRule{{Match: wamp.MatchExact, Topic: "a", Limit: 1}}},
		},
		HistoryPath: filepath.Join(t.TempDir(), "history.db"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	in := attachPipe(t, r, codec.JSON)
	in.s.Receive(hello("tenant2", "joe", "ticket"))
	if _, ok := in.recv().(*wamp.Challenge); !ok {
		t.Fatal("no CHALLENGE")
	}
	in.s.Receive(&wamp.Authenticate{Signature: "joe-secret", Extra: wamp.Dict{}})
	wantWelcome(t, in)
	joining := attachPipe(t, r, codec.JSON)
	joining.s.Receive(hello("tenant2", "joe", "ticket"))
	if _, ok := joining.recv().(*wamp.Challenge); !ok {
		t.Fatal("no CHALLENGE")
	}
	other := attachPipe(t, r, codec.JSON)
	other.s.Receive(hello("realm1", ""))
	wantWelcome(t, other)

	n, err := r.RemoveRealm("tenant2")
	if err != nil || n != 1 {
		t.Fatalf("RemoveRealm: %d sessions ended, %v; want 1", n, err)
	}
	if g, ok := in.recv().(*wamp.Goodbye); !ok || g.Reason != wamp.CloseKilled || g.Details["message"] != realmRemoved {
		t.Errorf("the realm's session: %+v, want GOODBYE killed", g)
	}
	joining.s.Receive(&wamp.Authenticate{Signature: "joe-secret", Extra: wamp.Dict{}})
	wantWelcome(t, joining)
	if g, ok := joining.recv().(*wamp.Goodbye); !ok || g.Reason != wamp.CloseKilled {
		t.Errorf("the session that was logging in: %+v, want GOODBYE killed after its WELCOME", g)
	}
	other.none()
	late := attachPipe(t, r, codec.JSON)
	late.s.Receive(hello("tenant2", "joe", "ticket"))
	if a, ok := late.recv().(*wamp.Abort); !ok || a.Reason != wamp.ErrNoSuchRealm {
		t.Errorf("a HELLO for the removed realm: %+v, want ABORT no_such_realm", a)
	}
	if got := r.Realms(); !slices.Equal(got, []wamp.URI{"kept", "realm1"}) {
		t.Errorf("Realms = %v", got)
	}
	if _, err := r.RemoveRealm("kept"); err == nil {
		t.Error("a realm with event history was removed")
	}
	if _, err := r.RemoveRealm("tenant2"); err == nil {
		t.Error("a realm removed twice")
	}
	// Added again: a new realm of the name.
	if err := r.AddRealm(RealmConfig{Name: "tenant2", Anonymous: true}); err != nil {
		t.Fatal(err)
	}
	again := attachPipe(t, r, codec.JSON)
	again.s.Receive(hello("tenant2", ""))
	wantWelcome(t, again)
}

// TestRemoveRealmWhileJoiningAnonymously: an anonymous HELLO (a realm
// without authentication or roles, which joins without Session.welcome)
// that found the realm before RemoveRealm took it out of the table, and
// enters the realm's sessions after RemoveRealm listed them, is ended
// once welcomed, as a login is; else it would stay, for good, in a realm
// that is gone.
func TestRemoveRealmWhileJoiningAnonymously(t *testing.T) {
	r, err := New(Config{Realms: []RealmConfig{{Name: "tenant2", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	rl := r.realms.get("tenant2")
	p := attachPipe(t, r, codec.JSON)

	// The HELLO has its realm and waits to enter its table; RemoveRealm
	// then waits to list the table's sessions. A reader waiting on a
	// write-locked RWMutex goes before a writer waiting too: RemoveRealm
	// lists the sessions, then the HELLO enters.
	rl.mu.Lock()
	helloDone := make(chan struct{})
	go func() {
		defer close(helloDone)
		p.s.Receive(hello("tenant2", ""))
	}()
	waitGoroutine(t, "router.(*realm).join", "")
	removed := make(chan int, 1)
	go func() {
		n, err := r.RemoveRealm("tenant2")
		if err != nil {
			t.Error(err)
		}
		removed <- n
	}()
	waitGoroutine(t, "router.(*realm).established", "[sync.RWMutex.RLock")
	rl.mu.Unlock()
	<-helloDone
	if n := <-removed; n != 0 {
		t.Fatalf("RemoveRealm ended %d sessions, want 0 (it listed them before the HELLO entered)", n)
	}
	wantWelcome(t, p)
	if g, ok := p.recv().(*wamp.Goodbye); !ok || g.Reason != wamp.CloseKilled || g.Details["message"] != realmRemoved {
		t.Fatalf("the session that joined the realm as it was removed: %+v, want GOODBYE killed", g)
	}
}

// waitGoroutine waits until a goroutine whose stack names fn is in state
// (its header's wait reason starts with it; any state for "").
func waitGoroutine(t *testing.T, fn, state string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, fn) && strings.Contains(header, " "+state) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine in %s %s:\n%s", fn, state, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}
