package codec

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
)

// A dict's keys MUST be unique (messages.md). One that repeats a key has
// no single meaning: a library that reads it keeps the first value or the
// last, and the router, converting it for another serialization, would
// keep the last. A router check that reads one key and a receiver that
// reads another is a way to smuggle a value past the check. So a repeated
// key makes a payload invalid, as a string that is not UTF-8 does, and
// Options or Details that repeat one do not decode.
//
// Keys are the same when they decode to the same string: a JSON key is
// compared after its escapes are undone, a MessagePack bin key with a str.

// errRepeatedKey is wrapped by the error for a dict that repeats a key.
var errRepeatedKey = errors.New("dict key appears twice")

// errDupKey is the error for a dict that repeats key.
func errDupKey(key []byte) error {
	return fmt.Errorf("%w: %.40q", errRepeatedKey, key)
}

// smallDict is the number of keys keySet compares one by one; a dict with
// more gets a hash table. Most dicts (options, kwargs) have a handful of
// keys, for which a scan costs less than hashing and allocates nothing.
const smallDict = 16

// keySet finds a repeated key among a dict's keys as a walk over the dict
// meets them. It holds where the keys are rather than slices of them, so
// that the walk writes no pointers: a keySet{base: b} on the walker's
// stack costs nothing to the garbage collector. It must be released once
// the dict is walked.
type keySet struct {
	base  []byte // the bytes the keys are in
	dec   []byte // keys decoded apart (JSON keys with escapes)
	n     int
	small [smallDict]keyRef
	large *keyTable
}

// keyRef is where a key is: base[off:off+n], or dec[...] with decoded set;
// fp is its fingerprint, compared before the bytes.
type keyRef struct{ off, n, fp uint32 }

const decoded = 1 << 31 // in keyRef.n: the key is in dec

// fingerprint sums up a key in a few of its bytes: keys of a dict often
// have the same length and prefix ("sensor-1", "sensor-2"), so its last
// byte and middle one count.
func fingerprint(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	return uint32(len(key)) ^ uint32(key[0])<<8 ^ uint32(key[len(key)/2])<<16 ^ uint32(key[len(key)-1])<<24
}

func (s *keySet) key(r keyRef) []byte {
	if r.n&decoded != 0 {
		return s.dec[r.off : r.off+r.n&^decoded]
	}
	return s.base[r.off : r.off+r.n]
}

// add adds the key base[start:end] and reports whether it was there
// already.
func (s *keySet) add(start, end int) (seen bool) {
	key := s.base[start:end]
	r := keyRef{uint32(start), uint32(len(key)), fingerprint(key)}
	if s.n < smallDict && s.dec == nil { // every key in base: the common case
		for _, k := range s.small[:s.n] {
			if k.fp == r.fp && string(s.base[k.off:k.off+k.n]) == string(key) {
				return true
			}
		}
		s.small[s.n] = r
		s.n++
		return false
	}
	return s.addRef(r)
}

// addDecoded adds key, which is not in base (s keeps a copy), and reports
// whether it was there already.
func (s *keySet) addDecoded(key []byte) (seen bool) {
	r := keyRef{uint32(len(s.dec)), uint32(len(key)) | decoded, fingerprint(key)}
	s.dec = append(s.dec, key...)
	return s.addRef(r)
}

func (s *keySet) addRef(r keyRef) (seen bool) {
	key := s.key(r)
	if s.n < smallDict {
		for _, k := range s.small[:s.n] {
			if k.fp == r.fp && string(s.key(k)) == string(key) {
				return true
			}
		}
		s.small[s.n] = r
		s.n++
		return false
	}
	if s.large == nil {
		s.large = keyTables.Get().(*keyTable)
		for _, k := range s.small {
			s.large.add(s, k)
		}
	}
	return s.large.add(s, r)
}

// release returns the hash table, if the dict needed one.
func (s *keySet) release() {
	if s.large != nil {
		s.large.reset()
		keyTables.Put(s.large)
		s.large = nil
	}
}

// keyTable is the hash set of a large dict's keys: open addressing over
// the keys' indexes, hashed with a random seed so that no one can choose
// keys that collide. Tables are reused, so that a large dict costs no
// allocation once the router has seen one as large.
type keyTable struct {
	seed maphash.Seed
	keys []keyRef
	// slots hold a key's index+1 in keys (0: empty) in the low 32 bits,
	// the high bits of its hash in the others; they are a power of two
	// in number, at most half of them full.
	slots []uint64
}

var keyTables = sync.Pool{New: func() any { return &keyTable{seed: maphash.MakeSeed()} }}

func (t *keyTable) add(s *keySet, r keyRef) (seen bool) {
	if 2*(len(t.keys)+1) > len(t.slots) {
		t.grow(s)
	}
	key := s.key(r)
	h := maphash.Bytes(t.seed, key)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		slot := t.slots[i]
		if slot == 0 {
			t.keys = append(t.keys, r)
			t.slots[i] = h&^(1<<32-1) | uint64(len(t.keys))
			return false
		}
		if slot>>32 == h>>32 && string(s.key(t.keys[uint32(slot)-1])) == string(key) {
			return true
		}
	}
}

// grow doubles the slots and puts the keys back in.
func (t *keyTable) grow(s *keySet) {
	n := max(8*smallDict, 2*len(t.slots))
	if cap(t.slots) >= n {
		t.slots = t.slots[:n]
		clear(t.slots)
	} else {
		t.slots = make([]uint64, n)
	}
	mask := uint64(n - 1)
	for k, r := range t.keys {
		h := maphash.Bytes(t.seed, s.key(r))
		i := h & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = h&^(1<<32-1) | uint64(k+1)
	}
}

// maxKeptSlots bounds the table a pooled keyTable keeps (512 KiB).
const maxKeptSlots = 1 << 16

// reset empties t for reuse.
func (t *keyTable) reset() {
	t.keys = t.keys[:0]
	if cap(t.slots) > maxKeptSlots {
		t.keys, t.slots = nil, nil
		return
	}
	t.slots = t.slots[:0]
}
