package main

import (
	"log/slog"
	"reflect"
	"testing"

	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// TestRouterConfigRealms checks that the realm keys of the config reach the
// router: meta_api, disclose_caller, disclose_publisher and trust_levels.
func TestRouterConfigRealms(t *testing.T) {
	cfg, rc := configsOf(t, `
realms:
  - name: plain
  - name: tuned
    strict_uris: true
    anonymous: false
    meta_api: false
    disclose_caller: always
    disclose_publisher: never
    trust_levels: {admin: 3, guest: 0}
`)
	want := []router.RealmConfig{
		{Name: "plain", Anonymous: true, DiscloseCaller: router.DiscloseOnRequest, DisclosePublisher: router.DiscloseOnRequest},
		{
			Name: "tuned", StrictURIs: true, DisableMetaAPI: true,
			DiscloseCaller: router.DiscloseAlways, DisclosePublisher: router.DiscloseNever,
			TrustLevels: map[string]int{"admin": 3, "guest": 0},
		},
	}
	if !reflect.DeepEqual(rc.Realms, want) {
		t.Fatalf("router realms:\n%+v\nwant\n%+v", rc.Realms, want)
	}
	// The router gets its own copy.
	cfg.Realms[1].TrustLevels["admin"] = 9
	if rc.Realms[1].TrustLevels["admin"] != 3 {
		t.Error("the router's trust levels share the config's map")
	}
	if _, err := router.New(rc); err != nil {
		t.Fatalf("router.New: %v", err)
	}
}

// TestRouterConfigLimits checks that the per-session limits reach the
// router, and that the config's defaults are the router's own.
func TestRouterConfigLimits(t *testing.T) {
	def := config.Default()
	got := router.SessionLimits{
		Subscriptions: def.Limits.MaxSubscriptionsPerSession,
		Registrations: def.Limits.MaxRegistrationsPerSession,
		CallsInFlight: def.Limits.MaxCallsInFlightPerSession,
	}
	want := router.SessionLimits{
		Subscriptions: router.DefaultMaxSubscriptions,
		Registrations: router.DefaultMaxRegistrations,
		CallsInFlight: router.DefaultMaxCallsInFlight,
	}
	if got != want {
		t.Errorf("config defaults %+v, router defaults %+v", got, want)
	}
	rc := routerConfigOf(t, `
limits:
  max_subscriptions_per_session: 7
  max_registrations_per_session: 8
  max_calls_in_flight_per_session: 9
`)
	if want := (router.SessionLimits{Subscriptions: 7, Registrations: 8, CallsInFlight: 9}); rc.Limits != want {
		t.Errorf("router limits %+v, want %+v", rc.Limits, want)
	}
}

// TestRouterConfigHistory checks that a realm's history rules reach the
// router with their limits, max_bytes included.
func TestRouterConfigHistory(t *testing.T) {
	rc := routerConfigOf(t, `
realms:
  - name: r
    history:
      - {topic: com.a, limit: 10}
      - {topic: com.b., match: prefix, limit: 1000, max_bytes: 64MiB}
store:
  path: history.db
`)
	want := []router.HistoryRule{
		{Match: wamp.MatchExact, Topic: "com.a", Limit: 10},
		{Match: wamp.MatchPrefix, Topic: "com.b.", Limit: 1000, MaxBytes: 64 << 20},
	}
	if got := rc.Realms[0].History; !reflect.DeepEqual(got, want) {
		t.Fatalf("router history rules %+v, want %+v", got, want)
	}
}

// configsOf is a config file, and the router configuration serve makes
// of it.
func configsOf(t *testing.T, yaml string) (*config.Config, router.Config) {
	t.Helper()
	cfg, err := config.Parse("junction.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := routerConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, rc
}

// routerConfigOf is the router configuration serve makes of a config file.
func routerConfigOf(t *testing.T, yaml string) router.Config {
	t.Helper()
	_, rc := configsOf(t, yaml)
	return rc
}
