package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// TestServeReloadConfig: SIGHUP reads the config file again: a new
// log.level is in force at once (debug lines appear), so is a realm
// added; other changes are named in a warning as waiting for a restart
// (the router goes on as it started: the realm with event history is not
// served), and a file that does not load changes nothing and says why.
func TestServeReloadConfig(t *testing.T) {
	const base = `listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: true
`
	path := writeConfig(t, base+"log:\n  level: info\n")
	addrs, logs := serveUntilEnd(t, "--config", path)
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
	reloadWith(t, path, base+"log:\n  level: info\n")
	waitLogCount(t, logs, `msg="SIGHUP: config file read" log_level=info`, 1)
	store := filepath.Join(t.TempDir(), "history.db")
	reloadWith(t, path, base+"  - name: realm2\n    anonymous: true\n  - name: kept\n    anonymous: true\n    history: [{topic: a, limit: 1}]\nstore: {path: "+store+"}\nlog:\n  level: debug\n")
	waitLogCount(t, logs, `msg="SIGHUP: log level set" from=info to=debug`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: realm added" realm=realm2`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: realm not added: it waits for a restart" realm=kept`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: the config file changes what takes a restart: the router goes on as it started until then" sections="realms, store"`, 1)
	if strings.Count(logs.String(), "takes a restart") != 1 {
		t.Fatalf("the unchanged file was said to change something:\n%s", logs.String())
	}
	for _, realm := range []string{"realm1", "realm2"} {
		if err := dial(realm); err != nil {
			t.Fatalf("%s: %v", realm, err)
		}
	}
	waitLogCount(t, logs, "level=DEBUG", 1) // a session's lines, at debug
	if err := dial("kept"); err == nil {
		t.Fatal("the realm with event history, added to the file, was served before a restart")
	}

	reloadWith(t, path, "listeners: [")
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
// added to the config fails this test until configReloader knows of it.
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
		t.Fatalf("config.Config has %v; configReloader knows %v", fields, covered)
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
	reloadWith(t, path, config("com.b"))
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

// TestServeReloadPrincipals: SIGHUP with a realm's principals changed in
// the file: a device whose key was revoked is disconnected at once
// (GOODBYE wamp.close.killed) and cannot log in with it again; a device
// whose other key stays, and a service whose ticket is unchanged, go on;
// a rotated ticket logs in with the new secret only. The roles changed
// in the same file apply too, and nothing is said to wait for a restart.
func TestServeReloadPrincipals(t *testing.T) {
	ticket := func(secret string) string { return hashOf(t, secret) }
	_, revoked, _ := ed25519.GenerateKey(nil)
	_, kept, _ := ed25519.GenerateKey(nil)
	pub := func(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }
	svc, rotated := ticket("svc-secret"), ticket("ops-old")
	config := func(deviceKeys, opsTicket, topic string) string {
		return `listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: false
    auth:
      principals:
        - {authid: svc, role: backend, ticket: "` + svc + `"}
        - {authid: ops, role: backend, ticket: "` + opsTicket + `"}
        - {authid: dev, role: device, cryptosign: [` + deviceKeys + `]}
      roles:
        - name: backend
          permissions:
            - {uri: "*", allow: [call, register, publish, subscribe]}
        - name: device
          permissions:
            - {uri: ` + topic + `, allow: [publish]}
`
	}
	path := writeConfig(t, config(pub(revoked)+", "+pub(kept), rotated, "com.a"))
	addrs, logs := serveUntilEnd(t, "--config", path)
	url := "ws://" + addrs[0] + "/ws"
	dctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	dial := func(o *client.Options) (*client.Session, error) {
		s, err := client.Dial(dctx, url, "realm1", o)
		if err == nil {
			t.Cleanup(func() { s.Close(context.Background()) })
		}
		return s, err
	}
	device := func(k ed25519.PrivateKey) *client.Options {
		return &client.Options{AuthID: "dev", Credentials: []client.Credential{client.Cryptosign(k)}}
	}
	backend := func(authid, secret string) *client.Options {
		return &client.Options{AuthID: authid, Credentials: []client.Credential{client.Ticket(secret)}}
	}
	sessions := map[string]*client.Options{
		"revoked device": device(revoked), "kept device": device(kept),
		"svc": backend("svc", "svc-secret"), "ops": backend("ops", "ops-old"),
	}
	live := map[string]*client.Session{}
	for name, o := range sessions {
		s, err := dial(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		live[name] = s
	}

	reloadWith(t, path, config(pub(kept), ticket("ops-new"), "com.b"))
	// The revoked device and ops (whose ticket changed) are ended.
	for _, name := range []string{"revoked device", "ops"} {
		select {
		case <-live[name].Done():
		case <-dctx.Done():
			t.Fatalf("%s not disconnected after the reload:\n%s", name, logs.String())
		}
		var ce *client.CloseError
		if err := live[name].Err(); !errors.As(err, &ce) || ce.Reason != wamp.CloseKilled {
			t.Errorf("%s ended with %v, want GOODBYE %s", name, err, wamp.CloseKilled)
		}
	}
	waitLogCount(t, logs, `msg="SIGHUP: the realm's principals replaced; sessions whose credential is gone ended" realm=realm1 sessions_ended=2`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: the realm's roles replaced, for its sessions too" realm=realm1 sessions=2`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: config file read"`, 1)
	if strings.Contains(logs.String(), "takes a restart") {
		t.Fatalf("a change of principals and roles was said to wait for a restart:\n%s", logs.String())
	}
	if _, err := live["kept device"].Publish(dctx, "com.b", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Errorf("the kept device, with the new roles: %v", err)
	}
	if _, err := live["svc"].Call(dctx, "wamp.session.count", nil, nil, nil); err != nil {
		t.Errorf("svc after the reload: %v", err)
	}
	for name, o := range map[string]*client.Options{"the revoked key": device(revoked), "the old ticket": backend("ops", "ops-old")} {
		if _, err := dial(o); err == nil {
			t.Errorf("%s logged in after the reload", name)
		}
	}
	if _, err := dial(backend("ops", "ops-new")); err != nil {
		t.Errorf("the new ticket: %v", err)
	}
}

// TestAuthChanged: a realm's principals and roles are taken on by a
// running router when they change, whatever else of the realm changed
// (which waits for a restart); roles given to a realm that had none (or
// taken away), or a change of only the rest of its auth section, are not
// taken on. Realms are matched by name.
func TestAuthChanged(t *testing.T) {
	realm := func(name string, edit func(a *config.RealmAuth)) config.Realm {
		a := &config.RealmAuth{
			Principals: []config.Principal{{AuthID: "joe", Role: "user", TLS: []string{"ab"}}},
			Roles:      []config.Role{{Name: "user"}},
		}
		if edit != nil {
			edit(a)
		}
		return config.Realm{Name: name, Auth: a}
	}
	running := &config.Config{Realms: []config.Realm{realm("realm1", nil)}}
	for _, tc := range []struct {
		name  string
		edit  func(a *config.RealmAuth)
		taken bool
	}{
		{"nothing", func(*config.RealmAuth) {}, false},
		{"a principal's role", func(a *config.RealmAuth) { a.Principals[0].Role = "admin" }, true},
		{"a principal added", func(a *config.RealmAuth) {
			a.Principals = append(a.Principals, config.Principal{AuthID: "ann", Role: "user"})
		}, true},
		{"the roles", func(a *config.RealmAuth) { a.Roles[0].Name = "users" }, true},
		{"the roles taken away", func(a *config.RealmAuth) { a.Roles = nil }, false},
		{"a principal removed and the roles taken away", func(a *config.RealmAuth) { a.Principals, a.Roles = nil, nil }, true},
		{"cookie logins only", func(a *config.RealmAuth) { a.Cookie = true }, false},
		{"principals and the throttle", func(a *config.RealmAuth) { a.Principals = nil; a.Throttle.Free = 9 }, true},
	} {
		next := &config.Config{Realms: []config.Realm{realm("realm0", nil), realm("realm1", tc.edit)}}
		got := authChanged(running, next)
		if (len(got) == 1) != tc.taken || tc.taken && (got[0].was != &running.Realms[0] || got[0].is != &next.Realms[1]) {
			t.Errorf("%s: %v, want taken %v", tc.name, got, tc.taken)
		}
	}
	noRoles := &config.Config{Realms: []config.Realm{realm("realm1", func(a *config.RealmAuth) { a.Roles = nil })}}
	if got := authChanged(noRoles, running); len(got) != 0 {
		t.Errorf("roles given to a realm without: %v", got)
	}
}

// recordingSetter records what a reload applies.
type recordingSetter struct {
	auths, roles []wamp.URI
}

func (r *recordingSetter) AddRealm(router.RealmConfig) error { return nil }
func (r *recordingSetter) RemoveRealm(wamp.URI) (int, error) { return 0, nil }
func (r *recordingSetter) SetAuth(realm wamp.URI, _ *auth.Policy) (int, error) {
	r.auths = append(r.auths, realm)
	return 0, nil
}
func (r *recordingSetter) SetRoles(realm wamp.URI, _ *auth.Roles) (int, error) {
	r.roles = append(r.roles, realm)
	return 0, nil
}

// TestReloadPrincipalsWhileRolesComeOrGo: a principal removed in a file
// that also gives the realm roles, or takes all of them away, is revoked
// at once; the roles wait for a restart (and stay as they run).
func TestReloadPrincipalsWhileRolesComeOrGo(t *testing.T) {
	both := []config.Principal{{AuthID: "joe", Role: "user", TLS: []string{"ab"}}, {AuthID: "dev", Role: "user", TLS: []string{"cd"}}}
	withRoles := []config.Role{{Name: "user"}}
	for _, tc := range []struct {
		name     string
		was, is  []config.Role
		wasRoles int
	}{
		{"roles given", nil, withRoles, 0},
		{"roles taken away", withRoles, nil, 1},
	} {
		running := &config.Config{Realms: []config.Realm{{Name: "realm1", Auth: &config.RealmAuth{Principals: both, Roles: tc.was}}}}
		next := &config.Config{Realms: []config.Realm{{Name: "realm1", Auth: &config.RealmAuth{Principals: both[:1], Roles: tc.is}}}}
		rt := &recordingSetter{}
		for _, r := range authChanged(running, next) {
			reloadRealmAuth(r.was, r.is, rt, nil, slog.New(slog.DiscardHandler))
		}
		if !slices.Equal(rt.auths, []wamp.URI{"realm1"}) {
			t.Errorf("%s: the removed principal was not revoked (SetAuth: %v)", tc.name, rt.auths)
		}
		if len(rt.roles) != 0 {
			t.Errorf("%s: roles applied to a realm whose authorization is fixed at start: %v", tc.name, rt.roles)
		}
		if got := running.Realms[0].Auth; len(got.Principals) != 1 || len(got.Roles) != tc.wasRoles {
			t.Errorf("%s: recorded as in force: %d principals, %d roles", tc.name, len(got.Principals), len(got.Roles))
		}
		if changed := restartOnly(running, next); !slices.Equal(changed, []string{"realms"}) {
			t.Errorf("%s: sections waiting for a restart %v, want realms (the roles)", tc.name, changed)
		}
	}
}

// TestServeReloadAdminLogins: SIGHUP with the admin section's users and
// tokens changed replaces them at once: a removed token and an old
// password are refused from the next request (though verified and
// remembered before), the new password works; nothing waits for a
// restart.
func TestServeReloadAdminLogins(t *testing.T) {
	config := func(password, tokens string) string {
		return fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
admin:
  users:
    - {name: ops, password: '%s'}
  tokens: [%s]
`, password, tokens)
	}
	path := writeConfig(t, config(hashOf(t, "old-pass"), fmt.Sprintf("{name: prometheus, token: '%s'}", hashOf(t, "scrape"))))
	addrs, logs := serveUntilEnd(t, "--config", path)
	metrics := "http://" + addrs[0] + "/metrics"
	get := func(header ...string) int {
		t.Helper()
		code, _ := httpDo(t, "GET", metrics, "", header...)
		return code
	}
	if get("Authorization", basic("ops", "old-pass")) != 200 || get("Authorization", "Bearer scrape") != 200 {
		t.Fatal("the logins of the file are refused")
	}
	reloadWith(t, path, config(hashOf(t, "new-pass"), ""))
	waitLogCount(t, logs, `msg="SIGHUP: the admin endpoints' users and tokens replaced; logins verified before are verified again" users=1 tokens=0`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: config file read"`, 1)
	for _, tc := range []struct {
		what, auth string
		want       int
	}{
		{"the old password", basic("ops", "old-pass"), 401},
		{"the removed token", "Bearer scrape", 401},
		{"the new password", basic("ops", "new-pass"), 200},
	} {
		if code := get("Authorization", tc.auth); code != tc.want {
			t.Errorf("%s after the reload: %d, want %d", tc.what, code, tc.want)
		}
	}
	if strings.Contains(logs.String(), "takes a restart") {
		t.Fatalf("a change of the admin logins was said to wait for a restart:\n%s", logs.String())
	}
}

// TestServeReloadRevokesWithOtherChanges: a credential revoked in a file
// that changes other things too is revoked at once; the other things
// wait for a restart, said in the warning: a realm's principal removed
// while the realm is also opened to anonymous clients (which is not
// done), an admin token removed while the admin throttle changes.
func TestServeReloadRevokesWithOtherChanges(t *testing.T) {
	ticket := func(secret string) string { return hashOf(t, secret) }
	svc, dev := ticket("svc-secret"), ticket("dev-secret")
	token := fmt.Sprintf("{name: prometheus, token: '%s'}", hashOf(t, "scrape"))
	config := func(anonymous bool, principals, tokens, freeFailures string) string {
		return fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: %v
    auth:
      principals: [%s]
admin:
  users:
    - {name: ops, password: '%s'}
  tokens: [%s]
  throttle: {free: %s}
`, anonymous, principals, hashOf(t, "ops-pass"), tokens, freeFailures)
	}
	both := fmt.Sprintf(`{authid: svc, role: backend, ticket: "%s"}, {authid: dev, role: device, ticket: "%s"}`, svc, dev)
	path := writeConfig(t, config(false, both, token, "3"))
	addrs, logs := serveUntilEnd(t, "--config", path)
	url := "ws://" + addrs[0] + "/ws"
	dctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	device, err := client.Dial(dctx, url, "realm1", &client.Options{AuthID: "dev", Credentials: []client.Credential{client.Ticket("dev-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	defer device.Close(context.Background())

	only := fmt.Sprintf(`{authid: svc, role: backend, ticket: "%s"}`, svc)
	reloadWith(t, path, config(true, only, "", "5"))
	select {
	case <-device.Done():
	case <-dctx.Done():
		t.Fatalf("the removed principal's session goes on:\n%s", logs.String())
	}
	waitLogCount(t, logs, `msg="SIGHUP: the config file changes what takes a restart: the router goes on as it started until then" sections="realms, admin"`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: config file read"`, 1)
	if code, _ := httpDo(t, "GET", "http://"+addrs[0]+"/metrics", "", "Authorization", "Bearer scrape"); code != 401 {
		t.Errorf("the removed token after the reload: %d, want 401", code)
	}
	if s, err := client.Dial(dctx, url, "realm1", nil); err == nil {
		s.Close(context.Background())
		t.Error("an anonymous client joined: anonymous: true was applied without a restart")
	}
}

// TestServeReloadRemovesRealm: SIGHUP with a realm taken out of the file
// ends that realm's sessions (GOODBYE wamp.close.killed) and refuses new
// ones; the other realms' sessions go on, and nothing waits for a
// restart.
func TestServeReloadRemovesRealm(t *testing.T) {
	const base = `listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: true
`
	path := writeConfig(t, base+"  - name: tenant2\n    anonymous: true\n")
	addrs, logs := serveUntilEnd(t, "--config", path)
	url := "ws://" + addrs[0] + "/ws"
	dctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stay, err := client.Dial(dctx, url, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stay.Close(context.Background())
	gone, err := client.Dial(dctx, url, "tenant2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close(context.Background())

	reloadWith(t, path, base)
	select {
	case <-gone.Done():
	case <-dctx.Done():
		t.Fatalf("the removed realm's session goes on:\n%s", logs.String())
	}
	var ce *client.CloseError
	if err := gone.Err(); !errors.As(err, &ce) || ce.Reason != wamp.CloseKilled {
		t.Errorf("the removed realm's session ended with %v, want GOODBYE %s", err, wamp.CloseKilled)
	}
	waitLogCount(t, logs, `msg="SIGHUP: realm removed; its sessions ended" realm=tenant2 sessions_ended=1`, 1)
	waitLogCount(t, logs, `msg="SIGHUP: config file read"`, 1)
	if strings.Contains(logs.String(), "takes a restart") {
		t.Fatalf("a realm removed was said to wait for a restart:\n%s", logs.String())
	}
	if _, err := stay.Publish(dctx, "com.example.still", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Errorf("the other realm's session: %v", err)
	}
	if s, err := client.Dial(dctx, url, "tenant2", nil); err == nil {
		s.Close(context.Background())
		t.Error("a client joined the removed realm")
	}
}

// reloadWith writes yaml to the config file at path and sends the process
// SIGHUP: the router of serveUntilEnd reads it again.
func reloadWith(t *testing.T, path, yaml string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}
