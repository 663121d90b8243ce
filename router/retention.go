package router

import "github.com/junction-wamp/junction/wamp"

// Event retention and event history: the broker hands every publication it
// accepted to the realm, which keeps the last retained event per topic and
// the history the realm's rules ask for.

// retainedEvent is a publication kept for subscribers that ask for it with
// get_retained.
type retainedEvent struct {
	topic       wamp.URI
	publication wamp.ID
	details     wamp.Dict // publisher disclosure, trustlevel, ppt_*: as in the EVENT
	payload     wamp.Payload
}

// recordPublication is called by the broker for every publication it
// accepted, after it was delivered.
func (rl *realm) recordPublication(s *Session, m *wamp.Publish, pub wamp.ID, details wamp.Dict, retain bool) {
}

// retainedEvents returns the retained events whose topics match pattern
// under policy match.
func (rl *realm) retainedEvents(match wamp.Match, pattern wamp.URI) []retainedEvent { return nil }
