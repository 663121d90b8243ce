package main

import (
	"log/slog"
	"reflect"
	"strings"

	"github.com/junction-wamp/junction/config"
)

// reloadConfig reads the config file again on SIGHUP (load: the file with
// the command line's flags over it, as at start) and applies what can
// change in a running router: log.level. Operators edit the file and send
// SIGHUP expecting it read; what else changed is named in one warning, as
// taking effect at the next restart, so that nobody believes a new realm,
// principal or listener is in force when it is not. A file that does not
// load changes nothing, and the error says why. running is the config
// the router started with; it is not changed.
func reloadConfig(running *config.Config, load func() (*config.Config, error), level *slog.LevelVar, log *slog.Logger) {
	next, err := load()
	if err != nil {
		log.Error("SIGHUP: config not reloaded: the router goes on as it was", "err", err)
		return
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

// restartOnly names the sections of next that differ from running and
// that a running router does not take on: all but log.level.
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
