package config

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExampleSetsWhatItClaims keeps example.yaml's first lines true: it
// sets every key of the listeners, realms, store, limits and log sections
// but the ones it names as left out (tls, cookie, auth). A key added to
// one of these sections goes into the example, or into this list and the
// example's words.
func TestExampleSetsWhatItClaims(t *testing.T) {
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Listeners []map[string]any
		Realms    []map[string]any
		Store     map[string]any
		Limits    map[string]any
		Log       map[string]any
	}
	if err := yaml.Unmarshal(data, &ex); err != nil {
		t.Fatal(err)
	}
	set := func(ms ...map[string]any) map[string]bool {
		keys := map[string]bool{}
		for _, m := range ms {
			for k := range m {
				keys[k] = true
			}
		}
		return keys
	}
	var history []map[string]any
	for _, r := range ex.Realms {
		hs, _ := r["history"].([]any)
		for _, h := range hs {
			if m, ok := h.(map[string]any); ok {
				history = append(history, m)
			}
		}
	}
	for _, c := range []struct {
		section string
		known   []string
		set     map[string]bool
		leftOut []string
	}{
		{"listeners", listenerKeys, set(ex.Listeners...), []string{"tls", "cookie"}},
		{"realms", realmKeys, set(ex.Realms...), []string{"auth"}},
		{"realms[].history", historyKeys, set(history...), nil},
		{"store", storeKeys, set(ex.Store), nil},
		{"limits", limitsKeys, set(ex.Limits), nil},
		{"log", logKeys, set(ex.Log), nil},
	} {
		for _, k := range c.known {
			if !c.set[k] && !slices.Contains(c.leftOut, k) {
				t.Errorf("example.yaml does not set %s key %q", c.section, k)
			}
		}
	}
}
