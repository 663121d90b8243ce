package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/junction-wamp/junction/wamp"
)

// Principal is one identity that may authenticate: its authid, role and
// the stored form of its credentials, one per method it may use.
type Principal struct {
	AuthID string
	Role   string
	// Extra is sent to the client in WELCOME.Details.authextra.
	Extra wamp.Dict

	// Ticket is the hash of the ticket (see HashPassword); nil when the
	// principal does not use ticket authentication.
	Ticket *PasswordHash
	// CRA is the WAMP-CRA key; nil when the principal does not use
	// wampcra.
	CRA *CRAKey
	// SCRAM holds WAMP-SCRAM credentials, one per key derivation function
	// (a client uses the first its dialect accepts, see scram.go).
	SCRAM []*SCRAMCredential
	// PublicKeys are the Ed25519 keys the principal may use with
	// cryptosign.
	PublicKeys []ed25519.PublicKey
	// CertFingerprints are SHA-256 fingerprints (lower-case hex, see
	// Fingerprint) of the TLS client certificates the principal may
	// present.
	CertFingerprints []string
}

// Principals is the static table of a realm's principals. Build it with
// NewPrincipals; it is read-only afterwards and safe for concurrent use.
type Principals struct {
	byAuthID map[string]*Principal
	byKey    map[string]*Principal // hex public key -> principal
	byCert   map[string]*Principal // certificate fingerprint -> principal
	// mock is used for challenges to unknown principals, so that they look
	// like the challenges to known ones.
	mock mockParams
	// craProofs are the proofs of the unsalted wampcra secrets, each
	// derived when first needed (*Principal -> string, see craProof).
	craProofs sync.Map
}

// mockParams shapes the challenges sent for an authid that does not exist.
type mockParams struct {
	key   [32]byte // derives a stable salt per authid
	role  string
	cra   *CRAKey // salted or not, like the realm's principals
	scram *SCRAMCredential
	// ticket is checked against for an authid without a ticket: the KDF,
	// costs and lengths of the realm's first ticket, random salt and
	// hash, so that it costs what a wrong ticket of a known authid does
	// and verifies nothing. nil when no principal has a ticket.
	ticket *PasswordHash
}

// NewPrincipals indexes ps by authid, public key and certificate
// fingerprint. Callers (the config package) check that authids, keys and
// fingerprints are unique; a later duplicate replaces an earlier one.
func NewPrincipals(ps []*Principal) *Principals {
	t := &Principals{
		byAuthID: make(map[string]*Principal, len(ps)),
		byKey:    make(map[string]*Principal),
		byCert:   make(map[string]*Principal),
	}
	rand.Read(t.mock.key[:])
	t.mock.role = "anonymous"
	for i, p := range ps {
		if i == 0 {
			t.mock.role = p.Role
		}
		t.byAuthID[p.AuthID] = p
		for _, k := range p.PublicKeys {
			t.byKey[string(k)] = p
		}
		for _, f := range p.CertFingerprints {
			t.byCert[f] = p
		}
		if p.CRA != nil && (t.mock.cra == nil || p.CRA.Salt != "") {
			t.mock.cra = p.CRA
		}
		if len(p.SCRAM) > 0 && t.mock.scram == nil {
			t.mock.scram = p.SCRAM[0]
		}
		if p.Ticket != nil && t.mock.ticket == nil {
			t.mock.ticket = dummyLike(p.Ticket)
		}
	}
	return t
}

// dummyLike returns a hash with h's KDF, costs and lengths and a random
// salt and hash: checking a password against it costs what checking it
// against h does, and (but with probability 2^-128 and less) fails.
func dummyLike(h *PasswordHash) *PasswordHash {
	d := *h
	d.Salt, d.Hash = make([]byte, len(h.Salt)), make([]byte, len(h.Hash))
	rand.Read(d.Salt)
	rand.Read(d.Hash)
	return &d
}

// Get returns the principal with authid, or nil.
func (t *Principals) Get(authid string) *Principal {
	if t == nil {
		return nil
	}
	return t.byAuthID[authid]
}

// ByPublicKey returns the principal with Ed25519 key k, or nil.
func (t *Principals) ByPublicKey(k ed25519.PublicKey) *Principal {
	if t == nil {
		return nil
	}
	return t.byKey[string(k)]
}

// ByCertificate returns the principal with the certificate fingerprint,
// or nil.
func (t *Principals) ByCertificate(fingerprint string) *Principal {
	if t == nil {
		return nil
	}
	return t.byCert[fingerprint]
}

// Len returns the number of principals.
func (t *Principals) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byAuthID)
}

// mockSalt returns n bytes derived from authid, the same for every
// challenge to that authid: a mock challenge to an unknown authid must not
// change from one attempt to the next, or it would give itself away.
func (m *mockParams) mockSalt(authid string, n int) []byte {
	h := hmac.New(sha256.New, m.key[:])
	h.Write([]byte("salt\x00" + authid))
	return h.Sum(nil)[:n]
}

// A source finds the principal a request names: the static table, or a
// dynamic authenticator. lookup returns nil, nil for an unknown principal.
type source interface {
	lookup(ctx context.Context, req *Request) (*Principal, error)
	// table returns the principals of a static source, nil for a
	// dynamic one.
	table() *Principals
	provider() string
}

