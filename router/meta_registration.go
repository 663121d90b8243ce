package router

import (
	"cmp"
	"slices"

	"github.com/junction-wamp/junction/wamp"
)

// Registration meta API: wamp.registration.* procedures and events
// (meta_api_registrations.md). The events are published by the dealer as
// registrations come and go (see dealer.register, dealer.detach).

func (rl *realm) addRegistrationMeta(procs map[wamp.URI]metaProcedure) {
	procs["wamp.registration.list"] = rl.registrationList
	procs["wamp.registration.lookup"] = rl.registrationLookup
	procs["wamp.registration.match"] = rl.registrationMatch
	procs["wamp.registration.get"] = rl.registrationGet
	procs["wamp.registration.list_callees"] = rl.registrationListCallees
	procs["wamp.registration.count_callees"] = rl.registrationCountCallees
	// Not in the specification, which names no way to trigger
	// registration revocation: Crossbar.io's procedure of the same name and
	// arguments, so that the same administration tools work.
	procs["wamp.registration.remove_callee"] = rl.registrationRemoveCallee
}

// registrationList answers wamp.registration.list() with the registration
// ids by match policy.
func (rl *realm) registrationList(c *metaCall) (wamp.Payload, error) {
	lists := map[wamp.Match][]any{wamp.MatchExact: {}, wamp.MatchPrefix: {}, wamp.MatchWildcard: {}}
	d := &rl.dealer
	d.mu.RLock()
	d.regs.Each(func(m wamp.Match, _ wamp.URI, reg *registration) bool {
		lists[m] = append(lists[m], uint64(reg.id))
		return true
	})
	d.mu.RUnlock()
	out := wamp.Dict{}
	for m, ids := range lists {
		slices.SortFunc(ids, func(a, b any) int { return cmp.Compare(a.(uint64), b.(uint64)) })
		out[m.String()] = ids
	}
	return result(out), nil
}

// registrationLookup answers wamp.registration.lookup(procedure, options)
// with the id of the registration of procedure under the options' match
// policy (exact by default), or null.
func (rl *realm) registrationLookup(c *metaCall) (wamp.Payload, error) {
	m, proc, err := c.patternArgs("the procedure URI")
	if err != nil {
		return wamp.Payload{}, err
	}
	d := &rl.dealer
	d.mu.RLock()
	reg, ok := d.regs.Get(m, proc)
	d.mu.RUnlock()
	if !ok {
		return result(nil), nil
	}
	return result(uint64(reg.id)), nil
}

// registrationMatch answers wamp.registration.match(procedure) with the id
// of the registration a call to procedure would be routed to, or null.
func (rl *realm) registrationMatch(c *metaCall) (wamp.Payload, error) {
	proc, err := c.stringArg(0, "the procedure URI")
	if err != nil {
		return wamp.Payload{}, err
	}
	d := &rl.dealer
	d.mu.RLock()
	_, _, reg, ok := d.regs.Best(wamp.URI(proc))
	d.mu.RUnlock()
	if !ok {
		return result(nil), nil
	}
	return result(uint64(reg.id)), nil
}

// registration returns the registration named by argument i.
func (rl *realm) registration(c *metaCall, i int) (*registration, error) {
	id, err := c.idArg(i, "a registration id")
	if err != nil {
		return nil, err
	}
	d := &rl.dealer
	d.mu.RLock()
	reg := d.byID[id]
	d.mu.RUnlock()
	if reg == nil {
		return nil, callErrorf(wamp.ErrNoSuchRegistration, "no registration %d in this realm", id)
	}
	return reg, nil
}

// registrationGet answers wamp.registration.get(id) with the
// RegistrationDetails.
func (rl *realm) registrationGet(c *metaCall) (wamp.Payload, error) {
	reg, err := rl.registration(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(reg.details()), nil
}

// callees returns the session ids of reg's callees, in registration order.
func (rl *realm) callees(reg *registration) []any {
	rl.dealer.mu.RLock()
	defer rl.dealer.mu.RUnlock()
	ids := make([]any, len(reg.callees))
	for i, c := range reg.callees {
		ids[i] = uint64(c.session.id)
	}
	return ids
}

// registrationListCallees answers wamp.registration.list_callees(id).
func (rl *realm) registrationListCallees(c *metaCall) (wamp.Payload, error) {
	reg, err := rl.registration(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(rl.callees(reg)), nil
}

// registrationCountCallees answers wamp.registration.count_callees(id).
func (rl *realm) registrationCountCallees(c *metaCall) (wamp.Payload, error) {
	reg, err := rl.registration(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(len(rl.callees(reg))), nil
}

// registrationRemoveCallee answers wamp.registration.remove_callee(id,
// callee, [reason]): the router revokes the callee's registration
// (registration revocation).
func (rl *realm) registrationRemoveCallee(c *metaCall) (wamp.Payload, error) {
	reg, err := rl.registration(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	sid, err := c.idArg(1, "the callee's session id")
	if err != nil {
		return wamp.Payload{}, err
	}
	reason := ""
	if len(c.args) > 2 && c.args[2] != nil {
		if reason, err = c.stringArg(2, "the reason"); err != nil {
			return wamp.Payload{}, err
		}
	}
	rl.mu.RLock()
	target := rl.sessions[sid]
	rl.mu.RUnlock()
	if target == nil {
		// As Crossbar.io answers, and wamp.subscription.remove_subscriber.
		return wamp.Payload{}, callErrorf(wamp.ErrNoSuchSession, "no session %d in this realm", sid)
	}
	if !rl.dealer.revoke(target, reg.id, reason) {
		return wamp.Payload{}, callErrorf(wamp.ErrNoSuchRegistration, "session %d is not a callee of registration %d", sid, reg.id)
	}
	return wamp.Payload{}, nil
}
