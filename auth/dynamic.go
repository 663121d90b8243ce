package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// Dynamic asks a WAMP procedure, registered by a trusted component, about
// the principals of a realm. The procedure is called as
//
//	procedure(realm, authid, details)
//
// where details holds authmethod (as the client named it), authmethods,
// authextra (HELLO.Details.authextra), session (the id the session will
// get), transport (see Transport.Dict) and, for ticket, ticket (what the
// client sent). It answers with the role as a string, or with a dict:
//
//	role        the role (required)
//	authid      the authid, when it differs from the one asked for
//	extra       a dict sent to the client as WELCOME.Details.authextra
//	secret      wampcra: the key (the derived key when salted) ...
//	salt, iterations, keylen   ... and, when salted, its parameters
//	pubkey      cryptosign: the hex public key(s) allowed (a string or a
//	            list; when absent, the key the client presented is)
//	scram       wamp-scram: a dict kdf, iterations, memory, salt,
//	            stored_key, server_key (all binary values in base64)
//
// An ERROR answer refuses the client: with the callee's error URI and
// message when it is wamp.error.authentication_failed,
// wamp.error.not_authorized or wamp.error.no_such_role, and as
// wamp.error.authentication_failed otherwise.
type Dynamic struct {
	// Realm is where the procedure is registered; "" means the realm the
	// client joins.
	Realm     string
	Procedure string
	// Timeout bounds the call; 0 means DefaultCallTimeout.
	Timeout time.Duration
}

func (d *Dynamic) ref() procedureRef { return procedureRef{d.Realm, d.Procedure, d.Timeout} }

// Authenticator returns the dynamic authenticator for method (canonical
// name): ticket, wampcra, wamp-scram or cryptosign.
func (d *Dynamic) Authenticator(method string) (Authenticator, error) {
	switch method {
	case MethodTicket:
		return &dynamicTicket{d}, nil
	case MethodWAMPCRA:
		return &WAMPCRA{src: dynamicSource{d}, mock: &mockParams{role: "anonymous"}}, nil
	case MethodSCRAM:
		return &SCRAM{src: dynamicSource{d}, mock: &mockParams{}}, nil
	case MethodCryptosign:
		return &Cryptosign{src: dynamicSource{d}}, nil
	}
	return nil, fmt.Errorf("method %q cannot be dynamic (ticket, wampcra, wamp-scram, cryptosign)", method)
}

// call asks the procedure about req; extra details are added to the
// standard ones.
func (d *Dynamic) call(ctx context.Context, req *Request, more wamp.Dict) (*Principal, error) {
	methods, _ := req.Details["authmethods"].([]any)
	details := wamp.Dict{
		"authmethod":  req.Method,
		"authmethods": methods,
		"authextra":   req.AuthExtra,
		"session":     uint64(req.Session),
		"transport":   req.Transport.Dict(),
	}
	for k, v := range more {
		details[k] = v
	}
	ref := d.ref()
	res := callWait(ctx, req.Caller, ref.realm(req.Realm), d.Procedure, wamp.List{req.Realm, req.AuthID, details}, nil, ref.timeout())
	if res.Err != nil {
		var ce *CallError
		if errors.As(res.Err, &ce) {
			switch ce.URI {
			case wamp.ErrAuthenticationFailed, wamp.ErrNotAuthorized, wamp.ErrNoSuchRole:
				msg := msgAuthFailed
				if len(ce.Args) > 0 {
					if s, ok := ce.Args[0].(string); ok {
						msg = s
					}
				}
				return nil, &Failure{Reason: ce.URI, Message: msg, Detail: "dynamic authenticator " + d.Procedure + " refused"}
			}
		}
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: msgAuthFailed,
			Detail: fmt.Sprintf("dynamic authenticator %s: %v", d.Procedure, res.Err)}
	}
	if len(res.Args) == 0 {
		return nil, failed("dynamic authenticator %s answered nothing", d.Procedure)
	}
	authid := req.AuthID
	if pk, _ := extraString(req.AuthExtra, "pubkey"); authid == "" && req.Method == MethodCryptosign {
		authid = pk // the spec's suggestion for a client that names no authid
	}
	p, err := principalFromAnswer(authid, res.Args[0])
	if err != nil {
		return nil, failed("dynamic authenticator %s: %v", d.Procedure, err)
	}
	return p, nil
}

