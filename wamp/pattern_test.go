package wamp

import (
	"math"
	"testing"
)

func TestMatchesPolicies(t *testing.T) {
	cases := []struct {
		m    Match
		p, u URI
		want bool
	}{
		{MatchExact, "a.b", "a.b", true},
		{MatchExact, "a.b", "a.b.c", false},
		{MatchPrefix, "a.b", "a.b", true},
		{MatchPrefix, "a.b", "a.b.c", true},
		{MatchPrefix, "a.b", "a.bc", true},
		{MatchPrefix, "a.b", "a.c", false},
		{MatchPrefix, "a.b.", "a.b.c", true},
		{MatchPrefix, "a.b.", "a.b", false},
		{MatchPrefix, "a.b.c", "a.b", false},
		{MatchWildcard, "a..c", "a.b.c", true},
		{MatchWildcard, "a..c", "a.x.c", true},
		{MatchWildcard, "a..c", "a.b.d", false},
		{MatchWildcard, "a..c", "a.b.c.d", false},
		{MatchWildcard, "a..c", "a.c", false},
		{MatchWildcard, ".b.", "x.b.y", true},
		{MatchWildcard, "a.b", "a.b", true},
	}
	for _, c := range cases {
		if got := c.m.Matches(c.p, c.u); got != c.want {
			t.Errorf("%s %q matches %q = %v, want %v", c.m, c.p, c.u, got, c.want)
		}
	}
}

// The specification's own example of registration precedence
// (rpc_pattern_based_registration.md), with one departure: the example
// says "a1.b2.c33.d4.e5" has no prefix match, but prefix matching is
// defined in both pattern-based sections (and done by Crossbar.io) as a
// string prefix, under which registration 2, "a1.b2.c3", matches it.
func TestPatternIndexBestSpecExample(t *testing.T) {
	var x PatternIndex[int]
	x.Put(MatchExact, "a1.b2.c3.d4.e55", 1)
	x.Put(MatchPrefix, "a1.b2.c3", 2)
	x.Put(MatchPrefix, "a1.b2.c3.d4", 3)
	x.Put(MatchWildcard, "a1.b2..d4.e5", 4)
	x.Put(MatchWildcard, "a1.b2.c33..e5", 5)
	x.Put(MatchWildcard, "a1.b2..d4.e5..g7", 6)
	x.Put(MatchWildcard, "a1.b2..d4..f6.g7", 7)
	for u, want := range map[URI]int{
		"a1.b2.c3.d4.e55":       1,
		"a1.b2.c3.d98.e74":      2,
		"a1.b2.c3.d4.e325":      3,
		"a1.b2.c55.d4.e5":       4,
		"a1.b2.c33.d4.e5":       2, // the spec's example says 5; see above
		"a1.b2.c88.d4.e5.f6.g7": 6,
		"a2.b2.c2.d2.e2":        0,
	} {
		_, _, got, ok := x.Best(u)
		if !ok {
			got = 0
		}
		if got != want {
			t.Errorf("Best(%q) = %d, want %d", u, got, want)
		}
	}
	// Without the prefix registrations, the example's wildcard precedence.
	x.Delete(MatchPrefix, "a1.b2.c3")
	if _, _, got, _ := x.Best("a1.b2.c33.d4.e5"); got != 5 {
		t.Errorf("Best(a1.b2.c33.d4.e5) without prefixes = %d, want 5", got)
	}
	x.Put(MatchPrefix, "a1.b2.c3", 2)
	if x.Len() != 7 {
		t.Fatalf("Len = %d", x.Len())
	}
	x.Delete(MatchPrefix, "a1.b2.c3.d4")
	x.Delete(MatchPrefix, "a1.b2.c3.d4") // twice: no effect
	if _, _, got, _ := x.Best("a1.b2.c3.d4.e325"); got != 2 || x.Len() != 6 {
		t.Fatalf("after delete: Best = %d, Len = %d", got, x.Len())
	}
}

// TestPrecedesAgreesWithBest: of any two registrations that match a URI,
// Precedes names the one Best picks, and never both (a cluster node ranks
// its own registration against another node's with Precedes).
func TestPrecedesAgreesWithBest(t *testing.T) {
	type reg struct {
		m Match
		p URI
	}
	regs := []reg{
		{MatchExact, "a1.b2.c3.d4.e55"}, {MatchPrefix, "a1.b2.c3"}, {MatchPrefix, "a1.b2.c3.d4"}, {MatchPrefix, "a1."},
		{MatchWildcard, "a1.b2..d4.e5"}, {MatchWildcard, "a1.b2.c33..e5"}, {MatchWildcard, "a1..c33.d4.e5"},
		{MatchWildcard, "a1.b2...e5"}, {MatchWildcard, "a1...d4.e5"}, {MatchWildcard, "a1.b2..d4."},
	}
	uris := []URI{"a1.b2.c3.d4.e55", "a1.b2.c33.d4.e5", "a1.b2.c55.d4.e5", "a1.b2.c3.d4.e5"}
	pairs := 0
	for _, u := range uris {
		for _, a := range regs {
			for _, b := range regs {
				if a == b || !a.m.Matches(a.p, u) || !b.m.Matches(b.p, u) {
					continue
				}
				var x PatternIndex[reg]
				x.Put(a.m, a.p, a)
				x.Put(b.m, b.p, b)
				_, _, best, _ := x.Best(u)
				if ab, ba := Precedes(a.m, a.p, b.m, b.p), Precedes(b.m, b.p, a.m, a.p); ab != (best == a) || ab == ba {
					t.Errorf("%q: Precedes(%v %q, %v %q) = %v, reverse %v; Best picks %v", u, a.m, a.p, b.m, b.p, ab, ba, best)
				}
				pairs++
			}
		}
	}
	if pairs < 40 {
		t.Fatalf("only %d pairs compared", pairs)
	}
}

