package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// scripted is a Challenger that answers every challenge with answer(extra)
// and extra, and records the challenges.
type scripted struct {
	answer     func(extra wamp.Dict) string
	extra      func(extra wamp.Dict) wamp.Dict
	challenges []wamp.Dict
}

func (s *scripted) Challenge(_ context.Context, extra wamp.Dict) (*wamp.Authenticate, error) {
	s.challenges = append(s.challenges, extra)
	a := &wamp.Authenticate{Signature: s.answer(extra), Extra: wamp.Dict{}}
	if s.extra != nil {
		a.Extra = s.extra(extra)
	}
	return a, nil
}

func constant(sig string) *scripted { return &scripted{answer: func(wamp.Dict) string { return sig }} }

// wantFailure checks that err is a *Failure with reason and, if not empty,
// message.
func wantFailure(t *testing.T, err error, reason wamp.URI, message string) {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got %v, want a failure %s", err, reason)
	}
	if f.Reason != reason || message != "" && f.Message != message {
		t.Errorf("got %s %q, want %s %q", f.Reason, f.Message, reason, message)
	}
}

func mustHash(t *testing.T, pw, kdf string) *PasswordHash {
	t.Helper()
	h, err := NewPasswordHash(pw, kdf, 1, 64) // cheap, for the tests
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTicket(t *testing.T) {
	tbl := NewPrincipals([]*Principal{{AuthID: "joe", Role: "user", Ticket: mustHash(t, "s3cret", "pbkdf2-sha256")}})
	a := &Ticket{Principals: tbl}
	req := &Request{Realm: "r", AuthID: "joe", Method: MethodTicket}
	if !a.Knows(req) || a.Knows(&Request{AuthID: "ann"}) {
		t.Error("Knows is wrong")
	}
	id, err := a.Authenticate(t.Context(), req, constant("s3cret"))
	if err != nil || id.AuthID != "joe" || id.AuthRole != "user" || id.AuthMethod != "ticket" || id.AuthProvider != "static" {
		t.Fatalf("good ticket: %+v, %v", id, err)
	}
	_, err = a.Authenticate(t.Context(), req, constant("wrong"))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
	_, err = a.Authenticate(t.Context(), &Request{AuthID: "ann", Method: MethodTicket}, constant("s3cret"))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
}

func TestPasswordHash(t *testing.T) {
	for _, kdf := range []string{"argon2id", "pbkdf2-sha256"} {
		h := mustHash(t, "pw", kdf)
		p, err := ParsePasswordHash(h.String())
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if p.String() != h.String() || !p.Verify("pw") || p.Verify("pW") {
			t.Errorf("%s: round trip or verify failed", h)
		}
	}
	for _, bad := range []string{
		"plaintext",
		"$bcrypt$x",
		"$argon2id$v=16$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$pbkdf2-sha256$i=1000$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",
		"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$!!",
		"$pbkdf2-sha256$x=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := ParsePasswordHash(bad); err == nil {
			t.Errorf("ParsePasswordHash(%q) accepted it", bad)
		}
	}
}

// craClient answers a WAMP-CRA challenge as Autobahn does.
func craClient(secret string) *scripted {
	return &scripted{answer: func(extra wamp.Dict) string {
		key := []byte(secret)
		if salt, ok := extra["salt"].(string); ok {
			k, _ := DeriveCRAKey(secret, salt, extra["iterations"].(int), extra["keylen"].(int))
			key = k.Key
		}
		return CRASignature(key, extra["challenge"].(string))
	}}
}

func TestWAMPCRA(t *testing.T) {
	salted, err := DeriveCRAKey("salty", "NaCl", 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	tbl := NewPrincipals([]*Principal{
		{AuthID: "peter", Role: "user", CRA: &CRAKey{Key: []byte("secret")}},
		{AuthID: "sal", Role: "user", CRA: salted},
	})
	a := NewWAMPCRA(tbl)
	req := &Request{Realm: "r", AuthID: "peter", Method: MethodWAMPCRA, Session: 42}
	c := craClient("secret")
	id, err := a.Authenticate(t.Context(), req, c)
	if err != nil || id.AuthID != "peter" || id.AuthMethod != "wampcra" {
		t.Fatalf("peter: %+v, %v", id, err)
	}
	var ch map[string]any
	if err := json.Unmarshal([]byte(c.challenges[0]["challenge"].(string)), &ch); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"authid", "authrole", "authmethod", "authprovider", "nonce", "timestamp", "session"} {
		if _, ok := ch[k]; !ok {
			t.Errorf("challenge lacks %s: %v", k, ch)
		}
	}
	if ch["session"] != float64(42) || ch["authrole"] != "user" {
		t.Errorf("challenge %v", ch)
	}
	if _, err := a.Authenticate(t.Context(), &Request{AuthID: "sal", Method: MethodWAMPCRA}, craClient("salty")); err != nil {
		t.Errorf("salted: %v", err)
	}
	_, err = a.Authenticate(t.Context(), req, craClient("wrong"))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
	_, err = a.Authenticate(t.Context(), req, constant("not base64!"))
	wantFailure(t, err, wamp.ErrProtocolViolation, "")

	// An unknown authid gets a challenge shaped like a salted one, with
	// the same salt every time, and the same refusal.
	u1, u2 := craClient("x"), craClient("x")
	_, err = a.Authenticate(t.Context(), &Request{AuthID: "nobody", Method: MethodWAMPCRA}, u1)
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
	a.Authenticate(t.Context(), &Request{AuthID: "nobody", Method: MethodWAMPCRA}, u2)
	if s1, s2 := u1.challenges[0]["salt"], u2.challenges[0]["salt"]; s1 == nil || s1 != s2 {
		t.Errorf("mock salts %v, %v: want the same, present", s1, s2)
	}
}

