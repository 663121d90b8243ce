package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
)

// TestAuthExample loads examples/config/auth.yaml, the example:
// every method, and the backend, device and public roles.
func TestAuthExample(t *testing.T) {
	cfg, err := Load("../examples/config/auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Realms) != 1 || cfg.Realms[0].Name != "realm1" || cfg.Realms[0].Auth == nil {
		t.Fatalf("realms %+v", cfg.Realms)
	}
	a := cfg.Realms[0].Auth
	want := map[string]string{"ticket-user": "backend", "cra-user": "backend", "cra-salted": "backend", "scram-user": "backend", "device-1": "device"}
	for _, p := range a.Principals {
		if want[p.AuthID] != p.Role {
			t.Errorf("principal %s has role %s", p.AuthID, p.Role)
		}
		delete(want, p.AuthID)
	}
	if len(want) > 0 {
		t.Errorf("missing principals %v", want)
	}
	if a.AnonymousRole != "public" || !cfg.Realms[0].Anonymous {
		t.Errorf("anonymous: %v %q", cfg.Realms[0].Anonymous, a.AnonymousRole)
	}
	pol, roles, err := cfg.Realms[0].Build(&auth.Cookies{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"anonymous", "ticket", "wampcra", "wamp-scram", "scram", "cryptosign"} {
		if !pol.Accepts(m) {
			t.Errorf("the policy does not accept %s", m)
		}
	}
	for _, m := range []string{"tls", "cookie"} {
		if pol.Accepts(m) {
			t.Errorf("the policy accepts %s", m)
		}
	}
	// The stored secrets are those of the issue.
	for _, p := range a.Principals {
		switch p.AuthID {
		case "ticket-user":
			if !p.Ticket.Verify("ticket-secret") {
				t.Error("ticket-user's hash is not of ticket-secret")
			}
		case "cra-salted":
			k, _ := auth.DeriveCRAKey("cra-secret", p.WAMPCRA.Salt, p.WAMPCRA.Iterations, p.WAMPCRA.KeyLen)
			if string(k.Key) != string(p.WAMPCRA.Key) {
				t.Error("cra-salted's key is not derived from cra-secret")
			}
		}
	}
	for role, checks := range map[string]map[string]bool{
		"device": {"register device.device-1.reboot": true, "publish device.device-1.temp": true, "call device.device-1.reboot": false, "register device.device-2.x": false},
		"public": {"subscribe public.news": true, "call public.time": true, "publish public.news": false, "register public.time": false},
	} {
		sa := roles.ForSession(&auth.Subject{Realm: "realm1", AuthID: "device-1", AuthRole: role}, nil)
		for c, want := range checks {
			action, uri, _ := strings.Cut(c, " ")
			act, _ := auth.ParseAction(action)
			if d, _ := sa.Authorize(act, wampURI(uri), 0, nil, nil); d.Allowed != want {
				t.Errorf("%s %s: allowed %v", role, c, d.Allowed)
			}
		}
	}
}

// TestAuthErrors gives each kind of bad auth config and its error.
func TestAuthErrors(t *testing.T) {
	head := lines("realms:", "  - name: r", "    anonymous: false", "    auth:")
	for _, tc := range []struct{ name, yaml, want string }{
		{"principal without credential", head + lines("      principals:", "        - authid: a", "          role: x"),
			`junction.yaml:6:11: realms[0].auth.principals[0]: a principal needs a credential: ticket, wampcra, scram, cryptosign or tls`},
		{"ticket in the clear", head + lines("      principals:", "        - authid: a", "          role: x", "          ticket: hunter2"),
			`junction.yaml:8:19: realms[0].auth.principals[0].ticket: not a password hash: it must start with $argon2id$ or $pbkdf2-sha256$ (make one with ` + "`junction passwd`" + `); a ticket is stored hashed: ` + "`junction passwd --method ticket`" + ` prints the hash`},
		{"malformed public key", head + lines("      principals:", "        - authid: a", "          role: x", "          cryptosign: [abc]"),
			`junction.yaml:8:24: realms[0].auth.principals[0].cryptosign[0]: "abc" is not an Ed25519 public key: 64 hex digits (` + "`junction keygen`" + ` makes a pair)`},
		{"empty credential lists", head + lines("      principals:", "        - authid: a", "          role: x", "          cryptosign: []", "          scram: []", "          tls: []"),
			`junction.yaml:6:11: realms[0].auth.principals[0]: a principal needs a credential: ticket, wampcra, scram, cryptosign or tls`},
		{"unknown dynamic method", head + lines("      dynamic:", "        procedure: com.example.auth", "        methods: [ticket, magic]"),
			`junction.yaml:7:27: realms[0].auth.dynamic.methods[1]: "magic" is not one of ticket, wampcra, wamp-scram, cryptosign`},
		{"dynamic authenticator in no realm", head + lines("      dynamic:", "        procedure: com.example.auth", "        realm: nowhere", "        methods: [ticket]"),
			`junction.yaml:7:16: realms[0].auth.dynamic.realm: "nowhere" is not a realm of this config (realms[].name)`},
		{"authorizer in no realm", head + lines("      roles:", "        - name: x", "          authorizer: {procedure: com.example.authorize, realm: nowhere}"),
			`junction.yaml:7:65: realms[0].auth.roles[0].authorizer.realm: "nowhere" is not a realm of this config (realms[].name)`},
		{"unknown principal key", head + lines("      principals:", "        - authid: a", "          role: x", "          password: y"),
			"junction.yaml:6:11: realms[0].auth.principals[0]: a principal needs a credential: ticket, wampcra, scram, cryptosign or tls\n" +
				`junction.yaml:8:11: unknown key "password" in realms[0].auth.principals[0] (known: authid, role, ticket, wampcra, scram, cryptosign, tls)`},
		{"undefined role", head + lines("      principals:", "        - authid: a", "          role: admin", "          wampcra: {secret: s}", "      roles:", "        - name: user"),
			`junction.yaml:7:17: realms[0].auth.principals[0].role: role "admin" is not defined in auth.roles`},
		{"duplicate authid", head + lines("      principals:", "        - {authid: a, role: x, wampcra: {secret: s}}", "        - {authid: a, role: x, wampcra: {secret: s}}"),
			`junction.yaml:7:20: realms[0].auth.principals[1].authid: "a" is already defined at line 6`},
		{"wampcra both forms", head + lines("      principals:", "        - authid: a", "          role: x", "          wampcra: {secret: s, salt: x}"),
			`junction.yaml:8:20: realms[0].auth.principals[0].wampcra: give either secret (unsalted) or key, salt, iterations and keylen (salted), not both`},
		{"bad pattern", head + lines("      roles:", "        - name: x", "          permissions:", "            - {uri: a..b, allow: [call]}"),
			`junction.yaml:8:21: realms[0].auth.roles[0].permissions[0].uri: "a..b" is not a valid exact pattern (placeholders {authid} and {authrole} stand for whole components)`},
		{"bad action", head + lines("      roles:", "        - name: x", "          permissions:", "            - {uri: a, allow: [call, delete]}"),
			`junction.yaml:8:38: realms[0].auth.roles[0].permissions[0].allow[1]: "delete" is not one of call, register, publish, subscribe`},
		{"bad disclosure", head + lines("      roles:", "        - name: x", "          disclose_caller: sometimes"),
			`junction.yaml:7:28: realms[0].auth.roles[0].disclose_caller: "sometimes" is not one of on_request, always, never`},
		{"anonymous not said", lines("realms:", "  - name: r", "    auth:", "      principals:", "        - {authid: a, role: x, wampcra: {secret: s}}"),
			`junction.yaml:4:7: realms[0].anonymous: say whether anonymous clients may join too (anonymous: true or false): the realm has authentication`},
		{"cookie without listener", head + lines("      cookie: true"),
			`junction.yaml:5:15: realms[0].auth.cookie: no listener sets cookies: add cookie: {} to a listener`},
		{"template with a name", lines("realm_template:", "  name: x", "  stict_uris: true"),
			"junction.yaml:2:9: realm_template.name: a template has no name: a realm made from it is named by the client's HELLO\n" +
				"junction.yaml:3:3: unknown key \"stict_uris\" in realm_template (known: name, strict_uris, anonymous, meta_api, disclose_caller, disclose_publisher, trust_levels, history, auth)"},
		{"template settings", lines("store: {path: h.db}", "realm_template:", "  disclose_caller: sometimes", "  history:", "    - {topic: a.b, limit: 5}"),
			"junction.yaml:3:20: realm_template.disclose_caller: \"sometimes\" is not one of on_request, always, never\n" +
				"junction.yaml:5:5: realm_template.history: realms made from the template cannot keep event history: give history rules to realms listed under realms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("junction.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Error() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

// TestAuthREADME checks that README.md documents every auth key.
func TestAuthREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]string{realmAuthKeys, throttleKeys, principalKeys, dynamicKeys, roleKeys, permissionKeys, authorizerKeys, cookieKeys} {
		for _, k := range keys {
			if !regexp.MustCompile("(?m)^\\| `[a-z_.\\[\\]]*" + regexp.QuoteMeta(k) + "`").Match(readme) {
				t.Errorf("README.md has no table row for key %q", k)
			}
		}
	}
	for _, keys := range [][]string{wampcraKeys, scramKeys} {
		for _, k := range keys {
			if !strings.Contains(string(readme), "`"+k+"`") {
				t.Errorf("README.md does not name key %q", k)
			}
		}
	}
}

func wampURI(s string) wamp.URI { return wamp.URI(s) }

// TestREADMEAuthConfig parses the realistic config of the top-level
// README: the only problems allowed are its TLS files, which exist only on
// the machine it describes.
func TestREADMEAuthConfig(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)A realistic setup:.*?```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no realistic auth config")
	}
	_, err = Parse("readme.yaml", m[1])
	if err == nil {
		t.Fatal("the TLS files of the README's config exist here; this test expects them not to")
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(line, "listeners[0].tls.cert: open /etc/junction/") && !strings.Contains(line, "listeners[0].tls.key: open /etc/junction/") {
			t.Errorf("README config: %s", line)
		}
	}
}

// TestREADMEClusterConfigs: every cluster section config/README.md shows
// parses and validates, but for the certificate and credentials files it
// names, which do not exist here.
func TestREADMEClusterConfigs(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(cluster:\n.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) < 3 {
		t.Fatalf("config/README.md shows %d cluster sections; this test knows of 3", len(blocks))
	}
	for i, b := range blocks {
		_, err := Parse(fmt.Sprintf("cluster-%d.yaml", i), b[1])
		if err == nil {
			continue
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.Contains(line, ": open ") {
				t.Errorf("config/README.md's cluster section %d: %s", i+1, line)
			}
		}
	}
}

// TestClientCAHoldsNoCertificate: a tls.client_ca file without a PEM
// certificate is refused with its file and line, as cluster.tls.ca is; it
// used to pass, and junction serve then failed at start without either.
func TestClientCAHoldsNoCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "listeners:\n  - address: 127.0.0.1:0\n    tls:\n      cert: " + cert + "\n      key: " + key +
		"\n      client_auth: verify\n      client_ca: " + junk + "\n"
	_, err := Parse("junction.yaml", []byte(yaml))
	want := "junction.yaml:7:18: listeners[0].tls.client_ca: " + junk + " holds no PEM certificate"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
