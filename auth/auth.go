package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/junction-wamp/junction/wamp"
)

// Authentication method names as they appear in HELLO.Details.authmethods.
const (
	MethodAnonymous  = "anonymous"
	MethodTicket     = "ticket"
	MethodWAMPCRA    = "wampcra"
	MethodSCRAM      = "wamp-scram"
	MethodCryptosign = "cryptosign"
	MethodTLS        = "tls"
	MethodCookie     = "cookie"

	// methodSCRAMAutobahn is the name Autobahn|Python and Crossbar.io use
	// for WAMP-SCRAM on the wire. They speak a dialect of it (see
	// scram.go); an exchange started under this name follows that dialect.
	methodSCRAMAutobahn = "scram"
)

// Methods lists the methods this package implements, canonical names.
var Methods = []string{MethodAnonymous, MethodTicket, MethodWAMPCRA, MethodSCRAM, MethodCryptosign, MethodTLS, MethodCookie}

// Canonical maps a method name as a client may send it to the name this
// package uses: "scram" is "wamp-scram"; other names are returned as they
// are.
func Canonical(method string) string {
	if method == methodSCRAMAutobahn {
		return MethodSCRAM
	}
	return method
}

// Request is a client's request to join a realm: what its HELLO said and
// the transport it came on.
type Request struct {
	Realm string
	// AuthID is HELLO.Details.authid, "" when the client sent none.
	AuthID string
	// Method is the authmethod being tried, as the client named it
	// ("scram" stays "scram": the dialect depends on it).
	Method string
	// AuthExtra is HELLO.Details.authextra (nil when absent).
	AuthExtra wamp.Dict
	// Details is the whole HELLO.Details.
	Details wamp.Dict
	// Session is the id the session will have once it is welcomed.
	Session wamp.ID
	// Transport is the connection the client came on.
	Transport *Transport
	// Caller calls WAMP procedures for dynamic authenticators; nil when
	// there is none.
	Caller Caller
	// KDF schedules the router's password hashes (ticket): a router has
	// one for all its realms. nil computes them at once, unbounded.
	KDF *KDFLimiter
}

// remoteAddr is the client's address, "" when the transport is unknown.
func (r *Request) remoteAddr() string {
	if r.Transport == nil {
		return ""
	}
	return r.Transport.RemoteAddr
}

// Transport describes the connection a client came on.
type Transport struct {
	Kind       string // "websocket" or "rawsocket"
	Serializer string
	RemoteAddr string
	TLS        bool
	// TLSUnique is the connection's tls-unique channel binding (RFC 5929,
	// the first Finished message); nil without TLS, and on TLS 1.3, which
	// has no tls-unique (Go's crypto/tls leaves it nil there).
	TLSUnique []byte
	// TLSExporter is the tls-exporter channel binding (RFC 9266, 32 bytes
	// exported with label "EXPORTER-Channel-Binding"); nil without TLS or
	// when the connection cannot export keying material (TLS 1.2 without
	// extended master secret).
	TLSExporter []byte
	// PeerCertificates is the client's TLS certificate chain, leaf first;
	// nil when it presented none.
	PeerCertificates []*x509.Certificate
	// Cookie is the value of the router's authentication cookie sent with
	// the WebSocket upgrade (or set by it); "" when cookies are off.
	Cookie string
	// CookieIssued says that the upgrade set Cookie on this connection.
	CookieIssued bool
}

// Dict describes the transport for a dynamic authenticator or authorizer:
// kind, serializer, peer address, whether it is TLS and the SHA-256
// fingerprint of the client certificate. Cookies and channel bindings are
// left out.
func (t *Transport) Dict() wamp.Dict {
	if t == nil {
		return wamp.Dict{}
	}
	d := wamp.Dict{"type": t.Kind, "serializer": t.Serializer, "peer": t.RemoteAddr, "tls": t.TLS}
	if len(t.PeerCertificates) > 0 {
		d["client_cert_sha256"] = Fingerprint(t.PeerCertificates[0])
	}
	return d
}

// channelBinding returns the binding data of type typ ("tls-unique",
// "tls-exporter") as WAMP-Cryptosign and WAMP-SCRAM use it: 32 bytes, the
// SHA-256 of the tls-unique value (as Autobahn computes it) or the exported
// key. It fails when the transport does not offer typ.
func (t *Transport) channelBinding(typ string) ([]byte, error) {
	switch typ {
	case "tls-unique":
		if t == nil || !t.TLS {
			return nil, errors.New("channel binding tls-unique needs a TLS transport")
		}
		if len(t.TLSUnique) == 0 {
			return nil, errors.New("channel binding tls-unique is not available on this TLS connection (TLS 1.3 has none); use tls-exporter or TLS 1.2")
		}
		sum := sha256.Sum256(t.TLSUnique)
		return sum[:], nil
	case "tls-exporter":
		if t == nil || !t.TLS || len(t.TLSExporter) == 0 {
			return nil, errors.New("channel binding tls-exporter is not available on this connection")
		}
		return t.TLSExporter, nil
	}
	return nil, fmt.Errorf("channel binding %q is not supported (tls-unique, tls-exporter)", typ)
}

