package history

import (
	"fmt"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// What another store needs to keep the same history as Store in another
// place (package cluster keeps it in JetStream streams): the record
// encoding, the rules' precedence and get_events' selection, so that a
// query gives the same answer whichever store holds the events.

// Encode returns ev's record, the bytes Store keeps for it, copying
// everything ev refers to. A zero ev.Time is taken as now.
func Encode(ev *Event) ([]byte, error) { return AppendEncode(nil, ev) }

// AppendEncode is Encode appending the record to dst, for a store that
// puts its own prefix before it without copying the record again.
func AppendEncode(dst []byte, ev *Event) ([]byte, error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	return encodeRecord(dst, ev)
}

// Decode returns the event of a record made by Encode; it shares nothing
// with rec.
func Decode(rec []byte) (Event, error) {
	v, err := viewRecord(rec)
	if err != nil {
		return Event{}, err
	}
	return v.event()
}

// Rules are the history rules of each realm, indexed for the lookups a
// store makes. Read-only once made, so safe for concurrent use.
type Rules struct {
	realms map[wamp.URI]*ruleIndex
}

type ruleIndex struct {
	rules []Rule
	index wamp.PatternIndex[int] // into rules
}

// NewRules indexes the rules of each realm; it refuses a rule without a
// positive limit, one with a negative MaxBytes and a rule given twice.
func NewRules(rules map[wamp.URI][]Rule) (*Rules, error) {
	rs := &Rules{realms: make(map[wamp.URI]*ruleIndex, len(rules))}
	for realm, list := range rules {
		ri := &ruleIndex{}
		for _, r := range list {
			if err := r.check(realm); err != nil {
				return nil, err
			}
			if _, dup := ri.index.Get(r.Match, r.Topic); dup {
				return nil, fmt.Errorf("history rule %s in realm %s: given twice", r.key(), realm)
			}
			ri.index.Put(r.Match, r.Topic, len(ri.rules))
			ri.rules = append(ri.rules, r)
		}
		if len(ri.rules) > 0 {
			rs.realms[realm] = ri
		}
	}
	return rs, nil
}

// Empty reports whether no realm has a rule.
func (rs *Rules) Empty() bool { return len(rs.realms) == 0 }

// Each calls fn with every rule of every realm.
func (rs *Rules) Each(fn func(realm wamp.URI, r Rule)) {
	for realm, ri := range rs.realms {
		for _, r := range ri.rules {
			fn(realm, r)
		}
	}
}

// For returns the rule of realm that keeps topic's events: the one the
// pattern precedence picks (exact, longest prefix, most specific wildcard).
func (rs *Rules) For(realm, topic wamp.URI) (Rule, bool) {
	ri := rs.realms[realm]
	if ri == nil {
		return Rule{}, false
	}
	_, _, i, ok := ri.index.Best(topic)
	if !ok {
		return Rule{}, false
	}
	return ri.rules[i], true
}

// Covering returns the rules of realm that may keep events a subscription
// (m, pattern) receives, in the order they were given (Store.Query's
// rulesFor).
func (rs *Rules) Covering(realm wamp.URI, m wamp.Match, pattern wamp.URI) []Rule {
	ri := rs.realms[realm]
	if ri == nil {
		return nil
	}
	if m == wamp.MatchExact {
		if r, ok := rs.For(realm, pattern); ok {
			return []Rule{r}
		}
		return nil
	}
	var out []Rule
	for _, r := range ri.rules {
		if overlap(r.Match, r.Topic, m, pattern) {
			out = append(out, r)
		}
	}
	return out
}

// Select returns the events q selects from recs, a subscription's
// candidate records in the order they were kept (oldest first): the same
// selection Store.Query makes from its buckets, the *_publication options
// anchored at the most recent visible record of that publication.
func Select(recs [][]byte, q *Query) ([]Event, error) {
	views := make([]recordView, len(recs))
	for i, rec := range recs {
		v, err := viewRecord(rec)
		if err != nil {
			return nil, err
		}
		views[i] = v
	}
	lo, hi := 0, len(views)-1
	anchors := []struct {
		option string
		pub    wamp.ID
		apply  func(i int)
	}{
		{"from_publication", q.FromPublication, func(i int) { lo = max(lo, i) }},
		{"after_publication", q.AfterPublication, func(i int) { lo = max(lo, i+1) }},
		{"before_publication", q.BeforePublication, func(i int) { hi = min(hi, i-1) }},
		{"until_publication", q.UntilPublication, func(i int) { hi = min(hi, i) }},
	}
	for _, a := range anchors {
		if a.pub == 0 {
			continue
		}
		at := -1
		for i := len(views) - 1; i >= 0; i-- {
			if views[i].pub != a.pub {
				continue
			}
			ok, err := visible(&views[i], q)
			if err != nil {
				return nil, err
			}
			if ok {
				at = i
				break
			}
		}
		if at < 0 {
			return nil, &UnknownPublicationError{Option: a.option, Publication: a.pub}
		}
		a.apply(at)
	}
	var events []Event
	for k := 0; k <= hi-lo && (q.Limit == 0 || len(events) < q.Limit); k++ {
		i := lo + k
		if q.Reverse {
			i = hi - k
		}
		ok, err := selected(&views[i], q)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		ev, err := views[i].event()
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}
