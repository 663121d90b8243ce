package auth

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// TestPatternAuthorizationIsSound checks, for random rule sets over a
// small alphabet, that a pattern-based subscription is allowed only when
// every URI it matches (of every URI of up to four components) would be
// allowed on its own: no prefix or wildcard pattern reaches past a rule.
func TestPatternAuthorizationIsSound(t *testing.T) {
	comps := []string{"a", "b", "ab", "ba"}
	var uris []wamp.URI
	var gen func(prefix []string, n int)
	gen = func(prefix []string, n int) {
		if len(prefix) > 0 {
			uris = append(uris, wamp.URI(strings.Join(prefix, ".")))
		}
		if n == 0 {
			return
		}
		for _, c := range comps {
			gen(append(prefix, c), n-1)
		}
	}
	gen(nil, 4)
	type pat struct {
		m wamp.Match
		p wamp.URI
	}
	var pats []pat
	seen := map[pat]bool{}
	add := func(m wamp.Match, p wamp.URI) {
		k := pat{m, p}
		if !seen[k] && wamp.ValidPattern(m, p, false) {
			seen[k] = true
			pats = append(pats, k)
		}
	}
	for _, u := range uris {
		if strings.Count(string(u), ".") > 2 {
			continue
		}
		add(wamp.MatchExact, u)
		for i := 1; i <= len(u); i++ {
			add(wamp.MatchPrefix, u[:i])
		}
		cs := strings.Split(string(u), ".")
		for mask := 0; mask < 1<<len(cs); mask++ {
			w := make([]string, len(cs))
			for i, c := range cs {
				if mask&(1<<i) == 0 {
					w[i] = c
				}
			}
			add(wamp.MatchWildcard, wamp.URI(strings.Join(w, ".")))
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var perms []Permission
		for range 1 + rnd.IntN(4) {
			p := pats[rnd.IntN(len(pats))]
			var a Allow
			if rnd.IntN(2) == 0 {
				a = allow(ActionSubscribe)
			}
			perms = append(perms, Permission{URI: string(p.p), Match: p.m, Allow: a})
		}
		if rnd.IntN(3) == 0 {
			var a Allow
			if rnd.IntN(4) != 0 {
				a = allow(ActionSubscribe)
			}
			perms = append(perms, Permission{URI: AnyURI, Allow: a})
		}
		r := compile(perms, "", "")
		for _, p := range pats {
			if p.m == wamp.MatchExact || !r.allowed(ActionSubscribe, p.p, p.m) {
				continue
			}
			for _, u := range uris {
				if p.m.Matches(p.p, u) && !r.allowed(ActionSubscribe, u, wamp.MatchExact) {
					t.Fatalf("rules %+v allow %s %q, which matches %q, which they deny", perms, p.m, p.p, u)
				}
			}
		}
	}
}
