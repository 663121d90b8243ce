package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/junction-wamp/junction/wamp"
)

// TestSCRAMAutobahnRefusesChannelBinding: Autobahn's SCRAM dialect
// ("scram") does not bind the proof to the channel (its AuthMessage holds
// the binding's name only), so a HELLO that asks for channel binding in it
// is refused: else a proof made on another TLS connection (relayed by a
// man in the middle) would pass.
func TestSCRAMAutobahnRefusesChannelBinding(t *testing.T) {
	cred, _ := NewSCRAMCredential("pw", KDFPBKDF2, 4096, 0)
	a := NewSCRAM(NewPrincipals([]*Principal{{AuthID: "u", Role: "user", SCRAM: []*SCRAMCredential{cred}}}))
	nonce := base64.StdEncoding.EncodeToString([]byte("client nonce 16b"))
	routerSide := &Transport{TLS: true, TLSUnique: []byte("finished of router<->mitm")}
	req := &Request{AuthID: "u", Method: "scram", Transport: routerSide,
		AuthExtra: wamp.Dict{"nonce": nonce, "channel_binding": "tls-unique"}}
	clientSide := sha256.Sum256([]byte("finished of client<->mitm"))
	_, err := a.Authenticate(t.Context(), req, scramClient(scramAutobahn, "u", "pw", nonce, "tls-unique", clientSide[:]))
	if err == nil {
		t.Fatal("channel binding tls-unique requested but not enforced: proof from another TLS channel accepted")
	}
}

// TestPasswordHashOfAnyLength: a PHC string's hash of 16 to 64 bytes
// verifies its password (it used to load and never verify: the check
// always derived 32 bytes); shorter or longer ones are refused at load.
func TestPasswordHashOfAnyLength(t *testing.T) {
	salt := []byte("0123456789abcdef")
	raw := argon2.IDKey([]byte("pw"), salt, 1, 64, 1, 16)
	phc := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(raw))
	h, err := ParsePasswordHash(phc)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if !h.Verify("pw") || h.Verify("px") {
		t.Fatal("a 16-byte hash does not tell the right password from a wrong one")
	}
	for _, n := range []int{15, 65} {
		raw := argon2.IDKey([]byte("pw"), salt, 1, 64, 1, uint32(n))
		phc := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(raw))
		if _, err := ParsePasswordHash(phc); err == nil {
			t.Errorf("a %d-byte hash is taken", n)
		}
	}
}

// TestDynamicAuthorizerCachePerRealm: the realms a realm template makes
// share one DynamicAuthorizer, so its cache keeps each realm's answers
// apart: alice allowed in tenant1 is not allowed in tenant2 from that.
func TestDynamicAuthorizerCachePerRealm(t *testing.T) {
	da := &DynamicAuthorizer{Procedure: "authz", CacheTTL: time.Minute}
	rs, _ := NewRoles([]*Role{{Name: "user", Authorizer: da}})
	fc := &fakeCaller{answer: func(_ string, args wamp.List) CallResult {
		return CallResult{Args: wamp.List{args[0].(wamp.Dict)["realm"] == "tenant1"}}
	}}
	ask := func(realm string) Decision {
		sa := rs.ForSession(&Subject{Realm: realm, AuthID: "alice", AuthRole: "user"}, fc)
		ch := make(chan Decision, 1)
		if d, pending := sa.Authorize(ActionCall, "app.secret", wamp.MatchExact, nil, func(d Decision) { ch <- d }); !pending {
			return d
		}
		return <-ch
	}
	if !ask("tenant1").Allowed {
		t.Fatal("tenant1 denied")
	}
	if ask("tenant2").Allowed {
		t.Fatal("alice in tenant2 allowed from tenant1's cached answer (authorizer would deny)")
	}
}

// TestDynamicAnswerAuthIDChecked: the authid a dynamic authenticator
// answers (or the HELLO's it keeps) is checked like a configured one: no
// control characters, at most 256 bytes.
func TestDynamicAnswerAuthIDChecked(t *testing.T) {
	for _, answer := range []any{
		map[string]any{"role": "user", "authid": "admin\n\x00evil"},
		map[string]any{"role": "user", "authid": strings.Repeat("a", 257)},
	} {
		if p, err := principalFromAnswer("x", answer); err == nil {
			t.Errorf("authid %q taken from a dynamic authenticator", p.AuthID)
		}
	}
	if p, err := principalFromAnswer("bad\x01", "user"); err == nil {
		t.Errorf("HELLO's authid %q kept by a dynamic authenticator's role answer", p.AuthID)
	}
	if _, err := principalFromAnswer("alice", map[string]any{"role": "user"}); err != nil {
		t.Errorf("a good authid refused: %v", err)
	}
}

// TestTicketDummyHashLikeRealm: a ticket login for an unknown authid is
// checked against a dummy hash of the KDF and costs (and hash length) of
// the realm's tickets, so that it costs what a wrong ticket of a known
// authid does: with PBKDF2 tickets, a dummy Argon2id hash with the default
// costs answered in another time and told that the authid did not exist.
func TestTicketDummyHashLikeRealm(t *testing.T) {
	pbkdf2, _ := NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	argon, _ := NewPasswordHash("pw", "argon2id", 1, 64)
	for _, real := range []*PasswordHash{pbkdf2, argon} {
		a := &Ticket{Principals: NewPrincipals([]*Principal{{AuthID: "cra-only", Role: "user", CRA: &CRAKey{Key: []byte("k")}}, {AuthID: "joe", Role: "user", Ticket: real}})}
		d := a.hashFor(a.Principals.Get("nobody"))
		if d == real || d.KDF != real.KDF || d.Iterations != real.Iterations || d.Memory != real.Memory ||
			d.Threads != real.Threads || len(d.Hash) != len(real.Hash) || len(d.Salt) != len(real.Salt) {
			t.Errorf("dummy hash %s for a realm whose tickets are %s", d, real)
		}
		if d.Verify("pw") || d.Verify("") {
			t.Errorf("the dummy hash of %s verifies a ticket", real.KDF)
		}
	}
}
