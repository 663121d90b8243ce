package router

import (
	"fmt"

	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// HistoryRule gives the topics of a realm that match Topic under Match an
// event history of at most Limit events and, when MaxBytes is more than 0,
// at most MaxBytes bytes of them (the oldest go first; an event larger on
// its own is not kept). A publication is kept under the one rule the
// pattern precedence picks for its topic (exact, longest prefix, most
// specific wildcard), so each rule's limits are its own.
type HistoryRule = history.Rule

// openHistory opens the history store when a realm has history rules.
func (r *Router) openHistory() error {
	rules := make(map[wamp.URI][]history.Rule)
	for _, rc := range r.cfg.Realms {
		for _, hr := range rc.History {
			if !wamp.ValidPattern(hr.Match, hr.Topic, rc.StrictURIs) {
				return fmt.Errorf("realm %q: history rule %s %q: not a valid %s pattern", rc.Name, hr.Match, hr.Topic, hr.Match)
			}
			if hr.Limit <= 0 {
				return fmt.Errorf("realm %q: history rule %s %q: limit %d must be positive", rc.Name, hr.Match, hr.Topic, hr.Limit)
			}
			if hr.MaxBytes < 0 {
				return fmt.Errorf("realm %q: history rule %s %q: max bytes %d must not be negative", rc.Name, hr.Match, hr.Topic, hr.MaxBytes)
			}
		}
		if len(rc.History) > 0 {
			rules[rc.Name] = rc.History
		}
	}
	if ss, ok := r.cfg.Backbone.(SharedStore); ok {
		// A cluster: history and retained events live where every node
		// reads them, whether or not this node's realms keep history.
		st, err := ss.OpenStore(rules, r.log, r.applyRetained)
		if err != nil {
			return fmt.Errorf("opening the cluster's event store: %w", err)
		}
		r.shared = st
		if len(rules) > 0 {
			r.history = st
		}
	} else if len(rules) == 0 {
		return nil
	} else if r.cfg.HistoryPath == "" {
		return fmt.Errorf("realms have event history rules but Config.HistoryPath is empty: the history needs a file to be kept in")
	} else {
		st, err := history.Open(r.cfg.HistoryPath, history.Config{Rules: rules, Logger: r.log, BeforeWrite: r.cfg.historyBeforeWrite})
		if err != nil {
			return err
		}
		r.history = st
	}
	for name := range rules {
		r.realms.get(name).hist.store = r.history
	}
	return nil
}

// Close releases what the router holds beyond its sessions: it stops the
// event history queries in progress (their callers get an error), writes
// the event history that is still queued and closes its file. Call it
// after Shutdown, once the transports have stopped; publications after
// Close are delivered but not kept in the history.
func (r *Router) Close() error {
	r.bg.close()
	switch {
	case r.shared != nil:
		return r.shared.Close()
	case r.history != nil:
		return r.history.Close()
	}
	return nil
}

// HistoryStats returns the event history's counters (zero when no realm
// has history rules and the router is not clustered). In a cluster they
// count the shared store's writes, retained events included.
func (r *Router) HistoryStats() history.Stats {
	var st history.Stats
	switch {
	case r.shared != nil:
		st = r.shared.Stats()
	case r.history != nil:
		st = r.history.Stats()
	}
	st.Unencodable = r.stats.historyUnencodable.Load()
	return st
}