// knows reports whether src may know the principal of req: for a static
// source, whether it has the authid with a credential has accepts; a
// dynamic source always may.
func knows(src source, req *Request, has func(*Principal) bool) bool {
	t := src.table()
	if t == nil {
		return true
	}
	p := t.Get(req.AuthID)
	return p != nil && has(p)
}

// staticSource finds principals by authid in a table.
type staticSource struct{ t *Principals }

func (s staticSource) lookup(_ context.Context, req *Request) (*Principal, error) {
	return s.t.Get(req.AuthID), nil
}
func (s staticSource) table() *Principals { return s.t }
func (staticSource) provider() string     { return "static" }

// identity is the identity a principal authenticated with method gets;
// proof names the stored credential it matched, "" for a principal that
// is not in a static table.
func (p *Principal) identity(method, provider, proof string, extra wamp.Dict) *Identity {
	ae := extra
	if len(p.Extra) > 0 {
		ae = make(wamp.Dict, len(p.Extra)+len(extra))
		for k, v := range p.Extra {
			ae[k] = v
		}
		for k, v := range extra {
			ae[k] = v
		}
	}
	return &Identity{AuthID: p.AuthID, AuthRole: p.Role, AuthMethod: method, AuthProvider: provider, AuthExtra: ae, Proof: proof}
}

// Admits reports whether the table still admits a session authenticated
// as id: a login that proved no stored credential (anonymous, dynamic)
// is not the table's to judge; one that did is admitted while the
// principal exists with the same role and still has the credential
// proved. It is how a reload of the principals (a key or a ticket
// revoked, a principal removed or given another role) ends the sessions
// that logged in with what is gone. A nil table admits no proof.
func (t *Principals) Admits(id *Identity) bool {
	if id.Proof == "" {
		return true
	}
	p := t.Get(id.AuthID)
	return p != nil && p.Role == id.AuthRole && t.proves(p, id.Proof)
}

// proves reports whether proof is the proof of one of p's credentials.
func (t *Principals) proves(p *Principal, proof string) bool {
	method, _, _ := strings.Cut(proof, ":")
	switch method {
	case MethodTicket:
		return p.Ticket != nil && ticketProof(p.Ticket) == proof
	case MethodWAMPCRA:
		return p.CRA != nil && t.craProof(p) == proof
	case MethodSCRAM:
		for _, c := range p.SCRAM {
			if scramProof(c) == proof {
				return true
			}
		}
	case MethodCryptosign:
		for _, k := range p.PublicKeys {
			if keyProof(k) == proof {
				return true
			}
		}
	case MethodTLS:
		for _, f := range p.CertFingerprints {
			if certProof(f) == proof {
				return true
			}
		}
	}
	return false
}

// credentialProof is what a login with a stored credential leaves in its
// identity (Identity.Proof): the method and a digest of the credential's
// parts, which tells whether the same credential is still configured and
// gives nothing of it away (identities are remembered by cookies, and
// cross NATS between the nodes of a cluster).
func credentialProof(method string, parts ...[]byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	for _, part := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	return method + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

func ticketProof(h *PasswordHash) string {
	return credentialProof(MethodTicket, []byte(h.KDF), h.Salt, h.Hash)
}

// craProof is the proof of p's wampcra key, p one of t's principals. A
// salted key is derived from the secret already (PBKDF2, with the
// iterations of the config), and is digested as the other credentials
// are. An unsalted key is the secret itself, often a password: its
// digest would let whoever reads the proof (in a cookie's identity,
// which crosses NATS) check guesses of it at the speed of one SHA-256.
// It is derived first, as `junction passwd --method wampcra` derives a
// salted key (PBKDF2-HMAC-SHA256, craProofIterations), with a salt of
// the authid, once per table.
func (t *Principals) craProof(p *Principal) string {
	k := p.CRA
	if k.Salt != "" {
		return credentialProof(MethodWAMPCRA, k.Key, []byte(k.Salt))
	}
	if v, ok := t.craProofs.Load(p); ok {
		return v.(string)
	}
	derived, _ := pbkdf2.Key(sha256.New, string(k.Key), []byte("junction wampcra proof\x00"+p.AuthID), craProofIterations, 32)
	v, _ := t.craProofs.LoadOrStore(p, credentialProof(MethodWAMPCRA, derived, nil))
	return v.(string)
}

// keepCRAProofs takes from old (the table t replaces) the proofs of the
// unsalted wampcra secrets that did not change, so that a reload does
// not derive again (a PBKDF2 each) the proofs of every principal with a
// session: only those of the secrets that changed.
func (t *Principals) keepCRAProofs(old *Principals) {
	old.craProofs.Range(func(k, v any) bool {
		was := k.(*Principal)
		if is := t.Get(was.AuthID); is != nil && is.CRA != nil && is.CRA.Salt == "" && bytes.Equal(is.CRA.Key, was.CRA.Key) {
			t.craProofs.Store(is, v)
		}
		return true
	})
}

// craProofIterations is the PBKDF2 cost of the proof of an unsalted
// wampcra secret: that of the keys `junction passwd --method wampcra`
// derives by default.
const craProofIterations = 10000

func scramProof(c *SCRAMCredential) string {
	return credentialProof(MethodSCRAM, []byte(c.KDF), c.Salt, c.StoredKey)
}
func keyProof(k ed25519.PublicKey) string { return credentialProof(MethodCryptosign, k) }
func certProof(fingerprint string) string { return credentialProof(MethodTLS, []byte(fingerprint)) }
