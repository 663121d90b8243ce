package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// TestPrincipalsAdmits: a login with a static principal's credential
// leaves a proof of it in the identity, and a table built again (a
// reload) admits the identity while the principal has the same role and
// still holds that credential, whichever other credentials changed. The
// proof gives nothing of the credential away; a login that proved no
// stored credential is not the table's to judge.
func TestPrincipalsAdmits(t *testing.T) {
	h := mustHash(t, "s3cret", "pbkdf2-sha256")
	key, priv, _ := ed25519.GenerateKey(nil)
	key2, _, _ := ed25519.GenerateKey(nil)
	cert := &x509.Certificate{Raw: []byte("a certificate's DER")}
	fp := Fingerprint(cert)
	cra := &CRAKey{Key: []byte("cra-key")}
	scram, err := NewSCRAMCredential("pw", KDFPBKDF2, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	joe := func() *Principal {
		return &Principal{AuthID: "joe", Role: "user", Ticket: h, CRA: cra, SCRAM: []*SCRAMCredential{scram},
			PublicKeys: []ed25519.PublicKey{key, key2}, CertFingerprints: []string{fp}}
	}
	tbl := NewPrincipals([]*Principal{joe()})

	byTicket, err := (&Ticket{Principals: tbl}).Authenticate(t.Context(), &Request{Realm: "r", AuthID: "joe", Method: MethodTicket}, constant("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	byKey, err := NewCryptosign(tbl).Authenticate(t.Context(),
		&Request{Method: MethodCryptosign, AuthExtra: wamp.Dict{"pubkey": hex.EncodeToString(key)}},
		&scripted{answer: func(extra wamp.Dict) string {
			s, _ := SignCryptosignChallenge(priv, extra["challenge"].(string), nil)
			return s
		}})
	if err != nil {
		t.Fatal(err)
	}
	byCert, err := (&TLSCert{Principals: tbl}).AuthenticateNow(&Request{Transport: &Transport{PeerCertificates: []*x509.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*Identity{
		"ticket": byTicket, "cryptosign": byKey, "tls": byCert,
		"wampcra": {AuthID: "joe", AuthRole: "user", Proof: tbl.craProof(tbl.Get("joe"))},
		"scram":   {AuthID: "joe", AuthRole: "user", Proof: scramProof(scram)},
	}
	for name, id := range ids {
		if id.Proof == "" {
			t.Fatalf("%s login: no proof", name)
		}
		for _, secret := range [][]byte{h.Hash, h.Salt, key, cra.Key, scram.StoredKey} {
			if strings.Contains(id.Proof, hex.EncodeToString(secret)) {
				t.Errorf("%s login: the proof %s shows a credential", name, id.Proof)
			}
		}
	}

	for _, tc := range []struct {
		name  string
		edit  func(p *Principal)
		admit map[string]bool // the logins still admitted
	}{
		{"the same principals, built again", func(*Principal) {},
			map[string]bool{"ticket": true, "cryptosign": true, "tls": true, "wampcra": true, "scram": true}},
		{"another role", func(p *Principal) { p.Role = "admin" }, map[string]bool{}},
		{"the ticket changed", func(p *Principal) { p.Ticket = mustHash(t, "s3cret", "pbkdf2-sha256") },
			map[string]bool{"cryptosign": true, "tls": true, "wampcra": true, "scram": true}},
		{"the key used revoked, the other kept", func(p *Principal) { p.PublicKeys = p.PublicKeys[1:] },
			map[string]bool{"ticket": true, "tls": true, "wampcra": true, "scram": true}},
		{"no certificate, no wampcra, no scram", func(p *Principal) { p.CertFingerprints, p.CRA, p.SCRAM = nil, nil, nil },
			map[string]bool{"ticket": true, "cryptosign": true}},
	} {
		p := joe()
		tc.edit(p)
		next := NewPrincipals([]*Principal{p})
		for name, id := range ids {
			if got := next.Admits(id); got != tc.admit[name] {
				t.Errorf("%s: the %s login admitted: %v", tc.name, name, got)
			}
		}
	}
	removed := NewPrincipals([]*Principal{{AuthID: "ann", Role: "user", Ticket: h}})
	var none *Principals
	for name, id := range ids {
		if removed.Admits(id) || none.Admits(id) {
			t.Errorf("a table without joe admits the %s login", name)
		}
	}
	anon := &Identity{AuthID: "x", AuthRole: "anonymous", AuthMethod: MethodAnonymous}
	if !removed.Admits(anon) || !none.Admits(anon) {
		t.Error("a login that proved no credential is not admitted")
	}

	// A cookie remembering the ticket login logs in while the ticket is
	// configured, and no more once it is not.
	cookies := &Cookies{Max: 10, TTL: time.Hour}
	cookies.Remember("c", "r", byTicket)
	req := &Request{Realm: "r", Transport: &Transport{Cookie: "c"}}
	if id, err := (&CookieAuth{Store: cookies, Principals: tbl}).AuthenticateNow(req); err != nil || id.Proof != byTicket.Proof {
		t.Errorf("cookie login: %+v, %v", id, err)
	}
	_, err = (&CookieAuth{Store: cookies, Principals: removed}).AuthenticateNow(req)
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
}

// TestUnsaltedCRAProofHidesTheSecret: the proof of a login with an
// unsalted wampcra secret (the secret itself is the key) must not let
// whoever reads it (a cookie's identity crosses NATS) check guesses of
// the secret at the speed of one SHA-256: it costs a guess what a salted
// key from `junction passwd --method wampcra` does. Two principals with
// the same secret get different proofs.
func TestUnsaltedCRAProofHidesTheSecret(t *testing.T) {
	const secret = "password1"
	login := func(tbl *Principals, authid string) *Identity {
		t.Helper()
		id, err := NewWAMPCRA(tbl).Authenticate(t.Context(), &Request{Realm: "r", AuthID: authid, Method: MethodWAMPCRA},
			&scripted{answer: func(extra wamp.Dict) string { return CRASignature([]byte(secret), extra["challenge"].(string)) }})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	principals := func() *Principals {
		return NewPrincipals([]*Principal{
			{AuthID: "joe", Role: "user", CRA: &CRAKey{Key: []byte(secret)}},
			{AuthID: "ann", Role: "user", CRA: &CRAKey{Key: []byte(secret)}},
		})
	}
	tbl := principals()
	joe, ann := login(tbl, "joe"), login(tbl, "ann")
	fast := sha256.New() // a guess checked as the proof was made
	fast.Write([]byte(MethodWAMPCRA))
	for _, part := range [][]byte{[]byte(secret), nil} {
		fast.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		fast.Write(part)
	}
	if joe.Proof == MethodWAMPCRA+":"+hex.EncodeToString(fast.Sum(nil)[:16]) {
		t.Errorf("the proof %s is one SHA-256 of the secret: a guess is checked in a nanosecond", joe.Proof)
	}
	if joe.Proof == ann.Proof {
		t.Error("two principals with one secret have the same proof: reading them tells the secrets are the same")
	}
	// It is still a proof: the same secret configured again admits the
	// login, another does not.
	if !principals().Admits(joe) {
		t.Error("the same secret, the table built again, does not admit the login")
	}
	other := NewPrincipals([]*Principal{{AuthID: "joe", Role: "user", CRA: &CRAKey{Key: []byte("password2")}}})
	if other.Admits(joe) {
		t.Error("another secret admits the login")
	}
}

// TestFollowKeepsCRAProofs: a policy that follows another takes the
// proofs of the unsalted wampcra secrets that did not change, so that
// judging the sessions after a reload derives only those of the secrets
// that changed; the proofs it takes still tell a changed secret.
func TestFollowKeepsCRAProofs(t *testing.T) {
	policy := func(joeSecret string) *Policy {
		tbl := NewPrincipals([]*Principal{
			{AuthID: "joe", Role: "user", CRA: &CRAKey{Key: []byte(joeSecret)}},
			{AuthID: "ann", Role: "user", CRA: &CRAKey{Key: []byte("ann-secret")}},
		})
		p := &Policy{}
		p.Add(MethodWAMPCRA, NewWAMPCRA(tbl))
		return p
	}
	old := policy("joe-secret")
	joe := &Identity{AuthID: "joe", AuthRole: "user", Proof: old.principals.craProof(old.principals.Get("joe"))}
	ann := &Identity{AuthID: "ann", AuthRole: "user", Proof: old.principals.craProof(old.principals.Get("ann"))}

	next := policy("joe-new")
	next.Follow(old)
	cached := func(authid string) bool {
		_, ok := next.principals.craProofs.Load(next.principals.Get(authid))
		return ok
	}
	if !cached("ann") || cached("joe") {
		t.Fatalf("proofs taken over: ann %v, joe %v; want ann's only", cached("ann"), cached("joe"))
	}
	if !next.Admits(ann) || next.Admits(joe) {
		t.Errorf("after the reload: ann admitted %v (want true), joe %v (want false)", next.Admits(ann), next.Admits(joe))
	}
}
