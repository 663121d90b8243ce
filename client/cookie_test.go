package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
)

// cookieName is the router's cookie (config's default).
const cookieName = "junction_auth"

// cookieRouter serves examples/config/auth.yaml's realm with cookie
// authentication on (auth.cookie: true, the failure throttle off), behind
// transport servers that set the authentication cookie (a listener's
// cookie: {}). Servers come and go; the router and its cookie store stay.
type cookieRouter struct {
	t      *testing.T
	r      *router.Router
	server *testcert.Pair
	// signer is shared by the router's listeners, those of a restart
	// included, as junction serve shares one among its listeners.
	signer *websocket.CookieSigner
}

func startCookieRouter(t *testing.T) *cookieRouter {
	t.Helper()
	cfg, err := config.Load("../examples/config/auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	realm := &cfg.Realms[0]
	realm.Auth.Cookie = true
	realm.Auth.Throttle.MaxDelay = 0
	pol, roles, err := realm.Build(&auth.Cookies{Max: 100, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: wamp.URI(realm.Name),
		Anonymous: realm.Anonymous, Auth: pol, Roles: roles}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return &cookieRouter{t: t, r: r, server: testcert.Must(t), signer: websocket.NewCookieSigner()}
}

// serve starts a transport server on addr ("127.0.0.1:0" for any port),
// with TLS when secure, and returns its address and a function that closes
// every connection at once, as a crashed server would.
func (cr *cookieRouter) serve(addr string, secure bool) (string, func()) {
	t := cr.t
	t.Helper()
	srv := &transport.Server{Router: cr.r, Cookie: &transport.Cookie{Name: cookieName, MaxAge: time.Hour, Signer: cr.signer}}
	if secure {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cr.server.Cert}}
	}
	var (
		ln  net.Listener
		err error
	)
	for range 100 { // the port of a server just closed may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	var once sync.Once
	kill := func() { once.Do(func() { srv.Close(); <-served }) }
	t.Cleanup(kill)
	return ln.Addr().String(), kill
}

// dial joins realm1 at url with o, trusting the test server's certificate.
func (cr *cookieRouter) dial(url string, o client.Options) (*client.Session, error) {
	o.TLSConfig = &tls.Config{RootCAs: cr.server.Pool}
	s, err := client.Dial(ctxT(cr.t), url, "realm1", &o)
	if err == nil {
		cr.t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.Close(ctx)
		})
	}
	return s, err
}

// jarCookie returns the value of the router's cookie in jar for a
// WebSocket URL, "" when the jar has none.
func jarCookie(t *testing.T, jar http.CookieJar, wsURL string) string {
	t.Helper()
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	for _, c := range jar.Cookies(u) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	return ""
}

func newJar(t *testing.T) *cookiejar.Jar {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

func wantIdentity(t *testing.T, s *client.Session, authid, role, method string) {
	t.Helper()
	d := s.Details()
	if d["authid"] != authid || d["authrole"] != role || d["authmethod"] != method {
		t.Errorf("WELCOME authid %v authrole %v authmethod %v, want %s %s %s",
			d["authid"], d["authrole"], d["authmethod"], authid, role, method)
	}
}

func wantRefused(t *testing.T, s *client.Session, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("joined as %v by %v", s.Details()["authid"], s.Details()["authmethod"])
	}
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Reason != wamp.ErrAuthenticationFailed {
		t.Errorf("%v, want an ABORT %s", err, wamp.ErrAuthenticationFailed)
	}
}

