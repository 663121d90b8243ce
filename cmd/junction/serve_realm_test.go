package main

import (
	"log/slog"
	"reflect"
	"testing"

	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/router"
)

// TestRouterConfigRealms checks that the realm keys of the config reach the
// router: meta_api, disclose_caller, disclose_publisher and trust_levels.
func TestRouterConfigRealms(t *testing.T) {
	cfg, err := config.Parse("junction.yaml", []byte(`
realms:
  - name: plain
  - name: tuned
    strict_uris: true
    anonymous: false
    meta_api: false
    disclose_caller: always
    disclose_publisher: never
    trust_levels: {admin: 3, guest: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := routerConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
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
