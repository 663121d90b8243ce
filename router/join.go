package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
)

// Joining a realm: HELLO, then, in a realm with authentication, CHALLENGE
// and AUTHENTICATE, then WELCOME or ABORT.
//
// The router routes a message on the goroutine that read it, and with the
// epoll engine that goroutine serves many connections: it must never wait.
// So an authentication that may wait (for its turn among its address's
// logins and the throttle's delay, for the client's AUTHENTICATE, for its
// turn to hash a ticket, for a dynamic authenticator's answer) runs on a goroutine of its own, started by the
// HELLO and ended by the WELCOME or ABORT, or by the connection's end
// (Session.end cancels its context, which every wait honours), or by
// authTimeout. AUTHENTICATE messages reach it through a channel.
// Authenticators that decide from the HELLO alone (anonymous, tls, cookie)
// run inline.

// authTimeout bounds an authentication from HELLO to WELCOME when the
// transport does not (its hello timeout usually ends it first).
const authTimeout = time.Minute

// sessionAuth is a session's authentication and authorization state.
type sessionAuth struct {
	// join is the authentication under way; nil once it has ended. Its
	// fields are guarded by Session.mu.
	join *joining

	// Set at WELCOME, never changed after.
	method    string
	provider  string
	proof     string        // auth.Identity.Proof, for Router.SetAuth
	checked   bool          // the realm has roles: authz decides
	disclose  [2]Disclosure // as caller, as publisher
	overrides [2]bool       // whether the role overrides the realm's disclosure

	// authz decides what the session may do (when checked); set at
	// WELCOME, replaced when the realm's roles are (Router.SetRoles),
	// and guarded by gate.mu from WELCOME on.
	authz auth.SessionAuthorizer

	gate gate // authz.go: messages held while an authorization is pending
}

// joining is an authentication under way.
type joining struct {
	s   *Session
	rlm *realm
	// pol is the realm's policy when the login began: the one it runs
	// under to the end, though Router.SetAuth replace it meanwhile.
	pol    *auth.Policy
	req    *auth.Request
	ctx    context.Context
	cancel context.CancelFunc
	// answers passes the AUTHENTICATE to the authentication's goroutine.
	answers chan *wamp.Authenticate
	// awaiting is set while a CHALLENGE is unanswered; answered once one
	// was answered (under Session.mu).
	awaiting, answered bool
}

// stop ends an authentication under way; a is the session's auth state,
// possibly nil.
func (a *sessionAuth) stop() {
	if a == nil {
		return
	}
	if j := a.join; j != nil {
		j.cancel()
	}
}

// joinMessage handles a message from a session that has not been welcomed.
func (s *Session) joinMessage(m wamp.Message) {
	s.mu.Lock()
	a := s.auth
	s.mu.Unlock()
	switch m := m.(type) {
	case *wamp.Hello:
		if a != nil {
			s.violation("received a second HELLO")
			return
		}
		s.hello(m)
	case *wamp.Authenticate:
		s.authenticate(a, m)
	case *wamp.Abort:
		s.logger().Debug("client aborted before joining", "reason", m.Reason)
		s.end()
		s.peer.Close()
	default:
		if a == nil {
			s.violation(fmt.Sprintf("received %s before HELLO", m.Type()))
		} else {
			s.violation(fmt.Sprintf("received %s before WELCOME", m.Type()))
		}
	}
}

