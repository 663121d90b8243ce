package epoll

import (
	"math/bits"
	"sync"
)

// Buffer size classes: powers of two from minClass to maxClass bytes are
// pooled; larger buffers are allocated and left to the garbage collector.
const (
	minClassShift = 7 // 128 bytes
	maxClassShift = 16
	minClass      = 1 << minClassShift
	maxClass      = 1 << maxClassShift // 64 KiB
	numClasses    = maxClassShift - minClassShift + 1
)

// buffer is a pooled byte slice; the pools hold pointers so that putting
// one back does not allocate.
type buffer struct{ b []byte }

var pools [numClasses]sync.Pool

// classUp returns the index of the smallest class of at least n bytes.
func classUp(n int) int {
	if n <= minClass {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getBuffer returns an empty buffer with room for at least n bytes.
func getBuffer(n int) *buffer {
	if n > maxClass {
		return &buffer{b: make([]byte, 0, n)}
	}
	i := classUp(n)
	if b, _ := pools[i].Get().(*buffer); b != nil {
		return b
	}
	return &buffer{b: make([]byte, 0, minClass<<i)}
}

// putBuffer returns b to the pool of the largest class it can serve; one
// larger than the largest class is dropped.
func putBuffer(b *buffer) {
	c := cap(b.b)
	if c < minClass || c > maxClass {
		return
	}
	b.b = b.b[:0]
	pools[bits.Len(uint(c))-1-minClassShift].Put(b)
}