// scramClient answers like a WAMP-SCRAM client of dialect d.
func scramClient(d scramDialect, authid, password, clientNonce string, cbType string, cbData []byte) *scripted {
	var am string
	return &scripted{
		answer: func(extra wamp.Dict) string {
			salt, _ := base64.StdEncoding.DecodeString(extra["salt"].(string))
			mem, _ := extra["memory"].(int)
			sp, _ := scramSaltedPassword(extra["kdf"].(string), password, salt, extra["iterations"].(int), mem)
			storedKey, _ := scramKeys(sp)
			am = scramAuthMessage(d, authid, clientNonce, extra["nonce"].(string), extra["salt"].(string), extra["iterations"].(int), cbType, cbData)
			ck := hmacSHA256(sp, "Client Key")
			cs := hmacSHA256(storedKey, am)
			for i := range ck {
				ck[i] ^= cs[i]
			}
			return base64.StdEncoding.EncodeToString(ck)
		},
		extra: func(extra wamp.Dict) wamp.Dict {
			if d == scramAutobahn {
				return wamp.Dict{}
			}
			e := wamp.Dict{"nonce": extra["nonce"], "channel_binding": nilIfEmpty(cbType), "cbind_data": nil}
			if cbType != "" {
				e["cbind_data"] = base64.StdEncoding.EncodeToString(cbData)
			}
			return e
		},
	}
}

func TestSCRAM(t *testing.T) {
	spec, err := NewSCRAMCredential("pw", KDFPBKDF2, 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	argon, err := NewSCRAMCredential("pw", KDFArgon2id13, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := NewSCRAMCredential("pw", KDFArgon2id13Autobahn, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	tbl := NewPrincipals([]*Principal{
		{AuthID: "u,=x", Role: "user", SCRAM: []*SCRAMCredential{spec}},
		{AuthID: "both", Role: "user", SCRAM: []*SCRAMCredential{ab, argon}},
	})
	a := NewSCRAM(tbl)
	nonce := base64.StdEncoding.EncodeToString([]byte("client nonce 16b"))
	tr := &Transport{TLS: true, TLSUnique: []byte("finished")}
	for _, tc := range []struct {
		name, method, authid, cb string
	}{
		{"spec pbkdf2, escaped authid", "wamp-scram", "u,=x", ""},
		{"spec argon2id13", "wamp-scram", "both", ""},
		{"spec with tls-unique", "wamp-scram", "both", "tls-unique"},
		{"autobahn argon2id-13", "scram", "both", ""},
		{"autobahn pbkdf2", "scram", "u,=x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := scramDialect(tc.method == "scram")
			req := &Request{Realm: "r", AuthID: tc.authid, Method: tc.method, AuthExtra: wamp.Dict{"nonce": nonce}, Transport: tr}
			var data []byte
			if tc.cb != "" {
				req.AuthExtra["channel_binding"] = tc.cb
				data = tr.TLSUnique // RFC 5929's tls-unique: the Finished message itself
			}
			if !a.Knows(req) {
				t.Fatal("Knows = false")
			}
			c := scramClient(d, tc.authid, "pw", nonce, tc.cb, data)
			id, err := a.Authenticate(t.Context(), req, c)
			if err != nil {
				t.Fatal(err)
			}
			ch := c.challenges[0]
			if !strings.HasPrefix(ch["nonce"].(string), nonce) {
				t.Errorf("server nonce %v does not extend the client's", ch["nonce"])
			}
			key := "verifier"
			if d == scramAutobahn {
				key = "scram_server_signature"
				for k := range ch {
					if k != "nonce" && k != "salt" && k != "kdf" && k != "iterations" && k != "memory" {
						t.Errorf("Autobahn's dialect refuses challenge key %q", k)
					}
				}
			}
			if _, ok := id.AuthExtra[key].(string); !ok || id.AuthMethod != MethodSCRAM {
				t.Errorf("identity %+v lacks %s", id, key)
			}
			_, err = a.Authenticate(t.Context(), req, scramClient(d, tc.authid, "wrong", nonce, tc.cb, data))
			wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
		})
	}
	// Channel binding data of another connection is refused.
	req := &Request{AuthID: "both", Method: "wamp-scram", AuthExtra: wamp.Dict{"nonce": nonce, "channel_binding": "tls-unique"}, Transport: tr}
	other := sha256.Sum256([]byte("other"))
	_, err = a.Authenticate(t.Context(), req, scramClient(scramSpec, "both", "pw", nonce, "tls-unique", other[:]))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, "")
	// tls-unique on TLS 1.3 (no value) is refused with a clear reason.
	req.Transport = &Transport{TLS: true}
	_, err = a.Authenticate(t.Context(), req, constant(""))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, "")
	// No nonce: a malformed HELLO.
	_, err = a.Authenticate(t.Context(), &Request{AuthID: "both", Method: "wamp-scram"}, constant(""))
	wantFailure(t, err, wamp.ErrProtocolViolation, "")
	// Unknown authid: a mock challenge, the same salt each time.
	u1, u2 := scramClient(scramSpec, "nobody", "pw", nonce, "", nil), scramClient(scramSpec, "nobody", "pw", nonce, "", nil)
	unknown := &Request{AuthID: "nobody", Method: "wamp-scram", AuthExtra: wamp.Dict{"nonce": nonce}}
	_, err = a.Authenticate(t.Context(), unknown, u1)
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
	a.Authenticate(t.Context(), unknown, u2)
	if u1.challenges[0]["salt"] != u2.challenges[0]["salt"] {
		t.Error("the mock salt changes between attempts")
	}
}

