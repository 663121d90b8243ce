package router

import (
	"errors"
	"testing"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
)

// TestSetRoles: new roles apply to the realm's sessions at once, a
// permission given or taken away from the next message on, and to the
// sessions that join after; a role that is gone leaves its sessions
// allowed nothing; a realm's roles cannot be taken away or given to a
// realm that has none.
func TestSetRoles(t *testing.T) {
	admin := &auth.Role{Name: "admin", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}
	roles := func(low ...auth.Permission) *auth.Roles {
		t.Helper()
		rs := []*auth.Role{admin}
		if low != nil {
			rs = append(rs, &auth.Role{Name: "low", Permissions: low})
		}
		r, err := auth.NewRoles(rs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := authzRouter(t, func(c *Config) {
		c.Realms = append(c.Realms, RealmConfig{Name: "open", Anonymous: true})
	}, &auth.Role{Name: "low", Permissions: []auth.Permission{{URI: "com.a", Allow: allowOf(auth.ActionPublish)}}})
	p := lowLogin(t, r)
	publishAcked(t, p, "com.a")
	deny := func(p *pipe, topic wamp.URI) {
		t.Helper()
		p.s.Receive(&wamp.Publish{Request: 78, Topic: topic, Options: wamp.Dict{"acknowledge": true}})
		wantError(t, p, wamp.TypePublish, 78, wamp.ErrNotAuthorized)
	}
	deny(p, "com.b")

	n, err := r.SetRoles("realm1", roles(auth.Permission{URI: "com.b", Allow: allowOf(auth.ActionPublish)}))
	if err != nil || n != 1 {
		t.Fatalf("SetRoles: %d sessions, %v", n, err)
	}
	publishAcked(t, p, "com.b")
	deny(p, "com.a")
	later := lowLogin(t, r)
	publishAcked(t, later, "com.b")
	deny(later, "com.a")

	// The role gone: its sessions may do nothing.
	if n, err := r.SetRoles("realm1", roles()); err != nil || n != 2 {
		t.Fatalf("SetRoles without the role: %d sessions, %v", n, err)
	}
	deny(p, "com.b")

	for _, tc := range []struct {
		realm wamp.URI
		roles *auth.Roles
	}{{"realm1", nil}, {"open", roles()}} {
		if _, err := r.SetRoles(tc.realm, tc.roles); !errors.Is(err, ErrRolesFixed) {
			t.Errorf("SetRoles(%s, %v): %v, want ErrRolesFixed", tc.realm, tc.roles, err)
		}
	}
	if _, err := r.SetRoles("nowhere", roles()); err == nil {
		t.Error("SetRoles of a realm that is not configured succeeded")
	}
}

// TestSetRolesWhileJoining: roles replaced again and again while
// sessions join and publish: when it stops, every session has the last
// roles, whichever way its WELCOME and a replacement crossed.
func TestSetRolesWhileJoining(t *testing.T) {
	admin := &auth.Role{Name: "admin", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}
	roles := func(topic wamp.URI) *auth.Roles {
		t.Helper()
		r, err := auth.NewRoles([]*auth.Role{admin, {Name: "low", Permissions: []auth.Permission{{URI: string(topic), Allow: allowOf(auth.ActionPublish)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := authzRouter(t, nil, &auth.Role{Name: "low", Permissions: []auth.Permission{{URI: "com.a", Allow: allowOf(auth.ActionPublish)}}})
	a, b := roles("com.a"), roles("com.b")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rs := a
			if i%2 == 1 {
				rs = b
			}
			if _, err := r.SetRoles("realm1", rs); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var ps []*pipe
	for range 30 {
		p := lowLogin(t, r)
		p.s.Receive(&wamp.Publish{Request: 1, Topic: "com.a"})
		ps = append(ps, p)
	}
	close(stop)
	<-done
	if _, err := r.SetRoles("realm1", roles("com.c")); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		publishAcked(t, p, "com.c")
	}
}
