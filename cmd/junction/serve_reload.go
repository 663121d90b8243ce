package main

import (
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/internal/admin"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// configReloader reads the config file again on SIGHUP and applies what
// can change in a running router: log.level, realms removed and added
// (removeRealm, addRealm),
// the principals and roles of the configured realms (reloadRealmAuth)
// and the admin endpoints' users and tokens. Operators edit the file and send SIGHUP expecting it read;
// what else changed is named in one warning, as taking effect at the
// next restart, so that nobody believes a new realm or listener is in
// force when it is not. A file that does not load changes nothing, and
// the error says why.
type configReloader struct {
	// running is the config in force: what is applied is recorded in it.
	running *config.Config
	// load reads the file with the command line's flags over it, as at
	// start.
	load   func() (*config.Config, error)
	realms realmSetter
	// cookies is the router's cookie store (nil when no realm takes
	// cookie logins).
	cookies *auth.Cookies
	// admin replaces the admin endpoints' logins; nil when they ask for
	// none (or are not served).
	admin  adminLoginsSetter
	level  *slog.LevelVar
	counts *configReloads
	log    *slog.Logger
}

// adminLoginsSetter replaces the users and tokens of the admin endpoints
// (admin.Handler).
type adminLoginsSetter interface {
	SetAccess(users []admin.User, tokens []admin.Token) error
}

// reload reads the file and applies it.
func (c *configReloader) reload() {
	running, log := c.running, c.log
	next, err := c.load()
	if err != nil {
		c.counts.failed.Add(1)
		log.Error("SIGHUP: config not reloaded: the router goes on as it was", "err", err)
		return
	}
	c.counts.done.Add(1)
	for _, name := range removedRealms(running, next) {
		c.removeRealm(name)
	}
	for _, rl := range addedRealms(running, next) {
		c.addRealm(rl)
	}
	for _, r := range authChanged(running, next) {
		reloadRealmAuth(r.was, r.is, c.realms, c.cookies, log)
	}
	if c.admin != nil && adminLoginsChanged(&running.Admin, &next.Admin) {
		users, tokens := adminLogins(&next.Admin)
		if err := c.admin.SetAccess(users, tokens); err != nil {
			log.Error("SIGHUP: the admin endpoints' users and tokens not replaced", "err", err)
		} else {
			log.Info("SIGHUP: the admin endpoints' users and tokens replaced; logins verified before are verified again", "users", len(users), "tokens", len(tokens))
			running.Admin.Users, running.Admin.Tokens = next.Admin.Users, next.Admin.Tokens
		}
	}
	var want slog.Level
	want.UnmarshalText([]byte(next.Log.Level)) // validated by config
	if want != c.level.Level() {
		log.Info("SIGHUP: log level set", "from", strings.ToLower(c.level.Level().String()), "to", next.Log.Level)
		c.level.Set(want)
	}
	if changed := restartOnly(running, next); len(changed) > 0 {
		log.Warn("SIGHUP: the config file changes what takes a restart: the router goes on as it started until then",
			"sections", strings.Join(changed, ", "))
	}
	log.Info("SIGHUP: config file read", "log_level", next.Log.Level)
}

// addedRealms returns the realms of next that running has not (by name).
func addedRealms(running, next *config.Config) []*config.Realm {
	var out []*config.Realm
	for i := range next.Realms {
		if !slices.ContainsFunc(running.Realms, func(r config.Realm) bool { return r.Name == next.Realms[i].Name }) {
			out = append(out, &next.Realms[i])
		}
	}
	return out
}

// removedRealms returns the names of the realms of running that next has
// not.
func removedRealms(running, next *config.Config) []string {
	var out []string
	for _, r := range running.Realms {
		if !slices.ContainsFunc(next.Realms, func(n config.Realm) bool { return n.Name == r.Name }) {
			out = append(out, r.Name)
		}
	}
	return out
}

// removeRealm takes a realm the file no longer has out of the running
// router, ending its sessions, and out of running. A realm that keeps
// event history waits for a restart.
func (c *configReloader) removeRealm(name string) {
	n, err := c.realms.RemoveRealm(wamp.URI(name))
	if err != nil {
		c.log.Error("SIGHUP: realm not removed: it waits for a restart", "realm", name, "err", err)
		return
	}
	c.log.Info("SIGHUP: realm removed; its sessions ended", "realm", name, "sessions_ended", n)
	c.running.Realms = slices.DeleteFunc(c.running.Realms, func(r config.Realm) bool { return r.Name == name })
}

// addRealm adds a realm of the file to the running router, and records it
// in running. A realm that keeps event history, or takes cookie logins
// when no realm did at start (the router has no cookie store), waits for
// a restart.
func (c *configReloader) addRealm(r *config.Realm) {
	rc := realmConfig(r)
	err := (&authShared{cookies: c.cookies}).withAuth(&rc, r)
	if err == nil && r.Auth != nil && r.Auth.Cookie && c.cookies == nil {
		err = errors.New("cookie logins take a restart when no realm took them at start")
	}
	if err == nil {
		err = c.realms.AddRealm(rc)
	}
	if err != nil {
		c.log.Error("SIGHUP: realm not added: it waits for a restart", "realm", r.Name, "err", err)
		return
	}
	c.log.Info("SIGHUP: realm added", "realm", r.Name)
	c.running.Realms = append(c.running.Realms, *r)
}

// adminLoginsChanged reports whether next changes the users or tokens of
// the admin section, both having some: whether the endpoints ask for
// logins at all is fixed at start. They are applied whatever else of the
// section changed (which waits for a restart, and is said so): a token
// revoked must not wait for an unrelated change.
func adminLoginsChanged(was, is *config.Admin) bool {
	return len(was.Users)+len(was.Tokens) > 0 && len(is.Users)+len(is.Tokens) > 0 &&
		(!reflect.DeepEqual(was.Users, is.Users) || !reflect.DeepEqual(was.Tokens, is.Tokens))
}

// realmSetter adds realms to a running router and changes the
// authentication and authorization of its realms (router.Router).
type realmSetter interface {
	AddRealm(rc router.RealmConfig) error
	RemoveRealm(realm wamp.URI) (ended int, err error)
	SetAuth(realm wamp.URI, pol *auth.Policy) (ended int, err error)
	SetRoles(realm wamp.URI, roles *auth.Roles) (sessions int, err error)
}

// reloadRealmAuth applies to a realm the principals and roles of its
// next config (is) that differ from those in force (was), and records in
// was what it applied. New principals replace the realm's policy and end
// the sessions whose login they no longer admit (a principal removed or
// given another role, a key or ticket revoked: router.Router.SetAuth);
// new roles apply to the realm's sessions from their next message
// (router.Router.SetRoles). The policy is built from the realm in force
// with the new principals and roles: what else of the realm changed
// waits for a restart.
func reloadRealmAuth(was, is *config.Realm, rt realmSetter, cookies *auth.Cookies, log *slog.Logger) {
	now, nowAuth := *was, *was.Auth
	nowAuth.Principals = is.Auth.Principals
	if rolesChangeable(was, is) {
		nowAuth.Roles = is.Auth.Roles
	}
	now.Auth = &nowAuth
	pol, roles, err := now.Build(cookies)
	if err != nil {
		log.Error("SIGHUP: the realm's principals and roles not replaced", "realm", is.Name, "err", err)
		return
	}
	applied := *was.Auth
	if !reflect.DeepEqual(was.Auth.Principals, is.Auth.Principals) {
		if n, err := rt.SetAuth(wamp.URI(is.Name), pol); err != nil {
			log.Error("SIGHUP: the realm's principals not replaced", "realm", is.Name, "err", err)
		} else {
			log.Info("SIGHUP: the realm's principals replaced; sessions whose credential is gone ended", "realm", is.Name, "sessions_ended", n)
			applied.Principals = is.Auth.Principals
		}
	}
	if rolesChangeable(was, is) && !reflect.DeepEqual(was.Auth.Roles, is.Auth.Roles) {
		if n, err := rt.SetRoles(wamp.URI(is.Name), roles); err != nil {
			log.Error("SIGHUP: the realm's roles not replaced", "realm", is.Name, "err", err)
		} else {
			log.Info("SIGHUP: the realm's roles replaced, for its sessions too", "realm", is.Name, "sessions", n)
			applied.Roles = is.Auth.Roles
		}
	}
	was.Auth = &applied
}

// configReloads counts the reads of the config file on SIGHUP, for the
// metrics (junction_config_reloads_total).
type configReloads struct{ done, failed atomic.Uint64 }

// Reloads implements metrics.Reloader.
func (c *configReloads) Reloads() (done, failed uint64) { return c.done.Load(), c.failed.Load() }

// realmPair is a realm in force and the same realm in the config file
// read again.
type realmPair struct{ was, is *config.Realm }

// rolesChangeable reports whether a running router takes on the roles of
// is: a realm with roles in both or in neither (whether a realm
// authorizes at all is fixed at start).
func rolesChangeable(was, is *config.Realm) bool {
	return (len(was.Auth.Roles) == 0) == (len(is.Auth.Roles) == 0)
}

// authChanged returns the realms whose principals or roles (or both)
// next changes: those a running router takes on, whatever else of the
// realm changed (which waits for a restart, and is said so). A realm is
// the one of the same name; both must have an auth section: whether a
// realm authenticates at all is fixed at start. Roles given to a realm
// that had none, or all taken away, wait for a restart too
// (rolesChangeable), but its principals are taken on: a revocation does
// not wait for them.
func authChanged(running, next *config.Config) []realmPair {
	var out []realmPair
	for i := range running.Realms {
		was := &running.Realms[i]
		j := slices.IndexFunc(next.Realms, func(r config.Realm) bool { return r.Name == was.Name })
		if j < 0 {
			continue
		}
		is := &next.Realms[j]
		if was.Auth == nil || is.Auth == nil {
			continue
		}
		if !reflect.DeepEqual(was.Auth.Principals, is.Auth.Principals) ||
			rolesChangeable(was, is) && !reflect.DeepEqual(was.Auth.Roles, is.Auth.Roles) {
			out = append(out, realmPair{was, is})
		}
	}
	return out
}

// restartOnly names the sections of next that differ from running and
// that a running router does not take on: all but log.level (and the
// realms' principals and roles and the admin logins, which
// configReloader applies and records in running first).
func restartOnly(running, next *config.Config) []string {
	var changed []string
	for _, s := range []struct {
		name    string
		was, is any
	}{
		{"listeners", running.Listeners, next.Listeners},
		{"realms", realmsByName(running.Realms), realmsByName(next.Realms)},
		{"realm_template", running.RealmTemplate, next.RealmTemplate},
		{"store", running.Store, next.Store},
		{"limits", running.Limits, next.Limits},
		{"log.format", running.Log.Format, next.Log.Format},
		{"admin", running.Admin, next.Admin},
		{"cluster", running.Cluster, next.Cluster},
		{"webhooks", running.Webhooks, next.Webhooks},
		{"callees", running.Callees, next.Callees},
	} {
		if !reflect.DeepEqual(s.was, s.is) {
			changed = append(changed, s.name)
		}
	}
	return changed
}

// realmsByName indexes realms by name: the order of the realms in the file
// is not a change, and a realm added on reload is at the end of the
// running config's.
func realmsByName(realms []config.Realm) map[string]config.Realm {
	m := make(map[string]config.Realm, len(realms))
	for _, r := range realms {
		m[r.Name] = r
	}
	return m
}
