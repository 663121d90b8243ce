package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/argon2"
)

// The WAMP-Cryptosign test vectors of the specification
// (authentication_cryptosign.md, "Test Vectors").
var cryptosignVectors = []struct{ channelID, privateKey, challenge, signature string }{
	{"", "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"", "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd", "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
		"d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d"},
	{"", "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b", "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
		"7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2"},
	{"62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff", "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00"},
	{"62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff", "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd", "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
		"305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a427c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282"},
	{"62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff", "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b", "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
		"ee3c7644fd8070532bc1fde3d70d742267da545d8c8f03e63bda63f1ad4214f4d2c4bfdb4eb9526def42deeb7e31602a6ff99eba893e0a4ad4d45892ca75e608d2b75e24a189a7f78ca776ba36fc53f6c3e31c32f251f2c524f0a44202f2902d"},
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCryptosignVectors(t *testing.T) {
	for i, v := range cryptosignVectors {
		key := ed25519.NewKeyFromSeed(mustHex(t, v.privateKey))
		var cid []byte
		if v.channelID != "" {
			cid = mustHex(t, v.channelID)
		}
		got, err := SignCryptosignChallenge(key, v.challenge, cid)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if got != v.signature {
			t.Errorf("vector %d: signature\n got %s\nwant %s", i, got, v.signature)
		}
		// And the router's check accepts it: run the exchange with the
		// vector's challenge and channel id.
		pub := key.Public().(ed25519.PublicKey)
		tbl := NewPrincipals([]*Principal{{AuthID: "dev", Role: "device", PublicKeys: []ed25519.PublicKey{pub}}})
		req := &Request{Realm: "r", Method: MethodCryptosign, AuthExtra: map[string]any{"pubkey": hex.EncodeToString(pub)}}
		if cid != nil {
			req.AuthExtra["channel_binding"] = "tls-exporter"
			req.Transport = &Transport{TLS: true, TLSExporter: cid}
		}
		c := &scripted{answer: func(extra map[string]any) string {
			// Sign what the router sent, not the vector's challenge.
			s, _ := SignCryptosignChallenge(key, extra["challenge"].(string), cid)
			return s
		}}
		id, err := NewCryptosign(tbl).Authenticate(t.Context(), req, c)
		if err != nil || id.AuthID != "dev" || id.AuthRole != "device" {
			t.Errorf("vector %d: Authenticate = %+v, %v", i, id, err)
		}
	}
}

// RFC 7677's SCRAM-SHA-256 exchange, which the WAMP-SCRAM specification's
// examples reuse (its CHALLENGE and WELCOME show the same proof and
// verifier).
func TestSCRAMRFC7677Vector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	sp, err := scramSaltedPassword(KDFPBKDF2, "pencil", salt, 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	storedKey, serverKey := scramKeys(sp)
	am := scramAuthMessage(scramSpec, "user", "rOprNGfwEbeRWgbNEkqO", "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"W22ZaJ0SNY7soEsUEjb6gQ==", 4096, "", nil)
	if want := "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"; am != want {
		t.Fatalf("AuthMessage\n got %s\nwant %s", am, want)
	}
	ck := hmacSHA256(sp, "Client Key")
	cs := hmacSHA256(storedKey, am)
	proof := make([]byte, 32)
	for i := range proof {
		proof[i] = ck[i] ^ cs[i]
	}
	if got := base64.StdEncoding.EncodeToString(proof); got != "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" {
		t.Errorf("ClientProof = %s", got)
	}
	if got := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, am)); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Errorf("ServerSignature = %s", got)
	}
}

// Autobahn|Python's own WAMP-SCRAM test (test_wamp_auth.py, TestScram.
// test_basic): its dialect and its Argon2id SaltedPassword.
func TestSCRAMAutobahnVector(t *testing.T) {
	saltText := "31323334353637383930616263646566" // Autobahn base64-decodes this hex text
	salt, err := base64.StdEncoding.DecodeString(saltText)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := scramSaltedPassword(KDFArgon2id13Autobahn, "p4ssw0rd", salt, 32, 512)
	if err != nil {
		t.Fatal(err)
	}
	storedKey, _ := scramKeys(sp)
	am := scramAuthMessage(scramAutobahn, "username", "31323334353637383930616263646566", "1234567890abcdeffedcba0987654321", saltText, 32, "", nil)
	ck := hmacSHA256(sp, "Client Key")
	cs := hmacSHA256(storedKey, am)
	proof := make([]byte, 32)
	for i := range proof {
		proof[i] = ck[i] ^ cs[i]
	}
	if got := base64.StdEncoding.EncodeToString(proof); got != "f5r3loERzGVSuimE+lvO0bWna2zyswBo0HrZkaaEy38=" {
		t.Errorf("ClientProof = %s, want Autobahn's f5r3loERzGVSuimE+lvO0bWna2zyswBo0HrZkaaEy38=", got)
	}
}

// Autobahn's Argon2id vector (test_argon2id_static, made with the argon2
// reference tool).
func TestArgon2idVector(t *testing.T) {
	got := argon2.IDKey([]byte("p4ssw0rd"), []byte("1234567890abcdef"), 32, 512, 1, 32)
	if hex.EncodeToString(got) != "ee4a8acf9d5958354fb79a95ae20692d05e42591ba49fae85eb6700e8b0ed293" {
		t.Errorf("argon2id = %x", got)
	}
}

// WAMP-CRA: Autobahn's test vectors for derive_key and compute_wcs.
func TestCRAVectors(t *testing.T) {
	k, err := DeriveCRAKey("L3L1YUE8Txlw", "salt123", 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	if string(k.Key) != "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y=" {
		t.Errorf("derived key = %s", k.Key)
	}
	if got := CRASignature([]byte("L3L1YUE8Txlw"), "[1, 2, 3]"); got != "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0=" {
		t.Errorf("signature = %s", got)
	}
}