func (s *Session) hello(h *wamp.Hello) {
	r := s.router
	if r.closing.Load() {
		s.abort(wamp.CloseSystemShutdown, "the router is shutting down")
		return
	}
	if !wamp.ValidURI(h.Realm, false, false) {
		s.abort(wamp.ErrInvalidURI, fmt.Sprintf("realm %q is not a valid URI", h.Realm))
		return
	}
	roles, _ := h.Details["roles"].(map[string]any)
	announced, features, bad := parseRoles(roles)
	if bad != "" {
		s.violation(bad)
		return
	}
	rlm, why := r.realmFor(h.Realm)
	if rlm == nil {
		s.abort(wamp.ErrNoSuchRealm, why)
		return
	}
	id := wamp.GlobalID()
	pol := rlm.auth.Load()
	if pol == nil {
		s.helloAnonymous(h, rlm, announced, features, id)
		return
	}

	offered, ok := authMethods(h.Details)
	if !ok {
		s.violation("HELLO.Details.authmethods must be a list of strings")
		return
	}
	authid, ok := h.Details["authid"].(string)
	if _, present := h.Details["authid"]; present && !ok {
		s.violation("HELLO.Details.authid must be a string")
		return
	}
	extra, ok := h.Details["authextra"].(map[string]any)
	if v, present := h.Details["authextra"]; present && v != nil && !ok {
		s.violation("HELLO.Details.authextra must be a dict")
		return
	}
	req := &auth.Request{
		Realm: string(rlm.name), AuthID: authid, AuthExtra: extra, Details: h.Details,
		Session: id, Transport: s.authTransport(), Caller: r, KDF: r.kdf,
	}
	a, f := pol.Choose(req, offered)
	if f != nil {
		r.stats.auth.add("none", false)
		s.logger().Info("authentication refused", "realm", rlm.name, "authid", authid, "reason", f.Reason, "why", f.Message)
		s.abort(f.Reason, f.Message)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(r.cfg.authTimeout, authTimeout))
	j := &joining{s: s, rlm: rlm, pol: pol, req: req, ctx: ctx, cancel: cancel, answers: make(chan *wamp.Authenticate, 1)}
	s.mu.Lock()
	if s.state != stateNew { // aborted meanwhile (router shutdown)
		s.mu.Unlock()
		cancel()
		return
	}
	s.roles, s.features = announced, features
	s.auth = &sessionAuth{join: j}
	s.mu.Unlock()

	turn, err := pol.Throttle.Enter(s.info.RemoteAddr)
	if err != nil {
		j.finish(nil, err)
		return
	}
	if now, ok := a.(auth.Immediate); ok && turn.Now() {
		ident, err := now.AuthenticateNow(req)
		j.finish(ident, err)
		turn.Done()
		return
	}
	go j.run(a, turn)
}

// PasswordStats returns the counters of the router's password checks
// (ticket logins of every realm): hashes computed, checks abandoned
// because their client left, checks refused because their address had
// too many in flight.
func (r *Router) PasswordStats() auth.KDFStats { return r.kdf.Stats() }

// PasswordLimiter returns the limiter of the router's password checks,
// for other password logins to share (the admin endpoints').
func (r *Router) PasswordLimiter() *auth.KDFLimiter { return r.kdf }

