package router

import (
	"errors"
	"fmt"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
)

// ErrRolesFixed is returned by SetRoles for a realm that has no roles, or
// for nil roles: whether a realm authorizes at all (a realm without roles
// lets every session do everything) is decided at start.
var ErrRolesFixed = errors.New("a realm's roles can be changed, not added or taken away, while the router runs")

// credentialRevoked is the GOODBYE message of a session ended by
// Router.SetAuth.
const credentialRevoked = "the principal this session logged in as was removed or given another role, or the credential it logged in with is no longer configured"

// SetAuth replaces the authentication policy of a configured realm
// (its principals, after a reload of the configuration), for the logins
// that begin from now on, and ends the sessions the new policy no longer
// admits (auth.Policy.Admits: their principal removed or given another
// role, or the credential they proved taken away): a revoked key or
// ticket must not keep a device connected until it reconnects. The
// realm's throttle is kept, with the failures it counted, and so are the
// challenges to unknown authids (auth.Policy.Follow). Logins under
// way end under the policy they began with; those that succeed are
// judged by the new one as they are welcomed. It returns the number of
// sessions ended.
func (r *Router) SetAuth(realm wamp.URI, pol *auth.Policy) (int, error) {
	rl := r.realms.get(realm)
	if rl == nil {
		return 0, fmt.Errorf("setting the authentication of realm %s: no such realm in the configuration", realm)
	}
	old := rl.auth.Load()
	if pol == nil || old == nil {
		return 0, fmt.Errorf("setting the authentication of realm %s: %w", realm, ErrAuthFixed)
	}
	pol.Follow(old) // the throttle and the mock challenges stay
	// As in SetRoles: a session welcomed after the list below is taken
	// finds the new policy in place (Session.welcome).
	rl.auth.Store(pol)
	n := 0
	for _, s := range rl.established(nil) {
		// Judged with no lock held: the proof of an unsalted wampcra
		// secret is derived (a PBKDF2) the first time a table needs it.
		// s.auth and the authid and authrole were set before the session
		// entered the table, and never change.
		if s.auth == nil || pol.Admits(&auth.Identity{AuthID: s.authid, AuthRole: s.authrole, Proof: s.auth.proof}) {
			continue
		}
		// Counted whether or not kill ends it here: one whose WELCOME
		// is on its way is not killed until it is welcomed, and then
		// ends itself, finding the new policy (Session.welcome).
		s.kill(killedByPrincipal, wamp.CloseKilled, credentialRevoked, false)
		n++
	}
	return n, nil
}

// ErrAuthFixed is returned by SetAuth for a realm without authentication,
// or for a nil policy: whether a realm authenticates at all is decided at
// start.
var ErrAuthFixed = errors.New("a realm's authentication can be changed, not added or taken away, while the router runs")

// SetRoles replaces the roles of a configured realm, for the sessions
// that join from now on and for those in the realm now: each gets an
// authorizer of its role as the new roles define it (a role that is gone
// leaves its sessions allowed nothing; a permission taken away is
// refused from the next message on). A session's disclosure (the role's
// disclose_caller and disclose_publisher) stays as it was at WELCOME. A
// decision a dynamic authorizer has pending is kept. It returns the
// number of sessions given their new authorizer.
func (r *Router) SetRoles(realm wamp.URI, roles *auth.Roles) (int, error) {
	rl := r.realms.get(realm)
	if rl == nil {
		return 0, fmt.Errorf("setting the roles of realm %s: no such realm in the configuration", realm)
	}
	if roles == nil || rl.roles.Load() == nil {
		return 0, fmt.Errorf("setting the roles of realm %s: %w", realm, ErrRolesFixed)
	}
	// From here a WELCOME gets the new roles; one that got the old ones
	// is either in the table when the list below is taken, or enters it
	// after and then finds the new roles in place (Session.welcome).
	rl.roles.Store(roles)
	n := 0
	for _, s := range rl.copySessions() {
		if s.reauthorize(rl, roles) {
			n++
		}
	}
	return n, nil
}

// reauthorize gives s an authorizer of its role in roles.
func (s *Session) reauthorize(rl *realm, roles *auth.Roles) bool {
	s.mu.Lock()
	a, id, authid, authrole := s.auth, s.id, s.authid, s.authrole
	established := s.state == stateEstablished
	s.mu.Unlock()
	if !established || a == nil || !a.checked {
		return false
	}
	sub := &auth.Subject{Session: id, Realm: string(rl.name), AuthID: authid, AuthRole: authrole,
		AuthMethod: a.method, AuthProvider: a.provider, Transport: s.authTransport()}
	az := roles.ForSession(sub, s.router)
	a.gate.mu.Lock()
	a.authz = az
	a.gate.mu.Unlock()
	return true
}

// authorizer is the session's authorizer now.
func (a *sessionAuth) authorizer() auth.SessionAuthorizer {
	a.gate.mu.Lock()
	defer a.gate.mu.Unlock()
	return a.authz
}
