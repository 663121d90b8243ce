package wamp

import "strings"

// Match is a matching policy of the Advanced Profile's pattern-based
// subscriptions and registrations (and of authorization rules).
type Match uint8

const (
	// MatchExact matches the URI itself.
	MatchExact Match = iota
	// MatchPrefix matches every URI that starts with the pattern, as a
	// string: "a.b" matches "a.b", "a.b.c" and "a.b-low", not "a.c". That
	// is what both pattern-based sections of the specification define and
	// what Crossbar.io and Autobahn do (the registration section's
	// precedence example alone reads as if prefixes matched whole
	// components; see pattern_test.go).
	MatchPrefix
	// MatchWildcard matches URIs with as many components as the pattern,
	// where each non-empty pattern component equals the URI's: "a..c"
	// matches "a.b.c" and "a.x.c".
	MatchWildcard
)

// String returns the policy's name on the wire: exact, prefix or wildcard.
func (m Match) String() string {
	switch m {
	case MatchPrefix:
		return "prefix"
	case MatchWildcard:
		return "wildcard"
	}
	return "exact"
}

// ParseMatch reads a match option; "" is exact.
func ParseMatch(s string) (Match, bool) {
	switch s {
	case "", "exact":
		return MatchExact, true
	case "prefix":
		return MatchPrefix, true
	case "wildcard":
		return MatchWildcard, true
	}
	return MatchExact, false
}

// ValidPattern checks a pattern for policy m: exact patterns are URIs,
// prefix patterns may end in ".", wildcard patterns may have empty
// components.
func ValidPattern(m Match, p URI, strict bool) bool {
	switch m {
	case MatchPrefix:
		if strings.HasSuffix(string(p), ".") {
			return len(p) > 1 && ValidURI(p[:len(p)-1], strict, false)
		}
		return ValidURI(p, strict, false)
	case MatchWildcard:
		return ValidURI(p, strict, true)
	}
	return ValidURI(p, strict, false)
}

// Matches reports whether u matches pattern p under policy m.
func (m Match) Matches(p, u URI) bool {
	switch m {
	case MatchPrefix:
		return strings.HasPrefix(string(u), string(p))
	case MatchWildcard:
		return wildcardMatches(p, u)
	}
	return p == u
}

// wildcardMatches compares component by component without allocating.
func wildcardMatches(p, u URI) bool {
	for {
		pi := strings.IndexByte(string(p), '.')
		ui := strings.IndexByte(string(u), '.')
		if (pi < 0) != (ui < 0) {
			return false
		}
		pc, uc := p, u
		if pi >= 0 {
			pc, uc = p[:pi], u[:ui]
		}
		if pc != "" && pc != uc {
			return false
		}
		if pi < 0 {
			return true
		}
		p, u = p[pi+1:], u[ui+1:]
	}
}

// wildcardBefore reports whether wildcard pattern a takes precedence over b
// for a URI both match: the one with a concrete component where the other
// has a wildcard, at the first position they differ (the specification's
// "longest portion of URI components matched before each wildcard").
func wildcardBefore(a, b URI) bool {
	for {
		ai := strings.IndexByte(string(a), '.')
		bi := strings.IndexByte(string(b), '.')
		ac, bc := a, b
		if ai >= 0 {
			ac = a[:ai]
		}
		if bi >= 0 {
			bc = b[:bi]
		}
		if (ac == "") != (bc == "") {
			return ac != ""
		}
		if ai < 0 || bi < 0 {
			return a < b // same shape: any stable order
		}
		a, b = a[ai+1:], b[bi+1:]
	}
}

// Precedes reports whether the registration (m1, p1) takes precedence
// over (m2, p2) for a URI that both match, by the rules Best applies: exact
// before prefix before wildcard, the longer of two prefixes, and of two
// wildcard patterns the one with the longer concrete portion before its
// first differing wildcard (two of the same shape in a fixed order). Two
// different patterns never tie, so nodes of a cluster that hold different
// registrations of one procedure all rank them alike.
func Precedes(m1 Match, p1 URI, m2 Match, p2 URI) bool {
	if m1 != m2 {
		return m1 < m2 // exact, prefix, wildcard: the order of the constants
	}
	switch m1 {
	case MatchPrefix:
		return len(p1) > len(p2)
	case MatchWildcard:
		return p1 != p2 && wildcardBefore(p1, p2)
	}
	return false
}

// PatternIndex holds values under (policy, pattern) keys and finds those
// that match a URI, fast when there are many exact and prefix patterns. The
// zero value is ready to use; it is not safe for concurrent use.
type PatternIndex[V any] struct {
	exact  map[URI]V
	prefix map[URI]V
	// prefixLens counts prefix patterns by length, so that a lookup only
	// tries the lengths in use.
	prefixLens map[int]int
	// wildcard patterns by number of components.
	wildcard map[int]map[URI]V
	n        int
}

