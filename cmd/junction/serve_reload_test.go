package main

import (
	"context"
	"os"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/wamp"
)

// TestServeReloadConfig: SIGHUP reads the config file again: a new
// log.level is in force at once (debug lines appear), other changes are
// named in a warning as waiting for a restart (the router goes on as it
// started: the new realm is not served), and a file that does not load
// changes nothing and says why.
func TestServeReloadConfig(t *testing.T) {
	const base = `listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: true
`
	path := writeConfig(t, base+"log:\n  level: info\n")
	addrs, logs := serveUntilEnd(t, "--config", path)
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	rewrite := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dial := func(realm string) error {
		t.Helper()
		dctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		s, err := client.Dial(dctx, "ws://"+addrs[0]+"/ws", realm, nil)
		if err == nil {
			s.Close(dctx)
		}
		return err
	}

	// The same file: nothing to say but that it was read.
	hup()
	waitLogCount(t, logs, `msg="SIGHUP: config file read" log_level=info`, 1)
	rewrite(base + "  - name: realm2\n    anonymous: true\nlog:\n  level: debug\n")
	hup()
	waitLogCount(t, logs, `msg="SIGHUP: log level set" from=info to=debug`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: the config file changes what takes a restart: the router goes on as it started until then" sections=realms`, 1)
	if strings.Count(logs.String(), "takes a restart") != 1 {
		t.Fatalf("the unchanged file was said to change something:\n%s", logs.String())
	}
	if err := dial("realm1"); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, logs, "level=DEBUG", 1) // a session's lines, at debug
	if err := dial("realm2"); err == nil {
		t.Fatal("realm2, added to the file, was served before a restart")
	}

	rewrite("listeners: [")
	hup()
	waitLogCount(t, logs, `msg="SIGHUP: config not reloaded: the router goes on as it was"`, 1)
	if err := dial("realm1"); err != nil {
		t.Fatalf("after a reload of a broken file: %v", err)
	}
	_, metrics := httpDo(t, "GET", "http://"+addrs[0]+"/metrics", "")
	for _, want := range []string{`junction_config_reloads_total{outcome="done"} 2`, `junction_config_reloads_total{outcome="failed"} 1`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// TestRestartOnlyCoversTheConfig: every section of config.Config is
// compared on reload (restartOnly) or applied (log.level): a section
// added to the config fails this test until reloadConfig knows of it.
func TestRestartOnlyCoversTheConfig(t *testing.T) {
	covered := []string{"Listeners", "Realms", "Store", "Limits", "Log", "Admin", "Cluster", "RealmTemplate", "Webhooks", "Callees"}
	var fields []string
	typ := reflect.TypeOf(config.Config{})
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	slices.Sort(fields)
	slices.Sort(covered)
	if !slices.Equal(fields, covered) {
		t.Fatalf("config.Config has %v; reloadConfig knows %v", fields, covered)
	}
	cfg := config.Default()
	next := config.Default()
	next.Realms = append(next.Realms, config.Realm{Name: "realm2"})
	next.Log.Format, next.Log.Level = "json", "debug"
	next.Limits.MaxMessageSize++
	if c := restartOnly(cfg, next); !slices.Equal(c, []string{"realms", "limits", "log.format"}) {
		t.Errorf("restartOnly: %v", c)
	}
	if c := restartOnly(cfg, config.Default()); len(c) != 0 {
		t.Errorf("the same config: %v", c)
	}
}

// TestServeReloadRoles: SIGHUP with a realm's roles changed in the file
// applies them to the sessions in the realm at once: a publication the
// session could not make before is allowed, one it could make is
// refused; a change of more than the roles waits for a restart.
func TestServeReloadRoles(t *testing.T) {
	config := func(topic string) string {
		return `listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: true
    auth:
      anonymous_role: guest
      roles:
        - name: guest
          permissions:
            - {uri: ` + topic + `, allow: [publish]}
`
	}
	path := writeConfig(t, config("com.a"))
	addrs, logs := serveUntilEnd(t, "--config", path)
	dctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(dctx, "ws://"+addrs[0]+"/ws", "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	publish := func(topic string) error {
		t.Helper()
		_, err := s.Publish(dctx, topic, nil, nil, wamp.Dict{"acknowledge": true})
		return err
	}
	if err := publish("com.a"); err != nil {
		t.Fatal(err)
	}
	if err := publish("com.b"); err == nil {
		t.Fatal("com.b allowed before the reload")
	}
	if err := os.WriteFile(path, []byte(config("com.b")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, logs, `msg="SIGHUP: the realm's roles replaced, for its sessions too" realm=realm1 sessions=1`, 1)
	if err := publish("com.b"); err != nil {
		t.Fatalf("com.b after the reload: %v", err)
	}
	if err := publish("com.a"); err == nil {
		t.Fatal("com.a still allowed after the reload")
	}
	waitLogCount(t, logs, `msg="SIGHUP: config file read"`, 1)
	if strings.Contains(logs.String(), "takes a restart") {
		t.Fatalf("a change of roles only was said to wait for a restart:\n%s", logs.String())
	}
}
