package auth

import (
	"context"
	"strconv"

	"github.com/junction-wamp/junction/wamp"
)

// Anonymous lets clients in without credentials, with Role.
type Anonymous struct {
	Role string
}

// Knows is always true.
func (a *Anonymous) Knows(*Request) bool { return true }

// Authenticate is AuthenticateNow.
func (a *Anonymous) Authenticate(_ context.Context, req *Request, _ Challenger) (*Identity, error) {
	return a.AuthenticateNow(req)
}

// AuthenticateNow welcomes the client as anonymous-<session id> (the authid
// a client asks for is not honoured: nothing proves it).
func (a *Anonymous) AuthenticateNow(req *Request) (*Identity, error) {
	return &Identity{
		AuthID:       "anonymous-" + strconv.FormatUint(uint64(req.Session), 10),
		AuthRole:     a.Role,
		AuthMethod:   MethodAnonymous,
		AuthProvider: "static",
	}, nil
}

// TLSCert authenticates with the client's TLS certificate: the principal
// whose certificate fingerprint it is. The TLS handshake has already shown
// that the client holds the certificate's private key (and, on listeners
// with client_auth: verify, that a trusted CA issued it).
type TLSCert struct {
	Principals *Principals
}

// Knows reports whether the client's certificate belongs to a principal.
func (a *TLSCert) Knows(req *Request) bool {
	_, err := a.AuthenticateNow(req)
	return err == nil
}

// Authenticate is AuthenticateNow.
func (a *TLSCert) Authenticate(_ context.Context, req *Request, _ Challenger) (*Identity, error) {
	return a.AuthenticateNow(req)
}

// AuthenticateNow finds the principal of the client certificate.
func (a *TLSCert) AuthenticateNow(req *Request) (*Identity, error) {
	t := req.Transport
	if t == nil || len(t.PeerCertificates) == 0 {
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: "tls authentication needs a TLS client certificate"}
	}
	fp := Fingerprint(t.PeerCertificates[0])
	p := a.Principals.ByCertificate(fp)
	switch {
	case p == nil:
		return nil, failed("no principal with certificate %s", fp)
	case req.AuthID != "" && req.AuthID != p.AuthID:
		return nil, failed("certificate %s belongs to %q, not to %q", fp, p.AuthID, req.AuthID)
	}
	return p.identity(MethodTLS, "tls", certProof(fp), nil), nil
}

// CookieAuth authenticates with the router's WebSocket cookie: a client
// whose cookie was set on a connection that authenticated to this realm
// before (by any other method) gets the same identity again, with
// authmethod "cookie".
type CookieAuth struct {
	Store *Cookies
	// Principals, when set, are the realm's static principals: a cookie
	// that remembers a login with a credential they no longer hold (see
	// Principals.Admits) logs in no more.
	Principals *Principals
}

// Knows reports whether the cookie remembers an identity in the realm.
func (a *CookieAuth) Knows(req *Request) bool {
	_, err := a.AuthenticateNow(req)
	return err == nil
}

// Authenticate is AuthenticateNow.
func (a *CookieAuth) Authenticate(_ context.Context, req *Request, _ Challenger) (*Identity, error) {
	return a.AuthenticateNow(req)
}

// AuthenticateNow looks the cookie up.
func (a *CookieAuth) AuthenticateNow(req *Request) (*Identity, error) {
	if req.Transport == nil || req.Transport.Cookie == "" {
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: "cookie authentication needs the router's cookie (WebSocket only)"}
	}
	id, ok := a.Store.Lookup(req.Transport.Cookie, req.Realm)
	if !ok {
		return nil, failed("the cookie remembers no session in realm %q", req.Realm)
	}
	if req.AuthID != "" && req.AuthID != id.AuthID {
		return nil, failed("the cookie is %q's, not %q's", id.AuthID, req.AuthID)
	}
	if a.Principals != nil && !a.Principals.Admits(id) {
		return nil, failed("the cookie remembers a login of %q with a credential the realm no longer has", id.AuthID)
	}
	out := *id
	out.AuthMethod, out.AuthProvider = MethodCookie, "cookie"
	out.AuthExtra = nil
	return &out, nil
}
