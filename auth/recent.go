package auth

import "container/list"

// recent is a map that holds at most a given number of entries, dropping
// the one put least recently when it is full: the bounded memory of the
// cookie store and of the failure throttle, whose entries age in the order
// they were last put. Eviction is O(1), so a flood of new keys costs each
// insertion the same. It is not safe for concurrent use; its owner locks.
type recent[K comparable, V any] struct {
	m     map[K]*list.Element
	order list.List // of *recentEntry[K, V], put least recently first
}

type recentEntry[K comparable, V any] struct {
	key K
	val V
}

// get returns the value under k, for reading or changing in place.
func (r *recent[K, V]) get(k K) (*V, bool) {
	e, ok := r.m[k]
	if !ok {
		return nil, false
	}
	return &e.Value.(*recentEntry[K, V]).val, true
}

// put stores v under k as the most recent entry and drops the least recent
// ones while there are more than limit (at least one is kept). It returns
// the stored value, for changing in place.
func (r *recent[K, V]) put(k K, v V, limit int) *V {
	if r.m == nil {
		r.m = make(map[K]*list.Element)
	}
	if e, ok := r.m[k]; ok {
		ent := e.Value.(*recentEntry[K, V])
		ent.val = v
		r.order.MoveToBack(e)
		return &ent.val
	}
	ent := &recentEntry[K, V]{key: k, val: v}
	r.m[k] = r.order.PushBack(ent)
	for len(r.m) > max(limit, 1) {
		r.delete(r.order.Front().Value.(*recentEntry[K, V]).key)
	}
	return &ent.val
}

// delete drops k.
func (r *recent[K, V]) delete(k K) {
	if e, ok := r.m[k]; ok {
		r.order.Remove(e)
		delete(r.m, k)
	}
}

func (r *recent[K, V]) len() int { return len(r.m) }
