// Package lru is a map that remembers the order in which its entries were
// last put, so that its owner can drop the one put longest ago in O(1): the
// bounded memory of the router's retained events, cookie store and failure
// throttle. It is not safe for concurrent use; its owner locks.
package lru

import (
	"container/list"
	"iter"
)

// Map is an ordered map; its zero value is empty and ready to use.
type Map[K comparable, V any] struct {
	m     map[K]*list.Element
	order list.List // of *entry[K, V], put longest ago first
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// Get returns the value under k, for reading or changing in place; it
// does not change the order.
func (m *Map[K, V]) Get(k K) (*V, bool) {
	e, ok := m.m[k]
	if !ok {
		return nil, false
	}
	return &e.Value.(*entry[K, V]).val, true
}

// Put stores v under k as the most recent entry and returns it, for
// changing in place.
func (m *Map[K, V]) Put(k K, v V) *V {
	if m.m == nil {
		m.m = make(map[K]*list.Element)
	}
	if e, ok := m.m[k]; ok {
		ent := e.Value.(*entry[K, V])
		ent.val = v
		m.order.MoveToBack(e)
		return &ent.val
	}
	ent := &entry[K, V]{key: k, val: v}
	m.m[k] = m.order.PushBack(ent)
	return &ent.val
}

// Oldest returns the entry put longest ago; ok is false when m is empty.
func (m *Map[K, V]) Oldest() (k K, v V, ok bool) {
	e := m.order.Front()
	if e == nil {
		return k, v, false
	}
	ent := e.Value.(*entry[K, V])
	return ent.key, ent.val, true
}

// Delete drops k.
func (m *Map[K, V]) Delete(k K) {
	if e, ok := m.m[k]; ok {
		m.order.Remove(e)
		delete(m.m, k)
	}
}

// Trim drops the entries put longest ago until at most limit remain (at
// least one is kept).
func (m *Map[K, V]) Trim(limit int) {
	for len(m.m) > max(limit, 1) {
		k, _, _ := m.Oldest()
		m.Delete(k)
	}
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return len(m.m) }

// All yields the entries, put longest ago first.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for e := m.order.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*entry[K, V])
			if !yield(ent.key, ent.val) {
				return
			}
		}
	}
}
