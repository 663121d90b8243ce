package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/wamp"
)

// passwd runs `junction passwd args` with password on standard input.
func passwd(t *testing.T, password string, args ...string) (string, int) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(password + "\n")
	defer func() { stdin = old }()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"passwd"}, args...), &out, &errOut)
	if code != 0 {
		return errOut.String(), code
	}
	return out.String(), code
}

// principal parses what passwd printed as a principal's credential.
func principal(t *testing.T, printed string) config.Principal {
	t.Helper()
	indented := "          " + strings.ReplaceAll(strings.TrimRight(printed, "\n"), "\n", "\n          ")
	yaml := "realms:\n  - name: r\n    anonymous: false\n    auth:\n      principals:\n        - authid: a\n          role: x\n" + indented + "\n"
	cfg, err := config.Parse("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("passwd printed what the config refuses: %v\n%s", err, yaml)
	}
	return cfg.Realms[0].Auth.Principals[0]
}

func TestPasswd(t *testing.T) {
	out, code := passwd(t, "s3cret", "--method", "ticket", "--kdf", "pbkdf2-sha256", "--iterations", "1000")
	if code != 0 {
		t.Fatalf("ticket: %s", out)
	}
	if p := principal(t, out); !p.Ticket.Verify("s3cret") || p.Ticket.Verify("other") {
		t.Error("the ticket hash does not verify")
	}

	out, code = passwd(t, "s3cret", "--method", "wampcra", "--iterations", "100")
	if code != 0 {
		t.Fatalf("wampcra: %s", out)
	}
	p := principal(t, out)
	k, _ := auth.DeriveCRAKey("s3cret", p.WAMPCRA.Salt, p.WAMPCRA.Iterations, p.WAMPCRA.KeyLen)
	if string(k.Key) != string(p.WAMPCRA.Key) {
		t.Error("the wampcra key is not derived from the secret")
	}

	out, code = passwd(t, "s3cret", "--method", "wamp-scram", "--kdf", "pbkdf2", "--iterations", "4096")
	if code != 0 {
		t.Fatalf("scram: %s", out)
	}
	c := principal(t, out).SCRAM[0]
	sp, _ := pbkdf2.Key(sha256.New, "s3cret", c.Salt, c.Iterations, 32)
	m := hmac.New(sha256.New, sp)
	m.Write([]byte("Client Key"))
	stored := sha256.Sum256(m.Sum(nil))
	if c.KDF != "pbkdf2" || !bytes.Equal(stored[:], c.StoredKey) {
		t.Errorf("the SCRAM stored key is not the password's: %+v", c)
	}
	if out, _ := passwd(t, "s3cret", "--method", "scram", "--iterations", "1", "--memory", "1024"); !strings.Contains(out, "kdf: argon2id13") {
		t.Errorf("scram's default kdf: %s", out)
	}

	for _, args := range [][]string{{}, {"--method", "cryptosign"}, {"--method", "ticket", "--kdf", "md5"}} {
		if out, code := passwd(t, "x", args...); code == 0 {
			t.Errorf("passwd %v succeeded: %s", args, out)
		}
	}
	if out, code := passwd(t, "", "--method", "ticket"); code == 0 || !strings.Contains(out, "no password") {
		t.Errorf("empty password: %d %s", code, out)
	}
}

func TestKeygen(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"keygen"}, &out, &out); code != 0 {
		t.Fatalf("keygen: %s", out.String())
	}
	var priv, pub string
	if _, err := fmt.Sscanf(out.String(), "private: %s\npublic: %s\n", &priv, &pub); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	seed, err := hex.DecodeString(priv)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("private key %q", priv)
	}
	if got := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)); got != pub {
		t.Errorf("public key %s is not the private key's (%s)", pub, got)
	}
}

