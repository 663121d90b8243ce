package router

import "github.com/junction-wamp/junction/wamp"

// subscriptionByID returns the matching policy and pattern of the realm's
// subscription id.
//
// Written against the exact-match broker so that wamp.subscription.get_events
// works before the pattern-based broker lands; that broker provides its own.
func (b *broker) subscriptionByID(id wamp.ID) (match wamp.Match, pattern wamp.URI, ok bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	sub := b.byID[id]
	if sub == nil {
		return wamp.MatchExact, "", false
	}
	return wamp.MatchExact, sub.topic, true
}
