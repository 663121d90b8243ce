package auth

import (
	"strings"

	"github.com/junction-wamp/junction/wamp"
)

// Policy is how one realm authenticates its clients: the authenticators
// of each method, in the order they are tried, the throttle for repeated
// failures and, when cookie authentication is on, the cookie store.
type Policy struct {
	methods map[string][]Authenticator
	// Throttle slows down repeated failures; nil for none.
	Throttle *Throttle
	// Cookies, when set, remembers every successful authentication of a
	// connection that has a cookie, for MethodCookie.
	Cookies *Cookies
	// principals are the static principals the authenticators added
	// check against (the first table Add met), for Admits.
	principals *Principals
}

// Admits reports whether a session authenticated as id may stay in the
// realm under this policy: whether its login proved no stored credential
// or one the policy's principals still hold (Principals.Admits).
func (p *Policy) Admits(id *Identity) bool { return id.Proof == "" || p.principals.Admits(id) }

// Follow makes p the successor of old, the policy it replaces in a
// running realm (a reload of the principals): p takes old's throttle,
// with the failures it counted, and the key that old's principals derive
// the challenges to unknown authids from. A mock challenge must not
// change while the realm runs (see mockParams.mockSalt): if those of
// unknown authids changed at a reload and those of principals whose
// credential did not change stayed, comparing them before and after
// would tell which authids exist. Call it before p is used.
func (p *Policy) Follow(old *Policy) {
	p.Throttle = old.Throttle
	if p.principals != nil && old.principals != nil {
		p.principals.mock.key = old.principals.mock.key
		p.principals.keepCRAProofs(old.principals)
	}
}

// tabled is implemented by the authenticators of static principals.
type tabled interface{ principals() *Principals }

func (a *Ticket) principals() *Principals     { return a.Principals }
func (a *TLSCert) principals() *Principals    { return a.Principals }
func (a *Cryptosign) principals() *Principals { return a.src.table() }
func (a *WAMPCRA) principals() *Principals    { return a.src.table() }
func (a *SCRAM) principals() *Principals      { return a.src.table() }

// Add makes a authenticate method (canonical name), after the
// authenticators already added for it.
func (p *Policy) Add(method string, a Authenticator) {
	if p.methods == nil {
		p.methods = make(map[string][]Authenticator)
	}
	p.methods[method] = append(p.methods[method], a)
	if t, ok := a.(tabled); ok && p.principals == nil {
		p.principals = t.principals()
	}
}

// Accepts reports whether the policy has an authenticator for method.
func (p *Policy) Accepts(method string) bool { return len(p.methods[Canonical(method)]) > 0 }

// Choose picks the method and authenticator for req among the methods the
// client offered (HELLO.Details.authmethods; none means anonymous), in
// the client's order: the first method whose authenticator knows the
// client; failing that, the first offered method the realm has, whose
// authenticator then challenges as if it knew the client and fails, so
// that the refusal does not tell whether the authid exists. It sets
// req.Method. With no offered method that the realm accepts, it returns a
// *Failure with wamp.error.no_auth_method.
func (p *Policy) Choose(req *Request, offered []string) (Authenticator, *Failure) {
	if len(offered) == 0 {
		offered = []string{MethodAnonymous}
	}
	fallback, fallbackMethod := Authenticator(nil), ""
	for _, m := range offered {
		as := p.methods[Canonical(m)]
		req.Method = m
		for _, a := range as {
			if a.Knows(req) {
				return a, nil
			}
		}
		if fallback == nil && len(as) > 0 {
			fallback, fallbackMethod = as[len(as)-1], m
		}
	}
	if fallback != nil {
		req.Method = fallbackMethod
		return fallback, nil
	}
	req.Method = ""
	return nil, &Failure{Reason: wamp.ErrNoAuthMethod,
		Message: "none of the authentication methods offered (" + strings.Join(offered, ", ") + ") is accepted in realm " + req.Realm}
}

// Succeeded records a successful authentication: the cookie of the
// connection, if any, remembers the identity (neither a cookie login
// itself nor an anonymous one is remembered). Only a cookie the upgrade of
// this very connection issued, or one that already remembers the same
// identity, is taken: a value planted in the client's cookie store by
// someone else (session fixation) never gets tied to this login.
func (p *Policy) Succeeded(req *Request, id *Identity) {
	t := req.Transport
	if p.Cookies == nil || t == nil || t.Cookie == "" || id.AuthMethod == MethodCookie || id.AuthMethod == MethodAnonymous {
		return
	}
	if !t.CookieIssued {
		known, ok := p.Cookies.Lookup(t.Cookie, req.Realm)
		if !ok || known.AuthID != id.AuthID || known.AuthRole != id.AuthRole {
			return
		}
	}
	p.Cookies.Remember(t.Cookie, req.Realm, id)
}