// Fingerprint returns the SHA-256 of a certificate's DER encoding, in lower
// case hex: how principals name TLS client certificates.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Identity is who a client was authenticated as: what WELCOME.Details
// says.
type Identity struct {
	AuthID       string
	AuthRole     string
	AuthMethod   string
	AuthProvider string // "static", "dynamic", "cookie", "tls" ...
	// AuthExtra goes to the client in WELCOME.Details.authextra (nil for
	// none).
	AuthExtra wamp.Dict
	// Proof names the stored credential of a static principal that the
	// login proved (its method and a digest, never the credential), ""
	// for a login that proved none (anonymous, dynamic). A cookie login
	// keeps the proof of the login its cookie remembers. Principals.Admits
	// judges it when the principals are reloaded.
	Proof string `json:",omitempty"`
}

// Authenticator implements one authentication method.
type Authenticator interface {
	// Knows reports whether the authenticator may be able to
	// authenticate req (a static one knows the authid, or public key; a
	// dynamic one always may). The router skips to the client's next
	// method when it does not. It must not block.
	Knows(req *Request) bool
	// Authenticate runs the exchange for req on a goroutine of its own:
	// it may wait for the client (through c), for a key derivation or for
	// a dynamic authenticator, until ctx is done. It returns the identity,
	// or an error: a *Failure says what the ABORT says, any other error
	// is an authentication failure.
	Authenticate(ctx context.Context, req *Request, c Challenger) (*Identity, error)
}

// Immediate is implemented by authenticators that decide from the HELLO
// and the transport alone, without a challenge or waiting: the router
// calls AuthenticateNow inline instead of Authenticate.
type Immediate interface {
	AuthenticateNow(req *Request) (*Identity, error)
}

// Challenger sends a CHALLENGE to the client and returns its AUTHENTICATE.
type Challenger interface {
	// Challenge sends [CHALLENGE, Method, extra], with the method named
	// as the client named it, and waits for the answer until ctx is done.
	Challenge(ctx context.Context, extra wamp.Dict) (*wamp.Authenticate, error)
}

// Failure is why a client is refused: the ABORT's reason and message.
type Failure struct {
	Reason  wamp.URI // wamp.error.authentication_failed, ...
	Message string   // for the client: never tells whether an authid exists
	// Detail is for the router's log: what really went wrong. Never a
	// secret.
	Detail string
}

func (f *Failure) Error() string {
	if f.Detail != "" {
		return string(f.Reason) + ": " + f.Message + " (" + f.Detail + ")"
	}
	return string(f.Reason) + ": " + f.Message
}

// msgAuthFailed is what every failed authentication says to the client,
// whatever the cause: an unknown authid, a wrong secret, a bad signature.
const msgAuthFailed = "authentication failed"

// failed is an authentication failure, with detail for the log.
func failed(format string, args ...any) *Failure {
	return &Failure{Reason: wamp.ErrAuthenticationFailed, Message: msgAuthFailed, Detail: fmt.Sprintf(format, args...)}
}

// malformed is an AUTHENTICATE (or HELLO authextra) that breaks the
// method's rules: a protocol violation, whose message says which rule. It
// depends only on what the client sent, never on the principal.
func malformed(format string, args ...any) *Failure {
	msg := fmt.Sprintf(format, args...)
	return &Failure{Reason: wamp.ErrProtocolViolation, Message: msg}
}

// AsFailure turns an error from Authenticate into the Failure the router
// aborts with: a *Failure as it is, ctx errors as a timeout, anything else
// as an authentication failure whose detail is the error.
func AsFailure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Failure{Reason: wamp.ErrAuthenticationFailed, Message: "authentication timed out", Detail: err.Error()}
	}
	return failed("%v", err)
}

// extraString reads a string from an authextra-like dict: "" and ok when
// absent or null, ok false when present and not a string.
func extraString(d wamp.Dict, key string) (string, bool) {
	v, present := d[key]
	if !present || v == nil {
		return "", true
	}
	s, ok := v.(string)
	return s, ok
}

// ValidAuthID reports whether s may be an authid: printable, no control
// characters, at most 256 bytes.
func ValidAuthID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return !strings.ContainsRune(s, '\uFFFD')
}
