package router

import "github.com/junction-wamp/junction/wamp"

// Subscription meta API: wamp.subscription.* procedures and events.

func (rl *realm) addSubscriptionMeta(procs map[wamp.URI]metaProcedure) {}