// principalFromAnswer reads a dynamic authenticator's answer.
func principalFromAnswer(authid string, v any) (*Principal, error) {
	if role, ok := v.(string); ok {
		if role == "" {
			return nil, errors.New("the role is empty")
		}
		if !ValidAuthID(authid) {
			return nil, fmt.Errorf("authid %q is not valid: 1 to 256 bytes of printable UTF-8", authid)
		}
		return &Principal{AuthID: authid, Role: role}, nil
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the answer must be a role (string) or a dict, not %T", v)
	}
	p := &Principal{AuthID: authid}
	var bad error
	str := func(key string) string {
		s, ok := extraString(d, key)
		if !ok && bad == nil {
			bad = fmt.Errorf("%s must be a string", key)
		}
		return s
	}
	p.Role = str("role")
	if a := str("authid"); a != "" {
		p.AuthID = a
	}
	if bad == nil && !ValidAuthID(p.AuthID) {
		bad = fmt.Errorf("authid %q is not valid: 1 to 256 bytes of printable UTF-8", p.AuthID)
	}
	if e, ok := d["extra"].(map[string]any); ok {
		p.Extra = e
	}
	if secret := str("secret"); secret != "" {
		p.CRA = &CRAKey{Key: []byte(secret), Salt: str("salt")}
		if p.CRA.Salt != "" {
			it, ok1 := wamp.AsUint(d["iterations"])
			kl, ok2 := wamp.AsUint(d["keylen"])
			if !ok1 || !ok2 || it == 0 || kl == 0 {
				return nil, errors.New("a salted secret needs iterations and keylen")
			}
			p.CRA.Iterations, p.CRA.KeyLen = int(it), int(kl)
		}
	}
	switch pk := d["pubkey"].(type) {
	case string:
		k, err := hex.DecodeString(pk)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, errors.New("pubkey must be 64 hex digits")
		}
		p.PublicKeys = append(p.PublicKeys, k)
	case []any:
		for _, e := range pk {
			s, _ := e.(string)
			k, err := hex.DecodeString(s)
			if err != nil || len(k) != ed25519.PublicKeySize {
				return nil, errors.New("pubkey must be 64 hex digits")
			}
			p.PublicKeys = append(p.PublicKeys, k)
		}
	}
	if sc, ok := d["scram"].(map[string]any); ok {
		c, err := scramFromDict(sc)
		if err != nil {
			return nil, err
		}
		p.SCRAM = []*SCRAMCredential{c}
	}
	if bad != nil {
		return nil, bad
	}
	if p.Role == "" {
		return nil, errors.New("the answer has no role")
	}
	if p.AuthID == "" {
		return nil, errors.New("the answer has no authid")
	}
	return p, nil
}

func scramFromDict(d map[string]any) (*SCRAMCredential, error) {
	c := &SCRAMCredential{}
	c.KDF, _ = d["kdf"].(string)
	it, _ := wamp.AsUint(d["iterations"])
	mem, _ := wamp.AsUint(d["memory"])
	c.Iterations, c.Memory = int(it), int(mem)
	for key, dst := range map[string]*[]byte{"salt": &c.Salt, "stored_key": &c.StoredKey, "server_key": &c.ServerKey} {
		s, _ := d[key].(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("scram.%s must be base64", key)
		}
		*dst = b
	}
	if c.Iterations == 0 || (c.KDF != KDFPBKDF2 && c.KDF != KDFArgon2id13 && c.KDF != KDFArgon2id13Autobahn) {
		return nil, errors.New("scram needs a known kdf and iterations")
	}
	return c, nil
}

// dynamicSource looks principals up by calling the procedure.
type dynamicSource struct{ d *Dynamic }

func (s dynamicSource) lookup(ctx context.Context, req *Request) (*Principal, error) {
	return s.d.call(ctx, req, nil)
}
func (dynamicSource) table() *Principals { return nil }
func (dynamicSource) provider() string   { return "dynamic" }

// dynamicTicket sends the ticket to the procedure, which decides.
type dynamicTicket struct{ d *Dynamic }

func (a *dynamicTicket) Knows(*Request) bool { return true }

func (a *dynamicTicket) Authenticate(ctx context.Context, req *Request, c Challenger) (*Identity, error) {
	ans, err := c.Challenge(ctx, wamp.Dict{})
	if err != nil {
		return nil, err
	}
	p, err := a.d.call(ctx, req, wamp.Dict{"ticket": ans.Signature})
	if err != nil {
		return nil, err
	}
	return p.identity(MethodTicket, "dynamic", "", nil), nil
}
