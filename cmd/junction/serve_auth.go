package main

import (
	"fmt"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/router"
)

// Cookie store bounds: the identities remembered by WebSocket cookies.
const maxCookies = 100_000

// authShared is what every realm's authentication shares: the cookie
// store.
type authShared struct {
	cookies *auth.Cookies
}

// newAuthShared makes the cookie store. It remembers a login for the
// listeners' cookie.max_age (the shortest, when they differ: the store
// is one, and a login forgotten early only asks the browser to log in
// again, where one kept beyond its max_age would outlive what the
// operator allowed), and for 24 hours when every cookie lasts for the
// browser session (max_age 0).
func newAuthShared(cfg *config.Config) *authShared {
	var ttl time.Duration
	for _, l := range cfg.Listeners {
		if l.Cookie != nil && l.Cookie.MaxAge > 0 && (ttl == 0 || l.Cookie.MaxAge < ttl) {
			ttl = l.Cookie.MaxAge
		}
	}
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	return &authShared{cookies: &auth.Cookies{Max: maxCookies, TTL: ttl}}
}

// cookieStore returns the cookie store the realms of rc share, nil when
// no realm takes cookie logins.
func cookieStore(rc router.Config) *auth.Cookies {
	rcs := rc.Realms
	if rc.RealmTemplate != nil {
		rcs = append(rcs[:len(rcs):len(rcs)], *rc.RealmTemplate)
	}
	for _, r := range rcs {
		if r.Auth != nil && r.Auth.Cookies != nil {
			return r.Auth.Cookies
		}
	}
	return nil
}

// withAuth sets the authentication and authorization of rc from the
// realm's config.
func (a *authShared) withAuth(rc *router.RealmConfig, r *config.Realm) error {
	pol, roles, err := r.Build(a.cookies)
	if err != nil {
		return fmt.Errorf("realm %s: %w", r.Name, err)
	}
	rc.Auth, rc.Roles = pol, roles
	return nil
}

// realmTemplate returns the router's realm template, nil for none.
func (a *authShared) realmTemplate(cfg *config.Config) (*router.RealmConfig, error) {
	t := cfg.RealmTemplate
	if t == nil {
		return nil, nil
	}
	rc := realmConfig(t)
	return &rc, a.withAuth(&rc, t)
}