// authMethods reads HELLO.Details.authmethods.
func authMethods(d wamp.Dict) ([]string, bool) {
	v, present := d["authmethods"]
	if !present || v == nil {
		return nil, true
	}
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(l))
	for i, e := range l {
		if out[i], ok = e.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

// run authenticates on the authentication's own goroutine. The login
// first waits for its turn among its address's logins and for the delay
// the throttle asks for when the turn comes (auth.Throttle.Enter) before
// anything is done for it (no CHALLENGE, no password hash): its answer,
// success or failure, comes no sooner than that delay, its attempts cost
// nothing while they wait, and parallel logins get no more guesses than
// the throttle's in-flight bound. The wait ends with the connection.
func (j *joining) run(a auth.Authenticator, turn *auth.Login) {
	defer turn.Done() // after finish: the failure counts for the next turn
	if err := turn.Wait(j.ctx); err != nil {
		j.finish(nil, err)
		return
	}
	ident, err := a.Authenticate(j.ctx, j.req, j)
	j.finish(ident, err)
}

// Challenge implements auth.Challenger.
func (j *joining) Challenge(ctx context.Context, extra wamp.Dict) (*wamp.Authenticate, error) {
	s := j.s
	s.mu.Lock()
	if s.state != stateNew || s.auth == nil || s.auth.join != j {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	j.awaiting = true
	s.mu.Unlock()
	if err := s.peer.Send(&wamp.Challenge{AuthMethod: j.req.Method, Extra: extra}); err != nil {
		return nil, fmt.Errorf("sending CHALLENGE: %w", err)
	}
	s.countSent(wamp.TypeChallenge)
	select {
	case m := <-j.answers:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// authenticate passes the client's AUTHENTICATE to the authentication
// waiting for it.
func (s *Session) authenticate(a *sessionAuth, m *wamp.Authenticate) {
	s.mu.Lock()
	var j *joining
	if a != nil {
		j = a.join
	}
	switch {
	case j == nil:
		s.mu.Unlock()
		s.violation("received AUTHENTICATE before HELLO")
		return
	case !j.awaiting && j.answered:
		s.mu.Unlock()
		s.violation("received a second AUTHENTICATE for one CHALLENGE")
		return
	case !j.awaiting:
		s.mu.Unlock()
		s.violation("received AUTHENTICATE without a CHALLENGE")
		return
	}
	j.awaiting, j.answered = false, true
	s.mu.Unlock()
	j.answers <- m // room for one, and one per CHALLENGE
}

// finish ends the authentication: WELCOME with the identity, or ABORT.
func (j *joining) finish(ident *auth.Identity, err error) {
	defer j.cancel()
	s, pol := j.s, j.pol
	if err != nil {
		f := auth.AsFailure(err)
		s.mu.Lock()
		gone := s.state != stateNew || s.auth.join != j
		answered := j.answered
		s.mu.Unlock()
		if (answered || !gone) && !auth.Unchecked(err) {
			// A client that answered a CHALLENGE and hung up before the
			// verdict failed too: a flood of wrong tickets that does not
			// wait for its answers is slowed down like one that does.
			pol.Throttle.Failed(s.info.RemoteAddr)
			s.router.stats.auth.add(auth.Canonical(j.req.Method), false)
		}
		if gone {
			return
		}
		log := s.logger().With("realm", j.rlm.name, "authid", j.req.AuthID, "authmethod", j.req.Method)
		if f.Reason == wamp.ErrProtocolViolation {
			log.Info("protocol violation", "reason", f.Message)
		} else {
			log.Info("authentication failed", "reason", f.Reason, "detail", f.Detail)
		}
		s.abort(f.Reason, f.Message)
		return
	}
	s.welcome(j, ident)
}

// welcome makes the session a member of the realm with identity ident
// and sends WELCOME, unless the session has ended meanwhile.
func (s *Session) welcome(j *joining, ident *auth.Identity) {
	r, rlm := s.router, j.rlm
	a := &sessionAuth{method: ident.AuthMethod, provider: ident.AuthProvider, proof: ident.Proof}
	roles := rlm.roles.Load()
	if roles != nil {
		sub := &auth.Subject{Session: j.req.Session, Realm: string(rlm.name), AuthID: ident.AuthID, AuthRole: ident.AuthRole,
			AuthMethod: ident.AuthMethod, AuthProvider: ident.AuthProvider, Transport: j.req.Transport}
		a.checked, a.authz = true, roles.ForSession(sub, r)
		if role := roles.Get(ident.AuthRole); role != nil {
			a.setDisclosure(role)
		} else {
			s.logger().Warn("session's role is not defined in the realm: it may do nothing",
				"realm", rlm.name, "authid", ident.AuthID, "authrole", ident.AuthRole)
		}
	}
	s.mu.Lock()
	if s.state != stateNew || s.auth != nil && s.auth.join != j {
		s.mu.Unlock()
		return
	}
	s.realm, s.id, s.authid, s.authrole = rlm, j.req.Session, ident.AuthID, ident.AuthRole
	s.since = time.Now().UnixNano()
	s.auth = a
	s.state = stateEstablished
	s.mu.Unlock()
	r.stats.auth.add(cmp.Or(ident.AuthMethod, auth.Canonical(j.req.Method)), true)
	if j.pol != nil {
		// Before the WELCOME goes out: a client that reconnects with its
		// cookie as soon as it is welcomed must find the login
		// remembered.
		j.pol.Succeeded(j.req, ident)
	}
	if s.enterRealm(rlm) {
		if now := rlm.roles.Load(); a.checked && now != roles {
			// Router.SetRoles replaced them while this session joined,
			// and listed the realm's sessions before it was one.
			s.reauthorize(rlm, now)
		}
		s.sendWelcome(wamp.String(j.req.Details, "agent"), ident.AuthExtra)
		if now := rlm.auth.Load(); now != j.pol && !now.Admits(ident) {
			// Router.SetAuth revoked the credential while this session
			// joined, and listed the realm's sessions before it was
			// welcomed (it kills only welcomed ones).
			s.kill(killedByPrincipal, wamp.CloseKilled, credentialRevoked, false)
		}
	}
}

// enterRealm puts s, just established, in its realm's table, and reports
// whether it is still established then. The state changes under s's lock,
// the table under the realm's, which comes first in the lock order
// (doc.go), so the two are not one step: a session that ends in between
// (its connection closed) finds nothing to take out of the table, and is
// taken out here instead, not welcomed; else it would stay in the table
// for good. (Its end counted it out of Established; the count here
// balances that.)
func (s *Session) enterRealm(rlm *realm) bool {
	rlm.join(s)
	s.router.stats.Established.Add(1)
	s.mu.Lock()
	ended := s.state == stateClosed
	s.mu.Unlock()
	if ended {
		rlm.leave(s)
		return false
	}
	return true
}

// sendWelcome sends WELCOME to a session that has just become a member of
// its realm and, once it is queued, announces the session
// (wamp.session.on_join).
func (s *Session) sendWelcome(agent string, authextra map[string]any) {
	r, rlm := s.router, s.realm
	if hs := s.handshake; hs != nil {
		// Authentication is over: the TLS state (the peer's certificates,
		// the exporter secret) need not live as long as the session.
		hs.TLSState = nil
	}
	details := s.authDetails(make(wamp.Dict, 8))
	details["agent"] = r.cfg.Agent
	details["realm"] = string(rlm.name)
	details["roles"] = rlm.welcomeRoles
	if len(authextra) > 0 {
		details["authextra"] = authextra
	}
	welcome := &wamp.Welcome{Session: s.id, Details: details}
	err := s.peer.Send(welcome)
	if errors.Is(err, ErrTooLarge) {
		// A client that takes only small messages (RawSocket allows a
		// 512-byte limit) still joins: WELCOME without the feature lists,
		// which leaves it the Basic Profile.
		details["roles"] = wamp.Dict{"broker": wamp.Dict{}, "dealer": wamp.Dict{}}
		err = s.peer.Send(welcome)
	}
	if err != nil {
		s.sendFailed(wamp.TypeWelcome, err)
		return // never joined as far as the client knows: no on_join
	}
	s.countSent(wamp.TypeWelcome)
	s.mu.Lock()
	s.welcomed = true
	s.mu.Unlock()
	s.logger().Debug("session joined", "agent", agent, "authmethod", details["authmethod"],
		"authrole", s.authrole, "transport", s.info.Kind, "serializer", s.info.Serializer)
	s.joined()
	if rlm.removed.Load() {
		// Router.RemoveRealm took the realm out while this session joined
		// it, and listed the realm's sessions before it was welcomed (it
		// kills only welcomed ones). Every join, with or without a login,
		// ends here.
		s.kill(killedByRemoval, wamp.CloseKilled, realmRemoved, false)
	}
}

// authMethod returns how the session authenticated and who vouched for
// it: "anonymous" and "static" in a realm without authentication.
func (s *Session) authMethod() (method, provider string) {
	if a := s.auth; a != nil && a.method != "" {
		return a.method, a.provider
	}
	return "anonymous", "static"
}

// helloAnonymous joins a realm without authentication settings: anonymous
// clients only, with authrole "anonymous" and every permission unless the
// realm has roles.
func (s *Session) helloAnonymous(h *wamp.Hello, rlm *realm, announced clientRoles, features clientFeatures, id wamp.ID) {
	r := s.router
	if !rlm.anonymous {
		r.stats.auth.add(auth.MethodAnonymous, false)
		s.abort(wamp.ErrNotAuthorized, fmt.Sprintf("realm %q does not admit anonymous clients", h.Realm))
		return
	}
	// Nothing proves a HELLO's authid. A realm without roles gives every
	// client every permission, so the authid there is what the client
	// calls itself (as with routers that have no authentication), checked
	// only for what it may hold. A realm with roles authorizes, perhaps by
	// authid (a dynamic authorizer): there the authid is the router's.
	authid := fmt.Sprintf("anonymous-%d", id)
	roles := rlm.roles.Load()
	if claimed := wamp.String(h.Details, "authid"); claimed != "" && roles == nil {
		if !auth.ValidAuthID(claimed) {
			r.stats.auth.add(auth.MethodAnonymous, false)
			s.abort(wamp.ErrInvalidArgument, fmt.Sprintf("authid %q is not valid: 1 to 256 bytes of printable UTF-8", claimed))
			return
		}
		authid = claimed
	}
	if roles != nil {
		// Authorization without authentication: go through welcome for the
		// session's authorizer.
		req := &auth.Request{Realm: string(rlm.name), AuthID: authid, Method: auth.MethodAnonymous, Details: h.Details,
			Session: id, Transport: s.authTransport(), Caller: r}
		j := &joining{s: s, rlm: rlm, req: req, cancel: func() {}}
		s.mu.Lock()
		s.roles, s.features = announced, features
		s.mu.Unlock()
		s.welcome(j, &auth.Identity{AuthID: authid, AuthRole: "anonymous", AuthMethod: auth.MethodAnonymous, AuthProvider: "static"})
		return
	}
	s.mu.Lock()
	if s.state != stateNew { // aborted meanwhile (router shutdown)
		s.mu.Unlock()
		return
	}
	s.realm, s.roles, s.features, s.id, s.authid, s.authrole = rlm, announced, features, id, authid, "anonymous"
	s.since = time.Now().UnixNano()
	s.state = stateEstablished
	s.mu.Unlock()
	r.stats.auth.add(auth.MethodAnonymous, true)
	if s.enterRealm(rlm) {
		s.sendWelcome(wamp.String(h.Details, "agent"), nil)
	}
}

// forgetCookie makes the realm forget the identity the connection's
// authentication cookie remembers: the client logged out.
func (s *Session) forgetCookie() {
	if p := s.realm.auth.Load(); p != nil && p.Cookies != nil && s.handshake != nil && s.handshake.Cookie != "" {
		p.Cookies.Forget(s.handshake.Cookie, string(s.realm.name))
		s.logger().Debug("logged out: the session's cookie is forgotten")
	}
}

// authTransport describes the connection for the authenticators.
func (s *Session) authTransport() *auth.Transport {
	ci := &s.info
	t := &auth.Transport{Kind: ci.Kind, Serializer: ci.Serializer, RemoteAddr: ci.RemoteAddr, TLS: s.tls}
	hs := s.handshake
	if hs == nil {
		return t
	}
	t.Cookie, t.CookieIssued = hs.Cookie, hs.CookieIssued
	if cs := hs.TLSState; cs != nil {
		t.TLS = true
		t.TLSUnique = cs.TLSUnique
		t.PeerCertificates = cs.PeerCertificates
		if ekm, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
			t.TLSExporter = ekm
		}
	}
	return t
}

// maxAutoRealms bounds the realms created from the realm template, so that
// clients naming new realms cannot grow the router without end.
const maxAutoRealms = 1024

// realmFor returns the realm named name: a configured one, one created
// earlier from the template, or a new one from the template. why says why
// there is none.
func (r *Router) realmFor(name wamp.URI) (*realm, string) {
	if rl := r.realms.get(name); rl != nil {
		return rl, ""
	}
	tmpl := r.cfg.RealmTemplate
	if tmpl == nil {
		return nil, fmt.Sprintf("realm %q does not exist", name)
	}
	if !wamp.ValidURI(name, tmpl.StrictURIs, false) || len(name) >= 5 && name[:5] == "wamp." {
		return nil, fmt.Sprintf("realm %q does not exist, and is not a name a realm can be created with", name)
	}
	r.autoMu.Lock()
	defer r.autoMu.Unlock()
	if rl := r.autoRealms[name]; rl != nil {
		return rl, ""
	}
	if rl := r.realms.get(name); rl != nil {
		return rl, "" // AddRealm added it meanwhile
	}
	if len(r.autoRealms) >= maxAutoRealms {
		return nil, fmt.Sprintf("realm %q does not exist, and the router has created as many realms as it may (%d)", name, maxAutoRealms)
	}
	rc := *tmpl
	rc.Name = name
	rl := newRealm(r, rc)
	rl.welcomeRoles = routerRoles(rl)
	if r.autoRealms == nil {
		r.autoRealms = make(map[wamp.URI]*realm)
	}
	r.autoRealms[name] = rl
	r.log.Info("realm created from the template", "realm", name)
	return rl, ""
}

// realmNamed returns a configured or auto-created realm, or nil.
func (r *Router) realmNamed(name wamp.URI) *realm {
	if rl := r.realms.get(name); rl != nil {
		return rl
	}
	r.autoMu.Lock()
	defer r.autoMu.Unlock()
	return r.autoRealms[name]
}

// autoRealmsState is embedded in Router: the realms created from the
// template.
type autoRealmsState struct {
	autoMu     sync.Mutex
	autoRealms map[wamp.URI]*realm
}

// disclosure returns whether this session, as caller and as publisher, is
// disclosed to callees and subscribers: its role's setting where the role
// has one, else the realm's (RealmConfig.DiscloseCaller and
// DisclosePublisher).
func (s *Session) disclosure() (caller, publisher Disclosure) {
	caller, publisher = s.realm.cfg.DiscloseCaller, s.realm.cfg.DisclosePublisher
	if a := s.auth; a != nil {
		if a.overrides[0] {
			caller = a.disclose[0]
		}
		if a.overrides[1] {
			publisher = a.disclose[1]
		}
	}
	return caller, publisher
}

// setDisclosure takes the role's disclosure overrides.
func (a *sessionAuth) setDisclosure(role *auth.Role) {
	for i, d := range [2]auth.Disclose{role.DiscloseCaller, role.DisclosePublisher} {
		switch d {
		case auth.DiscloseOnRequest:
			a.disclose[i], a.overrides[i] = DiscloseOnRequest, true
		case auth.DiscloseAlways:
			a.disclose[i], a.overrides[i] = DiscloseAlways, true
		case auth.DiscloseNever:
			a.disclose[i], a.overrides[i] = DiscloseNever, true
		}
	}
}
