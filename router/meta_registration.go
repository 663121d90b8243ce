package router

import "github.com/junction-wamp/junction/wamp"

// Registration meta API: wamp.registration.* procedures and events.

func (rl *realm) addRegistrationMeta(procs map[wamp.URI]metaProcedure) {}