func TestCryptosignFailures(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	tbl := NewPrincipals([]*Principal{{AuthID: "dev", Role: "device", PublicKeys: []ed25519.PublicKey{pub}}})
	a := NewCryptosign(tbl)
	req := func(authid string) *Request {
		return &Request{AuthID: authid, Method: MethodCryptosign, AuthExtra: wamp.Dict{"pubkey": hex.EncodeToString(pub)}}
	}
	signer := func(k ed25519.PrivateKey) *scripted {
		return &scripted{answer: func(extra wamp.Dict) string {
			s, _ := SignCryptosignChallenge(k, extra["challenge"].(string), nil)
			return s
		}}
	}
	if _, err := a.Authenticate(t.Context(), req(""), signer(priv)); err != nil {
		t.Errorf("no authid: %v", err)
	}
	_, err := a.Authenticate(t.Context(), req("dev"), signer(other))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
	_, err = a.Authenticate(t.Context(), req("someone-else"), signer(priv))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
	_, err = a.Authenticate(t.Context(), req("dev"), constant("abc"))
	wantFailure(t, err, wamp.ErrProtocolViolation, "")
	_, err = a.Authenticate(t.Context(), &Request{Method: MethodCryptosign, AuthExtra: wamp.Dict{"pubkey": "xyz"}}, constant(""))
	wantFailure(t, err, wamp.ErrProtocolViolation, "")
	// A signature over the challenge, replayed without the channel
	// binding the client asked for, fails.
	tr := &Transport{TLS: true, TLSExporter: make([]byte, 32)}
	tr.TLSExporter[0] = 1
	r := req("dev")
	r.AuthExtra["channel_binding"] = "tls-exporter"
	r.Transport = tr
	_, err = a.Authenticate(t.Context(), r, signer(priv))
	wantFailure(t, err, wamp.ErrAuthenticationFailed, msgAuthFailed)
}

func TestPolicyChoose(t *testing.T) {
	tbl := NewPrincipals([]*Principal{
		{AuthID: "tick", Role: "user", Ticket: mustHash(t, "x", "pbkdf2-sha256")},
		{AuthID: "cra", Role: "user", CRA: &CRAKey{Key: []byte("x")}},
	})
	p := &Policy{}
	ticket, cra, anon := &Ticket{Principals: tbl}, NewWAMPCRA(tbl), &Anonymous{Role: "public"}
	p.Add(MethodTicket, ticket)
	p.Add(MethodWAMPCRA, cra)
	p.Add(MethodAnonymous, anon)
	p.Add(MethodSCRAM, NewSCRAM(tbl))
	for _, tc := range []struct {
		authid  string
		offered []string
		want    Authenticator
		method  string
	}{
		{"tick", []string{"ticket", "wampcra"}, ticket, "ticket"},
		{"cra", []string{"ticket", "wampcra"}, cra, "wampcra"},
		{"nobody", []string{"ticket", "wampcra"}, ticket, "ticket"}, // mock: fails later
		{"nobody", []string{"ticket", "anonymous"}, anon, "anonymous"},
		{"", nil, anon, "anonymous"},
		{"x", []string{"scram"}, p.methods[MethodSCRAM][0], "scram"},
	} {
		req := &Request{Realm: "r", AuthID: tc.authid}
		got, f := p.Choose(req, tc.offered)
		if f != nil || got != tc.want || req.Method != tc.method {
			t.Errorf("%s %v: got %T %q %v", tc.authid, tc.offered, got, req.Method, f)
		}
	}
	_, f := p.Choose(&Request{Realm: "r"}, []string{"cryptosign", "magic"})
	if f == nil || f.Reason != wamp.ErrNoAuthMethod {
		t.Errorf("no method: %v", f)
	}
}

func ed25519GenerateKey() (string, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	return hex.EncodeToString(pub), priv, err
}
