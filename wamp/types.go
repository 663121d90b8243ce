package wamp

import (
	"math/rand/v2"
	"sync/atomic"
)

// ID is a WAMP identifier: an integer in [1, 2^53] so that it survives a
// round trip through an IEEE-754 double (JavaScript's only number type).
type ID uint64

// MaxID is the largest valid ID, 2^53.
const MaxID ID = 1 << 53

// Dict is a WAMP dictionary: Details, Options, ArgumentsKw.
type Dict = map[string]any

// List is a WAMP list: Arguments.
type List = []any

// GlobalID returns a random ID for the global scope (session IDs,
// publication IDs), drawn uniformly from [1, 2^53].
func GlobalID() ID { return ID(rand.Uint64N(uint64(MaxID))) + 1 }

// Sequence hands out IDs 1, 2, 3, ... for the router and session scopes.
// Its zero value is ready to use and it is safe for concurrent use.
type Sequence struct{ n atomic.Uint64 }

// Next returns the next ID, wrapping to 1 after 2^53.
func (s *Sequence) Next() ID {
	for {
		old := s.n.Load()
		next := old + 1
		if next > uint64(MaxID) {
			next = 1
		}
		if s.n.CompareAndSwap(old, next) {
			return ID(next)
		}
	}
}

// Skip makes the sequence go on after last: its next ID is last+1.
func (s *Sequence) Skip(last ID) { s.n.Store(uint64(last)) }

// Bool reads a boolean option, with def when absent or not a bool.
func Bool(d Dict, key string, def bool) bool {
	if v, ok := d[key].(bool); ok {
		return v
	}
	return def
}

// String reads a string option, with "" when absent or not a string.
func String(d Dict, key string) string {
	s, _ := d[key].(string)
	return s
}

// Last returns the ID most recently handed out, 0 if none.
func (s *Sequence) Last() ID { return ID(s.n.Load()) }
