//go:build linux

package epoll

import "time"

// wheelSlots is the number of slots of a timer wheel; a timer further away
// than wheelSlots ticks waits in its slot for the wheel's later turns.
const wheelSlots = 1024

// wheel is a hashed timer wheel: a timer due at tick t sits in slot
// t % wheelSlots, on a doubly linked list threaded through the connections
// themselves (Conn.tnext, Conn.tprev), so that setting, moving and
// cancelling a timer are O(1) and allocate nothing. It belongs to one loop.
type wheel struct {
	tick  int64   // nanoseconds per tick
	cur   int64   // the next tick to expire
	slots []*Conn // list heads
	n     int     // timers set
	due   []*Conn // scratch for expire
}

func newWheel(tick time.Duration, now time.Duration) wheel {
	t := int64(tick)
	return wheel{tick: t, cur: int64(now)/t + 1, slots: make([]*Conn, wheelSlots)}
}

// set arms c's timer for time at (on the engine clock), replacing the one it
// had; at <= 0 cancels it. A timer fires at the first tick at or after at,
// never before.
func (w *wheel) set(c *Conn, at time.Duration) {
	w.remove(c)
	if at <= 0 {
		return
	}
	t := (int64(at) + w.tick - 1) / w.tick
	if t < w.cur {
		t = w.cur
	}
	c.tat = t
	head := &w.slots[t%wheelSlots]
	c.tprev, c.tnext = nil, *head
	if *head != nil {
		(*head).tprev = c
	}
	*head = c
	w.n++
}

// remove cancels c's timer, if set.
func (w *wheel) remove(c *Conn) {
	if c.tat == 0 {
		return
	}
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		w.slots[c.tat%wheelSlots] = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	}
	c.tnext, c.tprev, c.tat = nil, nil, 0
	w.n--
}

// expire calls fire for every timer due at now, after taking it off the
// wheel; fire may set timers again (for a later tick).
func (w *wheel) expire(now time.Duration, fire func(*Conn)) {
	last := int64(now) / w.tick
	if w.n == 0 || last < w.cur {
		if last >= w.cur {
			w.cur = last + 1
		}
		return
	}
	from := w.cur
	if last-from >= wheelSlots {
		from = last - wheelSlots + 1
	}
	due := w.due[:0]
	for t := from; t <= last; t++ {
		for c := w.slots[t%wheelSlots]; c != nil; {
			next := c.tnext
			if c.tat <= last {
				w.remove(c)
				due = append(due, c)
			}
			c = next
		}
	}
	w.cur = last + 1
	for i, c := range due {
		due[i] = nil
		fire(c)
	}
	w.due = due[:0]
}

// wait returns how long the loop may sleep: -1 without timers, else until
// the next tick (at least 1ns: 0 is for not sleeping at all).
func (w *wheel) wait(now time.Duration) time.Duration {
	if w.n == 0 {
		return -1
	}
	return max(time.Duration(w.cur*w.tick)-now, 1)
}
