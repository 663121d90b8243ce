package router

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBest: best keeps what a whole sort puts first, for any k and any
// input, ties included.
func TestBest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type item struct{ key, id int }
	order := func(a, b item) int { return cmp.Or(cmp.Compare(b.key, a.key), cmp.Compare(a.id, b.id)) }
	for round := range 500 {
		n, k := rng.IntN(200), rng.IntN(40)-2
		items := make([]item, n)
		for i := range items {
			items[i] = item{rng.IntN(1 + round%20), i}
		}
		b := newBest(k, order)
		for _, x := range items {
			b.offer(x)
		}
		want := slices.SortedFunc(slices.Values(items), order)
		want = want[:min(len(want), max(k, 0))]
		if got := b.sorted(); !slices.Equal(got, want) {
			t.Fatalf("n %d k %d: kept %v, want %v", n, k, got, want)
		}
	}
}
