package router

import "github.com/junction-wamp/junction/wamp"

// Session meta API: wamp.session.* procedures and events.

func (rl *realm) addSessionMeta(procs map[wamp.URI]metaProcedure) {
	procs["wamp.session.count"] = rl.sessionCount
}

// sessionCount answers wamp.session.count([authroles]).
func (rl *realm) sessionCount(c *metaCall) (wamp.Payload, error) {
	rl.mu.RLock()
	n := len(rl.sessions)
	rl.mu.RUnlock()
	return result(n), nil
}