// TestServeAuthExample runs examples/config/auth.yaml and logs in with
// the credentials, then checks the public role's permissions.
func TestServeAuthExample(t *testing.T) {
	addrs, logs := serveUntilEnd(t, "--config", "../../examples/config/auth.yaml", "--listen", "127.0.0.1:0")
	url := "ws://" + addrs[0] + "/ws"
	dial := func(opts *client.Options) (*client.Session, error) {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return client.Dial(dctx, url, "realm1", opts)
	}
	answer := func(sig func(c *wamp.Challenge) string) func(context.Context, *wamp.Challenge) (*wamp.Authenticate, error) {
		return func(_ context.Context, c *wamp.Challenge) (*wamp.Authenticate, error) {
			return &wamp.Authenticate{Signature: sig(c), Extra: wamp.Dict{}}, nil
		}
	}
	cra := func(secret string) func(context.Context, *wamp.Challenge) (*wamp.Authenticate, error) {
		return answer(func(c *wamp.Challenge) string {
			key := []byte(secret)
			if salt, ok := c.Extra["salt"].(string); ok {
				it, _ := wamp.AsUint(c.Extra["iterations"])
				kl, _ := wamp.AsUint(c.Extra["keylen"])
				k, _ := auth.DeriveCRAKey(secret, salt, int(it), int(kl))
				key = k.Key
			}
			return auth.CRASignature(key, c.Extra["challenge"].(string))
		})
	}
	for _, tc := range []struct {
		authid, method string
		answer         func(context.Context, *wamp.Challenge) (*wamp.Authenticate, error)
	}{
		{"ticket-user", "ticket", answer(func(*wamp.Challenge) string { return "ticket-secret" })},
		{"cra-user", "wampcra", cra("cra-secret")},
		{"cra-salted", "wampcra", cra("cra-secret")},
	} {
		s, err := dial(&client.Options{AuthID: tc.authid, AuthMethods: []string{tc.method}, Authenticate: tc.answer})
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.authid, err, logs.String())
		}
		if d := s.Details(); d["authrole"] != "backend" || d["authid"] != tc.authid || d["authmethod"] != tc.method {
			t.Errorf("%s: WELCOME %v", tc.authid, d)
		}
		s.Close(context.Background())
	}
	if _, err := dial(&client.Options{AuthID: "ticket-user", AuthMethods: []string{"ticket"},
		Authenticate: answer(func(*wamp.Challenge) string { return "wrong" })}); err == nil || !strings.Contains(err.Error(), string(wamp.ErrAuthenticationFailed)) {
		t.Errorf("wrong ticket: %v", err)
	}

	pub, err := dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	if d := pub.Details(); d["authrole"] != "public" || d["authmethod"] != "anonymous" {
		t.Errorf("anonymous WELCOME %v", d)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pub.Call(cctx, "wamp.session.count", nil, nil, nil)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.URI != wamp.ErrNotAuthorized {
		t.Errorf("public calling wamp.session.count: %v", err)
	}
}

// TestPasswdRefusesCostsItWouldIgnoreOrClientsRefuse: --memory for a kdf
// without a memory cost was ignored, and a WAMP-SCRAM cost outside the
// bounds clients accept (junction call --password among them: PBKDF2 1000
// to 10,000,000 iterations, Argon2id at least 1 MiB, at most 2 GiB and
// 100 iterations) printed a credential no such client could log in with.
func TestPasswdRefusesCostsItWouldIgnoreOrClientsRefuse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "wampcra", "--memory", "64"}, "--memory: wampcra (PBKDF2) has no memory cost"},
		{[]string{"--method", "ticket", "--kdf", "pbkdf2-sha256", "--memory", "64"}, "--memory: pbkdf2-sha256 has no memory cost"},
		{[]string{"--method", "scram", "--kdf", "pbkdf2", "--memory", "64"}, "--memory: pbkdf2 has no memory cost"},
		{[]string{"--method", "scram", "--kdf", "pbkdf2", "--iterations", "999"}, "--iterations 999: WAMP-SCRAM clients refuse PBKDF2 with fewer than 1000 or more than 10000000"},
		{[]string{"--method", "scram", "--kdf", "pbkdf2", "--iterations", "10000001"}, "--iterations 10000001: WAMP-SCRAM clients refuse PBKDF2 with fewer than 1000 or more than 10000000"},
		{[]string{"--method", "scram", "--memory", "1023"}, "--memory 1023: WAMP-SCRAM clients refuse Argon2id with less than 1024 or more than 2097152 KiB"},
		{[]string{"--method", "scram", "--kdf", "argon2id-13", "--memory", "2097153"}, "--memory 2097153: WAMP-SCRAM clients refuse Argon2id with less than 1024 or more than 2097152 KiB"},
		{[]string{"--method", "scram", "--iterations", "101"}, "--iterations 101: WAMP-SCRAM clients refuse Argon2id with more than 100"},
	} {
		if out, code := passwd(t, "s3cret", tc.args...); code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("passwd %q: %d %q, want an error with %q", tc.args, code, out, tc.want)
		}
	}
	// The bounds themselves are accepted.
	if out, code := passwd(t, "s3cret", "--method", "scram", "--kdf", "pbkdf2", "--iterations", "1000"); code != 0 {
		t.Errorf("scram pbkdf2 1000 iterations: %s", out)
	}
	if out, code := passwd(t, "s3cret", "--method", "scram", "--iterations", "1", "--memory", "1024"); code != 0 {
		t.Errorf("scram argon2id13 1 iteration, 1024 KiB: %s", out)
	}
}
