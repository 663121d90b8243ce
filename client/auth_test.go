package client

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// TestCryptosignVectors checks signatures against the specification's test
// vectors (authentication_cryptosign.md, those without a channel id: the
// client does not use channel binding).
func TestCryptosignVectors(t *testing.T) {
	vectors := []struct{ key, challenge, signature string }{
		{"4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
			"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
			"b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
		{"d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
			"b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
			"d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d"},
		{"6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
			"b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
			"7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2"},
	}
	for _, v := range vectors {
		key, err := CryptosignKey(v.key)
		if err != nil {
			t.Fatal(err)
		}
		cred := Cryptosign(key)
		ex, _ := cred.begin("")
		a, err := ex.respond(&wamp.Challenge{AuthMethod: "cryptosign", Extra: wamp.Dict{"challenge": v.challenge}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Signature != v.signature {
			t.Errorf("key %s…: signature\n got %s\nwant %s", v.key[:8], a.Signature, v.signature)
		}
		pub := ex.authextra()["pubkey"].(string)
		if len(pub) != 64 {
			t.Errorf("pubkey %q", pub)
		}
	}
	// The spec's example key pair: its public key is announced in HELLO.
	if _, err := CryptosignKey("not hex"); err == nil {
		t.Error("a bad key was accepted")
	}
	ex, _ := Cryptosign(mustKey(t, vectors[0].key)).begin("")
	if _, err := ex.respond(&wamp.Challenge{Extra: wamp.Dict{"challenge": "abcd"}}); err == nil {
		t.Error("a short challenge was signed")
	}
	if _, err := ex.respond(&wamp.Challenge{Extra: wamp.Dict{"challenge": vectors[0].challenge, "channel_binding": "tls-unique"}}); err == nil {
		t.Error("a challenge with channel binding was signed")
	}
}

func mustKey(t *testing.T, h string) []byte {
	k, err := CryptosignKey(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSCRAMVector runs WAMP-SCRAM with PBKDF2 through the exchange of RFC
// 7677 (SCRAM-SHA-256), which the specification's examples use: user
// "user", password "pencil", 4096 iterations. The AuthMessage has the
// syntax of RFC 5802, so the RFC's proof and server signature come out.
func TestSCRAMVector(t *testing.T) {
	x := &scramExchange{password: "pencil", authid: "user", nonce: "rOprNGfwEbeRWgbNEkqO"}
	a, err := x.respond(&wamp.Challenge{AuthMethod: "wamp-scram", Extra: wamp.Dict{
		"nonce":      "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"salt":       "W22ZaJ0SNY7soEsUEjb6gQ==",
		"kdf":        "pbkdf2",
		"iterations": int64(4096),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="; a.Signature != want {
		t.Errorf("client proof %s, want %s", a.Signature, want)
	}
	if a.Extra["nonce"] != "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" {
		t.Errorf("AUTHENTICATE.Extra %v", a.Extra)
	}
	welcome := func(v string) *wamp.Welcome {
		return &wamp.Welcome{Details: wamp.Dict{"authmethod": "wamp-scram", "authextra": wamp.Dict{"verifier": v}}}
	}
	if err := x.verify(welcome("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err != nil {
		t.Errorf("the RFC's server signature: %v", err)
	}
	if err := x.verify(welcome("AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err == nil {
		t.Error("a wrong server signature was accepted")
	}

	// The router must extend the client's nonce, and not ask for a cheap hash.
	bad := []wamp.Dict{
		{"nonce": "someone else's", "salt": "W22ZaJ0SNY7soEsUEjb6gQ==", "kdf": "pbkdf2", "iterations": int64(4096)},
		{"nonce": "rOprNGfwEbeRWgbNEkqOx", "salt": "W22ZaJ0SNY7soEsUEjb6gQ==", "kdf": "pbkdf2", "iterations": int64(1)},
		{"nonce": "rOprNGfwEbeRWgbNEkqOx", "salt": "W22ZaJ0SNY7soEsUEjb6gQ==", "kdf": "argon2id13", "iterations": int64(1), "memory": int64(8)},
		{"nonce": "rOprNGfwEbeRWgbNEkqOx", "salt": "W22ZaJ0SNY7soEsUEjb6gQ==", "kdf": "md5", "iterations": int64(4096)},
	}
	for _, extra := range bad {
		if _, err := x.respond(&wamp.Challenge{AuthMethod: "wamp-scram", Extra: extra}); err == nil {
			t.Errorf("challenge %v was answered", extra)
		}
	}
}

// TestSCRAMArgon2 checks the Argon2id path end to end: the proof the client
// sends is the one a server computes from the stored keys.
func TestSCRAMArgon2(t *testing.T) {
	ex, _ := SCRAM("secret").begin("alice")
	x := ex.(*scramExchange)
	if _, err := base64.StdEncoding.DecodeString(x.nonce); err != nil || len(x.nonce) < 16 {
		t.Errorf("client nonce %q", x.nonce)
	}
	extra := ex.authextra()
	if extra["nonce"] != x.nonce {
		t.Errorf("authextra %v", extra)
	}
	salt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	a, err := x.respond(&wamp.Challenge{AuthMethod: "wamp-scram", Extra: wamp.Dict{
		"nonce": x.nonce + "server", "salt": salt, "kdf": "argon2id13", "iterations": int64(1), "memory": int64(1024)}})
	if err != nil {
		t.Fatal(err)
	}
	// The server's check: RecoveredStoredKey == StoredKey.
	proof, _ := base64.StdEncoding.DecodeString(a.Signature)
	clientKey := hmacSHA256(x.saltedPwd, "Client Key")
	if hex.EncodeToString(proof) == hex.EncodeToString(clientKey) {
		t.Fatal("the proof is the client key itself")
	}
	want, _ := scramProof(x.saltedPwd, "alice", x.nonce, x.nonce+"server", salt, 1)
	if a.Signature != want {
		t.Errorf("proof %s, want %s", a.Signature, want)
	}
}

// TestWAMPCRA checks signatures, plain and salted, against values computed
// by Autobahn|JS (lib/auth/cra.js: derive_key and sign).
func TestWAMPCRA(t *testing.T) {
	challenge := `{"nonce":"LHRTC9zeOIrt_9U3","session":3251278072152162}`
	if k, _ := craDeriveKey("secret", "salt123", 1000, 32); k != "MDS8Yxpu4J/vkHJ8dNEgqECYsI0uRDh2oZ5eN0vYPvo=" {
		t.Errorf("derived key %s", k)
	}
	ex, _ := WAMPCRA("secret").begin("peter")
	for _, tt := range []struct {
		extra wamp.Dict
		want  string
	}{
		{wamp.Dict{"challenge": challenge}, "Aoqh5vXsm3D3KvsW2XTkO5tn/cMD7qTv5tmDOQOBZTc="},
		{wamp.Dict{"challenge": challenge, "salt": "salt123", "keylen": int64(32), "iterations": int64(1000)}, "9Kvq2wd0ayk3am1bjrg1zy3aIbnxHwd+bc5bw18WDuc="},
	} {
		a, err := ex.respond(&wamp.Challenge{AuthMethod: "wampcra", Extra: tt.extra})
		if err != nil {
			t.Fatal(err)
		}
		if a.Signature != tt.want {
			t.Errorf("signature %s, want %s", a.Signature, tt.want)
		}
	}
	if _, err := ex.respond(&wamp.Challenge{AuthMethod: "wampcra", Extra: wamp.Dict{}}); err == nil {
		t.Error("a challenge without a challenge string was answered")
	}
}

// TestHelloAuth checks what HELLO announces for a set of credentials, and
// that a CHALLENGE goes to the credential of its method.
func TestHelloAuth(t *testing.T) {
	key := mustKey(t, "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510")
	o := &Options{AuthID: "joe", Credentials: []Credential{Ticket("t0ps3cret"), SCRAM("pw"), Cryptosign(key)}}
	a, err := o.startAuth()
	if err != nil {
		t.Fatal(err)
	}
	if got := a.methods; len(got) != 3 || got[0] != "ticket" || got[1] != "wamp-scram" || got[2] != "cryptosign" {
		t.Errorf("authmethods %v", got)
	}
	if a.extra["pubkey"] == nil || a.extra["nonce"] == nil {
		t.Errorf("authextra %v", a.extra)
	}
	ans := a.answer("ticket")
	if ans == nil {
		t.Fatal("no answer for ticket")
	}
	r, err := ans(t.Context(), &wamp.Challenge{AuthMethod: "ticket", Extra: wamp.Dict{}})
	if err != nil || r.Signature != "t0ps3cret" {
		t.Errorf("ticket answer %v %v", r, err)
	}
	if a.answer("wampcra") != nil {
		t.Error("an answer for a method the client did not offer")
	}
}