func TestPatternIndexMatchingAll(t *testing.T) {
	var x PatternIndex[string]
	x.Put(MatchExact, "a.b.c", "exact")
	x.Put(MatchPrefix, "a", "p1")
	x.Put(MatchPrefix, "a.b", "p2")
	x.Put(MatchPrefix, "a.bb", "nope")
	x.Put(MatchWildcard, "a..c", "w1")
	x.Put(MatchWildcard, "..c.d", "nope")
	got := map[string]bool{}
	x.Matching("a.b.c", func(m Match, p URI, v string) bool { got[v] = true; return true })
	want := map[string]bool{"exact": true, "p1": true, "p2": true, "w1": true}
	if len(got) != len(want) {
		t.Fatalf("Matching = %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("Matching = %v, want %v", got, want)
		}
	}
	n := 0
	x.Each(func(Match, URI, string) bool { n++; return true })
	if n != 6 {
		t.Fatalf("Each visited %d", n)
	}
}

func TestValidPattern(t *testing.T) {
	for _, c := range []struct {
		m    Match
		p    URI
		want bool
	}{
		{MatchExact, "a..b", false},
		{MatchWildcard, "a..b", true},
		{MatchPrefix, "a.b.", true},
		{MatchPrefix, ".", false},
		{MatchPrefix, "a b", false},
	} {
		if got := ValidPattern(c.m, c.p, false); got != c.want {
			t.Errorf("ValidPattern(%s, %q) = %v", c.m, c.p, got)
		}
	}
}

func TestOptionReaders(t *testing.T) {
	d := Dict{"b": true, "s": "x", "n": int64(5), "f": 5.0, "neg": int64(-1), "ids": []any{uint64(3), int64(4)}, "bad": []any{"x"}}
	if v, err := OptBool(d, "b", false); err != nil || !v {
		t.Fatal(v, err)
	}
	if _, err := OptBool(d, "s", false); err == nil {
		t.Fatal("string accepted as bool")
	}
	if n, ok, err := OptUint(d, "f"); err != nil || !ok || n != 5 {
		t.Fatal(n, ok, err)
	}
	if _, _, err := OptUint(d, "neg"); err == nil {
		t.Fatal("negative accepted")
	}
	if ids, err := OptIDs(d, "ids"); err != nil || len(ids) != 2 || ids[1] != 4 {
		t.Fatal(ids, err)
	}
	if _, err := OptIDs(d, "bad"); err == nil {
		t.Fatal("string accepted as id")
	}
	if _, err := OptChoice(d, "s", "a", "a", "b"); err == nil || err.Error() != `option "s" is "x"; it must be one of ["a" "b"]` {
		t.Fatal(err)
	}
}

// A float from a JSON peer converts only when it is an integer a uint64 or
// an int64 holds: Go's conversion of one out of range is not an error but a
// value that depends on the CPU (2^63 on amd64, 2^64-1 on arm64).
func TestAsUintAsIntFloatRange(t *testing.T) {
	for _, tc := range []struct {
		v    any
		ok   bool
		want uint64
	}{
		{5.0, true, 5},
		{float32(5), true, 5},
		{0x1p63, true, 1 << 63},
		{0x1p64 - 2048, true, 1<<64 - 2048}, // the largest float64 below 2^64
		{0x1p64, false, 0},                  // math.MaxUint64 as a float64 is 2^64
		{1e20, false, 0},
		{math.Inf(1), false, 0},
		{math.NaN(), false, 0},
		{float32(0x1p64), false, 0},
		{float32(1e30), false, 0},
		{float32(math.Inf(1)), false, 0},
		{-1.0, false, 0},
		{5.5, false, 0},
	} {
		n, ok := AsUint(tc.v)
		if ok != tc.ok || ok && n != tc.want {
			t.Errorf("AsUint(%T %v) = %d, %v; want %d, %v", tc.v, tc.v, n, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		v    any
		ok   bool
		want int64
	}{
		{-0x1p63, true, math.MinInt64},
		{0x1p63, false, 0},
		{float32(1e30), false, 0},
		{float32(-1e30), false, 0},
		{float32(-5), true, -5},
	} {
		n, ok := AsInt(tc.v)
		if ok != tc.ok || ok && n != tc.want {
			t.Errorf("AsInt(%T %v) = %d, %v; want %d, %v", tc.v, tc.v, n, ok, tc.want, tc.ok)
		}
	}
	if _, _, err := OptUint(Dict{"timeout": 1e300}, "timeout"); err == nil {
		t.Error("OptUint accepted 1e300")
	}
}