// Len returns the number of entries.
func (x *PatternIndex[V]) Len() int { return x.n }

// Get returns the value under (m, p).
func (x *PatternIndex[V]) Get(m Match, p URI) (V, bool) {
	var v V
	var ok bool
	switch m {
	case MatchExact:
		v, ok = x.exact[p]
	case MatchPrefix:
		v, ok = x.prefix[p]
	case MatchWildcard:
		v, ok = x.wildcard[components(p)][p]
	}
	return v, ok
}

// Put stores v under (m, p), replacing what was there.
func (x *PatternIndex[V]) Put(m Match, p URI, v V) {
	if _, ok := x.Get(m, p); !ok {
		x.n++
	}
	switch m {
	case MatchExact:
		if x.exact == nil {
			x.exact = make(map[URI]V)
		}
		x.exact[p] = v
	case MatchPrefix:
		if x.prefix == nil {
			x.prefix = make(map[URI]V)
			x.prefixLens = make(map[int]int)
		}
		if _, ok := x.prefix[p]; !ok {
			x.prefixLens[len(p)]++
		}
		x.prefix[p] = v
	case MatchWildcard:
		if x.wildcard == nil {
			x.wildcard = make(map[int]map[URI]V)
		}
		c := components(p)
		if x.wildcard[c] == nil {
			x.wildcard[c] = make(map[URI]V)
		}
		x.wildcard[c][p] = v
	}
}

// Delete removes (m, p).
func (x *PatternIndex[V]) Delete(m Match, p URI) {
	if _, ok := x.Get(m, p); !ok {
		return
	}
	x.n--
	switch m {
	case MatchExact:
		delete(x.exact, p)
	case MatchPrefix:
		delete(x.prefix, p)
		if x.prefixLens[len(p)]--; x.prefixLens[len(p)] == 0 {
			delete(x.prefixLens, len(p))
		}
	case MatchWildcard:
		c := components(p)
		delete(x.wildcard[c], p)
		if len(x.wildcard[c]) == 0 {
			delete(x.wildcard, c)
		}
	}
}

// Each calls fn for every entry, in no particular order, until fn returns
// false.
func (x *PatternIndex[V]) Each(fn func(m Match, p URI, v V) bool) {
	for p, v := range x.exact {
		if !fn(MatchExact, p, v) {
			return
		}
	}
	for p, v := range x.prefix {
		if !fn(MatchPrefix, p, v) {
			return
		}
	}
	for _, ps := range x.wildcard {
		for p, v := range ps {
			if !fn(MatchWildcard, p, v) {
				return
			}
		}
	}
}

// Matching calls fn for every entry whose pattern matches u, exact first,
// then prefix, then wildcard, until fn returns false.
func (x *PatternIndex[V]) Matching(u URI, fn func(m Match, p URI, v V) bool) {
	if v, ok := x.exact[u]; ok {
		if !fn(MatchExact, u, v) {
			return
		}
	}
	if len(x.prefix) > 0 {
		for n := range x.prefixLens {
			if n > len(u) {
				continue
			}
			p := u[:n]
			if v, ok := x.prefix[p]; ok {
				if !fn(MatchPrefix, p, v) {
					return
				}
			}
		}
	}
	if len(x.wildcard) > 0 {
		for p, v := range x.wildcard[components(u)] {
			if wildcardMatches(p, u) {
				if !fn(MatchWildcard, p, v) {
					return
				}
			}
		}
	}
}

// Best returns the entry the specification's precedence picks for u: the
// exact one, else the longest matching prefix, else the wildcard pattern
// with the longest concrete portions before its wildcards.
func (x *PatternIndex[V]) Best(u URI) (m Match, p URI, v V, ok bool) {
	if v, ok := x.exact[u]; ok {
		return MatchExact, u, v, true
	}
	best := -1
	for n := range x.prefixLens {
		if n <= len(u) && n > best {
			if _, hit := x.prefix[u[:n]]; hit {
				best = n
			}
		}
	}
	if best >= 0 {
		return MatchPrefix, u[:best], x.prefix[u[:best]], true
	}
	found := false
	for wp, wv := range x.wildcard[components(u)] {
		if wildcardMatches(wp, u) && (!found || wildcardBefore(wp, p)) {
			p, v, found = wp, wv, true
		}
	}
	if found {
		return MatchWildcard, p, v, true
	}
	return MatchExact, "", v, false
}

func components(u URI) int { return strings.Count(string(u), ".") + 1 }
