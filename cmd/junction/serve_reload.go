package main

import (
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/wamp"
)

// reloadConfig reads the config file again on SIGHUP (load: the file with
// the command line's flags over it, as at start) and applies what can
// change in a running router: log.level, and the roles (permissions) of
// the configured realms, for their sessions too (setRoles:
// router.Router.SetRoles). Operators edit the file and send SIGHUP
// expecting it read; what else changed is named in one warning, as taking
// effect at the next restart, so that nobody believes a new realm,
// principal or listener is in force when it is not. A file that does not
// load changes nothing, and the error says why. running is the config in
// force: the roles applied are recorded in it.
func reloadConfig(running *config.Config, load func() (*config.Config, error), setRoles func(wamp.URI, *auth.Roles) (int, error),
	level *slog.LevelVar, counts *configReloads, log *slog.Logger) {
	next, err := load()
	if err != nil {
		counts.failed.Add(1)
		log.Error("SIGHUP: config not reloaded: the router goes on as it was", "err", err)
		return
	}
	counts.done.Add(1)
	for _, i := range rolesChanged(running, next) {
		rl := &next.Realms[i]
		_, roles, err := rl.Build(nil) // the roles only: the policy stays as it started
		if err == nil {
			var n int
			n, err = setRoles(wamp.URI(rl.Name), roles)
			if err == nil {
				log.Info("SIGHUP: the realm's roles replaced, for its sessions too", "realm", rl.Name, "sessions", n)
				ra := *running.Realms[i].Auth
				ra.Roles = rl.Auth.Roles
				running.Realms[i].Auth = &ra
				continue
			}
		}
		log.Error("SIGHUP: the realm's roles not replaced", "realm", rl.Name, "err", err)
	}
	var want slog.Level
	want.UnmarshalText([]byte(next.Log.Level)) // validated by config
	if want != level.Level() {
		log.Info("SIGHUP: log level set", "from", strings.ToLower(level.Level().String()), "to", next.Log.Level)
		level.Set(want)
	}
	if changed := restartOnly(running, next); len(changed) > 0 {
		log.Warn("SIGHUP: the config file changes what takes a restart: the router goes on as it started until then",
			"sections", strings.Join(changed, ", "))
	}
	log.Info("SIGHUP: config file read", "log_level", next.Log.Level)
}

// configReloads counts the reads of the config file on SIGHUP, for the
// metrics (junction_config_reloads_total).
type configReloads struct{ done, failed atomic.Uint64 }

// Reloads implements metrics.Reloader.
func (c *configReloads) Reloads() (done, failed uint64) { return c.done.Load(), c.failed.Load() }

// rolesChanged returns the indexes of the realms whose roles are all that
// next changes of them, and which have roles in both (whether a realm
// authorizes at all is fixed at start): those a running router takes on.
func rolesChanged(running, next *config.Config) []int {
	if len(running.Realms) != len(next.Realms) {
		return nil
	}
	var out []int
	for i := range running.Realms {
		was, is := running.Realms[i], next.Realms[i]
		if was.Auth == nil || is.Auth == nil || len(was.Auth.Roles) == 0 || len(is.Auth.Roles) == 0 ||
			reflect.DeepEqual(was.Auth.Roles, is.Auth.Roles) {
			continue
		}
		wa, ia := *was.Auth, *is.Auth
		wa.Roles, ia.Roles = nil, nil
		was.Auth, is.Auth = &wa, &ia
		if reflect.DeepEqual(was, is) {
			out = append(out, i)
		}
	}
	return out
}

// restartOnly names the sections of next that differ from running and
// that a running router does not take on: all but log.level (and the
// realms' roles, which reloadConfig applies and records in running
// first).
func restartOnly(running, next *config.Config) []string {
	var changed []string
	for _, s := range []struct {
		name    string
		was, is any
	}{
		{"listeners", running.Listeners, next.Listeners},
		{"realms", running.Realms, next.Realms},
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