// TestCookieAuth: a session that logs in with a ticket keeps the cookie
// the router sets in its jar; a second session with the jar joins by
// cookie as the same principal, without the ticket; over ws:// and over
// wss:// (where the cookie is Secure).
func TestCookieAuth(t *testing.T) {
	cr := startCookieRouter(t)
	plain, _ := cr.serve("127.0.0.1:0", false)
	secure, _ := cr.serve("127.0.0.1:0", true)
	for _, url := range []string{"ws://" + plain + "/ws", "wss://" + secure + "/ws"} {
		t.Run(url[:strings.Index(url, ":")], func(t *testing.T) {
			jar := newJar(t)
			ticket := client.Options{AuthID: "ticket-user", CookieJar: jar,
				Credentials: []client.Credential{client.Cookie(), client.Ticket("ticket-secret")}}

			// The jar is empty: the cookie knows nobody, the ticket logs in
			// and the router's new cookie remembers ticket-user.
			s, err := cr.dial(url, ticket)
			if err != nil {
				t.Fatal(err)
			}
			wantIdentity(t, s, "ticket-user", "backend", "ticket")
			cookie := jarCookie(t, jar, url)
			if cookie == "" {
				t.Fatalf("the jar has no %s cookie after the upgrade", cookieName)
			}

			// The same options again: the cookie knows ticket-user first.
			s, err = cr.dial(url, ticket)
			if err != nil {
				t.Fatal(err)
			}
			wantIdentity(t, s, "ticket-user", "backend", "cookie")

			// No authid, no ticket: the cookie alone.
			s, err = cr.dial(url, client.Options{CookieJar: jar, Credentials: []client.Credential{client.Cookie()}})
			if err != nil {
				t.Fatal(err)
			}
			wantIdentity(t, s, "ticket-user", "backend", "cookie")
			if got := jarCookie(t, jar, url); got != cookie {
				t.Errorf("the router set a new cookie %q for a connection that had %q", got, cookie)
			}
			// The role's permissions apply to the cookie session.
			if _, err := s.Call(ctxT(t), "wamp.session.count", nil, nil, nil); err != nil {
				t.Errorf("backend call by a cookie session: %v", err)
			}

			// A cookie that remembers ticket-user is not another
			// principal's.
			s, err = cr.dial(url, client.Options{AuthID: "cra-user", CookieJar: jar,
				Credentials: []client.Credential{client.Cookie()}})
			wantRefused(t, s, err)

			// Another jar: no cookie to join by.
			s, err = cr.dial(url, client.Options{CookieJar: newJar(t), Credentials: []client.Credential{client.Cookie()}})
			wantRefused(t, s, err)

			// Logout: the router forgets the cookie, and the jar alone no
			// longer logs in.
			s, err = cr.dial(url, client.Options{CookieJar: jar, Credentials: []client.Credential{client.Cookie()}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Logout(ctxT(t)); err != nil {
				t.Fatalf("logout: %v", err)
			}
			s, err = cr.dial(url, client.Options{CookieJar: jar, Credentials: []client.Credential{client.Cookie()}})
			wantRefused(t, s, err)
		})
	}

	// RawSocket has no cookies: the ticket logs in.
	t.Run("rawsocket", func(t *testing.T) {
		jar := newJar(t)
		o := client.Options{AuthID: "ticket-user", CookieJar: jar,
			Credentials: []client.Credential{client.Cookie(), client.Ticket("ticket-secret")}}
		if _, err := cr.dial("ws://"+plain+"/ws", o); err != nil {
			t.Fatal(err)
		}
		s, err := cr.dial("rs://"+plain, o)
		if err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, s, "ticket-user", "backend", "ticket")
	})
}

// TestCookieAuthForged: a cookie the router did not set falls back to the
// next method offered, or is refused when there is none.
func TestCookieAuthForged(t *testing.T) {
	cr := startCookieRouter(t)
	addr, _ := cr.serve("127.0.0.1:0", false)
	u := &url.URL{Scheme: "http", Host: addr, Path: "/ws"}
	url := "ws://" + addr + "/ws"
	forged := func(value string) *cookiejar.Jar {
		jar := newJar(t)
		jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: value, Path: "/"}})
		return jar
	}
	// A made-up value: the router replaces it, so a cookie-only login
	// has nothing to join by.
	const guessed = "AAAAAAAAAAAAAAAAAAAAAA"
	s, err := cr.dial(url, client.Options{CookieJar: forged(guessed), Credentials: []client.Credential{client.Cookie()}})
	wantRefused(t, s, err)

	// Session fixation: a value planted in the victim's jar before the
	// victim logs in must not let the planter ride that login. The router
	// replaces the planted value, so the login is remembered under a
	// cookie only the victim has.
	planted := cr.signer.New() // even one this router could have set
	victimJar, attackerJar := forged(planted), forged(planted)
	victim, err := cr.dial(url, client.Options{AuthID: "ticket-user", CookieJar: victimJar,
		Credentials: []client.Credential{client.Cookie(), client.Ticket("ticket-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, victim, "ticket-user", "backend", "ticket")
	s, err = cr.dial(url, client.Options{CookieJar: attackerJar, Credentials: []client.Credential{client.Cookie()}})
	wantRefused(t, s, err)

	s, err = cr.dial(url, client.Options{AuthID: "ticket-user", CookieJar: forged(guessed),
		Credentials: []client.Credential{client.Cookie(), client.Ticket("ticket-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, s, "ticket-user", "backend", "ticket")

	// A value the router could not have set: it sets a new cookie, which
	// replaces the forged one in the jar and joins by cookie next time.
	jar := forged("x")
	o := client.Options{AuthID: "ticket-user", CookieJar: jar,
		Credentials: []client.Credential{client.Cookie(), client.Ticket("ticket-secret")}}
	s, err = cr.dial(url, o)
	if err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, s, "ticket-user", "backend", "ticket")
	if v := jarCookie(t, jar, url); v == "x" || v == "" {
		t.Fatalf("the jar's cookie is %q, want the router's new one", v)
	}
	s, err = cr.dial(url, o)
	if err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, s, "ticket-user", "backend", "cookie")
}

// TestCookieAuthReconnect: a session that reconnects joins by the cookie
// its first connection got, and restores its subscriptions.
func TestCookieAuthReconnect(t *testing.T) {
	cr := startCookieRouter(t)
	addr, kill := cr.serve("127.0.0.1:0", false)
	url := "ws://" + addr + "/ws"
	jar := newJar(t)
	back := make(chan client.Reconnected, 1)
	s, err := cr.dial(url, client.Options{AuthID: "ticket-user", CookieJar: jar,
		Credentials: []client.Credential{client.Cookie(), client.Ticket("ticket-secret")},
		Reconnect: &client.Reconnect{MinDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
			OnReconnect: func(r client.Reconnected) { back <- r }}})
	if err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, s, "ticket-user", "backend", "ticket")
	events := make(chan *client.Event, 1)
	if _, err := s.Subscribe(ctxT(t), "com.example.news", func(e *client.Event) { events <- e }, nil); err != nil {
		t.Fatal(err)
	}

	kill()
	cr.serve(addr, false)
	r := <-back
	if len(r.Failed) > 0 {
		t.Fatalf("not restored: %v", r.Failed)
	}
	wantIdentity(t, s, "ticket-user", "backend", "cookie")

	p, err := cr.dial(url, client.Options{CookieJar: jar, Credentials: []client.Credential{client.Cookie()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctxT(t), "com.example.news", wamp.List{"hello"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if e := <-events; len(e.Args) != 1 || e.Args[0] != "hello" {
		t.Errorf("event %v after the reconnect, want [hello]", e.Args)
	}
}

// TestCookieNeedsJar: the Cookie credential without a jar is a mistake
// Dial reports.
func TestCookieNeedsJar(t *testing.T) {
	tr := startRouter(t)
	_, err := client.Dial(ctxT(t), tr.ws, "realm1", &client.Options{Credentials: []client.Credential{client.Cookie()}})
	if err == nil || !strings.Contains(err.Error(), "CookieJar") {
		t.Fatalf("Dial: %v, want an error naming Options.CookieJar", err)
	}
}
