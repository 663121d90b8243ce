package config

import (
	"fmt"
	"reflect"
	"testing"
)

// TestKeyWithoutValueIsLeftOut: README's rule that a key with no value
// means the same as leaving it out, for every key whose value is a section
// or a list, wherever it stands.
func TestKeyWithoutValueIsLeftOut(t *testing.T) {
	// Each template has one %s where the key goes, as "key: null" or as
	// nothing; keys of a template go in turn in its place.
	for _, tc := range []struct {
		where, template string
		keys            []string
	}{
		{"top", "%s\n", []string{"listeners", "realms", "realm_template", "store", "limits", "log", "webhooks", "callees", "admin", "cluster"}},
		{"listener", "listeners:\n  - address: 127.0.0.1:8080\n    %s\n", []string{"tls", "allowed_origins", "cookie", "longpoll", "bridge"}},
		{"realm", "realms:\n  - name: realm1\n    %s\n", []string{"trust_levels", "history", "auth"}},
		{"auth", "realms:\n  - name: realm1\n    anonymous: true\n    auth:\n      anonymous_role: guest\n      %s\n", []string{"principals", "dynamic", "roles", "throttle"}},
		{"role", "realms:\n  - name: realm1\n    anonymous: true\n    auth:\n      roles:\n        - name: guest\n          %s\n", []string{"permissions", "authorizer"}},
		{"admin", "admin:\n  enabled: true\n  %s\n", []string{"users", "tokens", "throttle"}},
		{"cluster", "cluster:\n  listen: 127.0.0.1:6222\n  %s\n", []string{"join", "tls"}},
	} {
		for _, key := range tc.keys {
			t.Run(tc.where+"/"+key, func(t *testing.T) {
				without := fmt.Sprintf(tc.template, "")
				with := fmt.Sprintf(tc.template, key+":")
				want, err := Parse("without.yaml", []byte(without))
				if err != nil {
					t.Fatalf("without the key: %v\n%s", err, without)
				}
				got, err := Parse("with.yaml", []byte(with))
				if err != nil {
					t.Fatalf("%q with no value: %v\n%s", key, err, with)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%q with no value is not the same as leaving it out:\n%s\ngot  %+v\nwant %+v", key, with, got, want)
				}
			})
		}
	}
}
