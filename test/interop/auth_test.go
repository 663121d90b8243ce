package interop

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// authExample is the example config, which the router serves for
// these tests with three changes: device-1 gets a second public key, whose
// private key the test holds (the issue gives only the public key of the
// first); the failure throttle is off, so that the failure scenarios do
// not slow the others down; and two realms are added for the dynamic
// authenticator and authorizer, dyn and trusted (where the component that
// decides for dyn joins, anonymously).
const (
	exampleConfig = "../../examples/config/auth.yaml"
	exampleKey    = "            - f8e813e968e2a17663e55a1e54c17bdb1a47e8354916fa416a49c2be5af7c548\n"
	exampleAnon   = "      anonymous_role: public\n"
	dynRealms     = `  - name: dyn
    anonymous: false
    auth:
      dynamic:
        procedure: interop.authenticate
        realm: trusted
        methods: [ticket]
      throttle:
        max_delay: 0s
      roles:
        - name: service
          permissions:
            - uri: "*"
              allow: [call, register, publish, subscribe]
        - name: reader
          authorizer:
            procedure: interop.authorize
            realm: trusted
            cache: 1m
  - name: trusted
`
)

func authConfig(t *testing.T, devicePub string) string {
	t.Helper()
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{exampleKey, exampleAnon} {
		if strings.Count(cfg, want) != 1 {
			t.Fatalf("%s no longer has the line %q this test extends", exampleConfig, want)
		}
	}
	if !strings.HasSuffix(cfg, "\n") || strings.Contains(cfg[strings.Index(cfg, "\nrealms:"):], "\nlimits:") {
		t.Fatalf("%s must end with its realms list for this test to add realms", exampleConfig)
	}
	cfg = strings.Replace(cfg, exampleKey, exampleKey+"            - "+devicePub+"\n", 1)
	cfg = strings.Replace(cfg, exampleAnon, exampleAnon+"      throttle:\n        max_delay: 0s\n", 1)
	return cfg + dynRealms
}

// TestAuthInterop: Autobahn|Python, Autobahn|JS and wampy.js log in with
// every method of the example config (wampy: all but WAMP-SCRAM), are
// refused with wrong or unknown credentials, are refused what their role
// does not allow, and (Python) a dynamic authenticator and authorizer
// decide who gets in and what they may do. See python/auth.py, js/auth.js
// and wampy/auth.mjs for the scenarios.
func TestAuthInterop(t *testing.T) {
	py, js, wampy := pythonClient(t), jsClient(t), wampyClient(t)
	requireClients(t, py, js, wampy)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startRouter(t, routerBinary(t), "--config", writeFile(t, "auth.yaml", authConfig(t, hex.EncodeToString(pub))))
	seed := hex.EncodeToString(priv.Seed())

	pyAuth := *py
	pyAuth.command = []string{pythonBin, "auth.py"}
	jsAuth := *js
	jsAuth.command = append(append([]string{}, js.command[:len(js.command)-1]...), "auth.js")
	wampyAuth := withScript(wampy, "auth.mjs")

	// Scenarios that register procedures or subscribe under fixed URIs run
	// in one combination per client only.
	for _, run := range []struct {
		c         *client
		cb        combo
		keyFlag   string
		scenarios []string
	}{
		{&pyAuth, combo{"websocket", "json"}, "--device-key", []string{"login", "failures", "permissions", "dynamic"}},
		{&pyAuth, combo{"rawsocket", "msgpack"}, "--device-key", []string{"login", "failures"}},
		{&pyAuth, combo{"websocket", "cbor"}, "--device-key", []string{"login"}},
		{&jsAuth, combo{"websocket", "json"}, "--devicekey", []string{"login", "failures", "permissions"}},
		{&jsAuth, combo{"websocket", "cbor"}, "--devicekey", []string{"login"}},
		{&jsAuth, combo{"rawsocket", "json"}, "--devicekey", []string{"login", "failures"}},
		// wampy's permissions URIs name the serializer: every combination runs them.
		{wampyAuth, combo{"websocket", "json"}, "--devicekey", []string{"login", "failures", "permissions"}},
		{wampyAuth, combo{"websocket", "msgpack"}, "--devicekey", []string{"login", "failures", "permissions"}},
		{wampyAuth, combo{"websocket", "cbor"}, "--devicekey", []string{"login", "failures", "permissions"}},
	} {
		name := "auth/" + run.c.name + "/" + run.cb.String()
		t.Run(run.c.name+"/"+run.cb.String(), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			p := r.startClient(ctx, t, run.c, "--url", r.url(run.cb.transport), "--serializer", run.cb.serializer,
				run.keyFlag, seed, "--scenarios", strings.Join(run.scenarios, ","))
			checkSuite(t, r, p, run.scenarios, name)
		})
	}
}
