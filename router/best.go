package router

import "slices"

// best keeps the k first of the items offered to it in cmp's order, so
// that the lists an operator sees (the newest sessions, the largest
// subscriptions) cost O(n log k) and memory for k, not a sort of all
// that a router holds. The zero value with k 0 keeps nothing.
type best[T any] struct {
	k   int
	cmp func(a, b T) int
	// heap holds what is kept, the last in cmp's order at its root, so
	// that an item that is not better than the root is turned away with
	// one comparison.
	heap []T
}

func newBest[T any](k int, cmp func(a, b T) int) *best[T] {
	return &best[T]{k: max(k, 0), cmp: cmp}
}

// offer keeps x if it is among the k first so far.
func (b *best[T]) offer(x T) {
	h := b.heap
	switch {
	case len(h) < b.k:
		h = append(h, x)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if b.cmp(h[i], h[p]) <= 0 {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		b.heap = h
	case len(h) > 0 && b.cmp(x, h[0]) < 0:
		h[0] = x
		for i := 0; ; {
			l, r, last := 2*i+1, 2*i+2, i
			if l < len(h) && b.cmp(h[l], h[last]) > 0 {
				last = l
			}
			if r < len(h) && b.cmp(h[r], h[last]) > 0 {
				last = r
			}
			if last == i {
				break
			}
			h[i], h[last] = h[last], h[i]
			i = last
		}
	}
}

// sorted returns what is kept, in cmp's order.
func (b *best[T]) sorted() []T {
	slices.SortFunc(b.heap, b.cmp)
	return b.heap
}
