package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// A hash that parses (pbkdf2, cheap); what it hashes does not matter here.
const testHash = "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE"

func TestAdminWhere(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		enabled bool
		index   int
		address string
	}{
		{"no config", ``, true, 0, "127.0.0.1:8080"},
		{"public first listener, no admin section", "listeners: [{address: 0.0.0.0:8080}]\n", false, 0, "0.0.0.0:8080"},
		{"unix first listener", "listeners: [{address: unix:/tmp/j.sock}]\n", true, 0, "unix:/tmp/j.sock"},
		{"localhost", "listeners: [{address: 'localhost:9000'}]\n", true, 0, "localhost:9000"},
		{"an admin section", "listeners: [{address: 0.0.0.0:8080}]\nadmin: {address: 127.0.0.1:9090}\n", true, -1, "127.0.0.1:9090"},
		{"named listener", "listeners: [{address: 0.0.0.0:8080}, {address: '[::1]:8081'}]\nadmin: {address: '[::1]:8081'}\n", true, 1, "[::1]:8081"},
		{"off", "admin: {enabled: false}\n", false, 0, "127.0.0.1:8080"},
		{"public with a login", "listeners: [{address: 0.0.0.0:8080}]\nadmin:\n  users: [{name: ops, password: '" + testHash + "'}]\n", true, 0, "0.0.0.0:8080"},
		{"public, allowed", "listeners: [{address: 0.0.0.0:8080}]\nadmin: {allow_unprotected: true}\n", true, 0, "0.0.0.0:8080"},
		{"public, health only", "listeners: [{address: 0.0.0.0:8080}]\nadmin: {metrics: false, web_view: false}\n", true, 0, "0.0.0.0:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("junction.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			index, addr := cfg.AdminListener()
			if cfg.AdminEnabled() != tc.enabled || index != tc.index || addr != tc.address {
				t.Fatalf("enabled %v, listener %d, address %q; want %v, %d, %q", cfg.AdminEnabled(), index, addr, tc.enabled, tc.index, tc.address)
			}
		})
	}
}

func TestAdminErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"public and open",
			"listeners: [{address: 0.0.0.0:8080}]\nadmin:\n  enabled: true\n",
			"junction.yaml:3:12: admin: metrics and the web view would be open to anyone on 0.0.0.0:8080 (listeners[0]), which is not a loopback address"},
		{"public and open on its own address",
			"admin:\n  address: ':9090'\n",
			`junction.yaml:2:12: admin: metrics and the web view would be open to anyone on :9090, which is not a loopback address`},
		{"conflict with a listener",
			"listeners: [{address: 127.0.0.1:8080}]\nadmin:\n  address: '[::ffff:127.0.0.1]:8080'\n",
			`junction.yaml:3:12: admin.address: "[::ffff:127.0.0.1]:8080" is the same address as "127.0.0.1:8080" at line 1`},
		{"bad address",
			"admin:\n  address: nowhere\n",
			`junction.yaml:2:12: admin.address: "nowhere" is not a valid address`},
		{"user without password",
			"admin:\n  users:\n    - name: ops\n",
			"junction.yaml:3:7: admin.users[0].password: a password hash is required"},
		{"user name with a colon",
			"admin:\n  users:\n    - {name: 'a:b', password: '" + testHash + "'}\n",
			`junction.yaml:3:14: admin.users[0].name: "a:b": a user name has no ':'`},
		{"duplicate user",
			"admin:\n  users:\n    - {name: ops, password: '" + testHash + "'}\n    - {name: ops, password: '" + testHash + "'}\n",
			`junction.yaml:4:14: admin.users[1].name: "ops" is already a user at line 3`},
		{"password not hashed",
			"admin:\n  users:\n    - {name: ops, password: hunter2}\n",
			"junction.yaml:3:29: admin.users[0].password: not a password hash: it must start with $argon2id$ or $pbkdf2-sha256$ (make one with `junction passwd`); a password is stored hashed"},
		{"token without hash",
			"admin:\n  tokens:\n    - {name: prometheus}\n",
			"junction.yaml:3:7: admin.tokens[0].token: a token hash is required"},
		{"unknown key",
			"admin:\n  password: x\n",
			`junction.yaml:2:3: unknown key "password" in admin (known: enabled, address, metrics, web_view, users, tokens, allow_unprotected, throttle, trusted_proxies)`},
		{"trusted proxies on a WAMP listener",
			"listeners: [{address: 127.0.0.1:8080}]\nadmin:\n  trusted_proxies: [10.0.0.1]\n",
			"junction.yaml:3:20: admin.trusted_proxies: the admin endpoints are served on listeners[0] (127.0.0.1:8080), whose trusted_proxies they take: list the proxies there"},
		{"a trusted proxy that is not an address",
			"admin:\n  address: 127.0.0.2:9090\n  trusted_proxies: [10.0.0.1, proxy.example]\n",
			`junction.yaml:3:31: admin.trusted_proxies[1]: "proxy.example" is not an IP address`},
		{"negative delay",
			"admin:\n  throttle: {max_delay: -1s}\n",
			"junction.yaml:2:25: admin.throttle.max_delay: must be 0 (no throttle) or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("junction.yaml", []byte(tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s...", err, tc.want)
			}
		})
	}
}

// TestAdminValidateInCode refuses, without lines, what Parse refuses: a
// Config built in code.
func TestAdminValidateInCode(t *testing.T) {
	cfg := Default()
	cfg.Listeners[0].Address = "0.0.0.0:8080"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("no admin section written: %v", err)
	}
	on := true
	cfg.Admin.Enabled = &on
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "admin: metrics and the web view would be open") {
		t.Fatalf("Validate = %v", err)
	}
}

// TestAdminREADME checks that README.md documents every admin key and that
// its example of a refused admin section is what Parse says.
func TestAdminREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]string{adminKeys, adminUserKeys, adminTokenKeys} {
		for _, k := range keys {
			if !regexp.MustCompile("(?m)^\\| `[a-z_.\\[\\]]*" + regexp.QuoteMeta(k) + "`").Match(readme) {
				t.Errorf("README.md has no table row for key %q", k)
			}
		}
	}
	m := regexp.MustCompile("(?s)This admin section:\n\n```yaml\n(.*?)```\n\nis refused with:\n\n```\n(.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no refused admin section")
	}
	_, err = Parse("junction.yaml", m[1])
	if err == nil || err.Error() != string(m[2]) {
		t.Errorf("README.md shows:\n%s\nParse says:\n%v", m[2], err)
	}
}
