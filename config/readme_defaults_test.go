package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEDefaults checks the Default column of README.md's key tables
// against the code: for each key whose default is one literal value (such
// as `16MiB`, `true` or `/lp`), a config that sets the key to that value
// must parse to the same Config as one that leaves the key out. Defaults
// written as prose ("the realm's", "none", "required") are not checked.
func TestREADMEDefaults(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "")
	hash := "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43)
	// The config each table's keys go in: KEY stands for the key's line.
	sections := map[string]string{
		"listeners":                        "listeners:\n  - address: 127.0.0.1:0\n    KEY\n",
		"listeners[].longpoll":             "listeners:\n  - address: 127.0.0.1:0\n    KEY\n",
		"listeners[].bridge":               "listeners:\n  - address: 127.0.0.1:0\n    KEY\n",
		"listeners[].tls":                  "listeners:\n  - address: 127.0.0.1:0\n    tls:\n      cert: " + cert + "\n      key: " + key + "\n      KEY\n",
		"listeners[].cookie":               "listeners:\n  - address: 127.0.0.1:0\n    KEY\n",
		"realms":                           "realms:\n  - name: r1\n    KEY\n",
		"realms[].history":                 "store: {path: " + filepath.Join(dir, "h.db") + "}\nrealms:\n  - name: r1\n    history:\n      - topic: t\n        limit: 1\n        KEY\n",
		"Authentication and authorization": "realms:\n  - name: r1\n    KEY\n",
		"auth.dynamic":                     "realms:\n  - name: r1\n    anonymous: false\n    auth:\n      dynamic:\n        procedure: p\n        methods: [ticket]\n        KEY\n",
		"auth.roles[].permissions[]":       "realms:\n  - name: r1\n    auth:\n      roles:\n        - name: x\n          permissions:\n            - uri: a\n              KEY\n",
		"auth.roles[].authorizer":          "realms:\n  - name: r1\n    auth:\n      roles:\n        - name: x\n          authorizer:\n            procedure: p\n            KEY\n",
		"limits":                           "limits:\n  KEY\n",
		"log":                              "log:\n  KEY\n",
		"webhooks":                         "webhooks:\n  - topic: t\n    url: http://127.0.0.1:1/\n    KEY\n",
		"callees":                          "callees:\n  - procedure: p\n    url: http://127.0.0.1:1/\n    KEY\n",
		"admin":                            "admin:\n  users: []\n  KEY\n", // an admin section: enabled either way
		"admin.users[]":                    "admin:\n  users:\n    - name: u\n      password: \"" + hash + "\"\n      KEY\n",
		"admin.tokens[]":                   "admin:\n  tokens:\n    - token: \"" + hash + "\"\n      KEY\n",
		"cluster":                          "cluster:\n  listen: 127.0.0.1:0\n  KEY\n",
	}
	heading := regexp.MustCompile(`^#+ (.*)$`)
	row := regexp.MustCompile("^\\| `([^`]+)` \\| [^|]+ \\| `([^`]*)`( \\([^)]*\\))? \\|")
	section, checked := "", 0
	for i, line := range strings.Split(string(readme), "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		tmpl, ok := sections[section]
		if !ok || strings.ContainsAny(m[2], "[]") {
			continue
		}
		// a.b.c: value is a: {b: {c: value}}; left out, a: {b: {}}.
		name := m[1]
		if _, after, ok := strings.Cut(name, "[]."); ok {
			name = after
		}
		if section == "listeners[].tls" {
			name = strings.TrimPrefix(name, "tls.")
		}
		parts := strings.Split(name, ".")
		value := m[2]
		set, unset := parts[len(parts)-1]+": "+value, "{}"
		for j := len(parts) - 2; j >= 0; j-- {
			set = parts[j] + ": {" + set + "}"
			unset = parts[j] + ": " + unset
			if j > 0 {
				unset = "{" + unset + "}"
			}
		}
		if len(parts) == 1 {
			unset = "# " + set // the same lines, the key left out
		}
		with := strings.Replace(tmpl, "KEY", set, 1)
		without := strings.Replace(tmpl, "KEY", unset, 1)
		got, err := Parse(filepath.Join(dir, "junction.yaml"), []byte(with))
		if err != nil {
			t.Errorf("README.md:%d: %s: %s (default `%s`) is refused: %v\n%s", i+1, section, m[1], value, err, with)
			continue
		}
		want, err := Parse(filepath.Join(dir, "junction.yaml"), []byte(without))
		if err != nil {
			t.Errorf("README.md:%d: %s: without %s: %v\n%s", i+1, section, m[1], err, without)
			continue
		}
		checked++
		if !reflect.DeepEqual(got, want) {
			t.Errorf("README.md:%d: %s: %s's default is `%s` in the README, not in the code:\n%s", i+1, section, m[1], value, diff(want, got))
		}
	}
	t.Logf("%d defaults checked", checked)
	if checked < 60 {
		t.Errorf("only %d defaults checked: does the README's table layout still match this test?", checked)
	}
}

// diff describes how two configs differ, field by field (top level only,
// which is enough to find the key).
func diff(a, b *Config) string {
	var s strings.Builder
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			fmt.Fprintf(&s, "  %s: code %+v\n  %s: README %+v\n", va.Type().Field(i).Name, va.Field(i).Interface(), va.Type().Field(i).Name, vb.Field(i).Interface())
		}
	}
	return s.String()
}
