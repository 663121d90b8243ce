package router

import (
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// metaCall calls a meta procedure and returns the RESULT's arguments, or
// fails unless the call ends in ERROR wantErr when that is set.
func metaCallArgs(t *testing.T, p *pipe, procedure wamp.URI, wantErr wamp.URI, args ...any) []any {
	t.Helper()
	req := p.s.reqIDs.Next() + 1000
	p.s.Receive(&wamp.Call{Request: req, Procedure: procedure, Payload: wamp.Payload{Args: args}})
	if wantErr != "" {
		wantError(t, p, wamp.TypeCall, req, wantErr)
		return nil
	}
	res := wantResult(t, p, req)
	args2, _, err := codec.DecodePayload(&res.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return args2
}

func TestRegistrationMetaProcedures(t *testing.T) {
	r := newRouter(t, DropEvents)
	a := joinRPC(t, r, allFeatures...)
	b := joinRPC(t, r, allFeatures...)
	admin := joinRPC(t, r)
	exact := register(t, a, 1, "com.m.exact", nil)
	prefix := register(t, a, 2, "com.m", wamp.Dict{"match": "prefix"})
	wild := register(t, a, 3, "com.m..x", wamp.Dict{"match": "wildcard", "invoke": "roundrobin"})
	if got := register(t, b, 1, "com.m..x", wamp.Dict{"match": "wildcard", "invoke": "roundrobin"}); got != wild {
		t.Fatal("shared wildcard registration has two ids")
	}

	lists := metaCallArgs(t, admin, "wamp.registration.list", "")[0].(map[string]any)
	want := map[string]wamp.ID{"exact": exact, "prefix": prefix, "wildcard": wild}
	for m, id := range want {
		l, _ := lists[m].([]any)
		if len(l) != 1 || num(t, l[0]) != int64(id) {
			t.Errorf("list[%s] = %v, want [%d]", m, lists[m], id)
		}
	}

	lookups := []struct {
		args []any
		want any // registration id or nil
	}{
		{[]any{"com.m.exact"}, exact},
		{[]any{"com.m"}, nil},
		{[]any{"com.m", map[string]any{"match": "prefix"}}, prefix},
		{[]any{"com.m..x", map[string]any{"match": "wildcard"}}, wild},
		{[]any{"com.m.exact", map[string]any{"match": "wildcard"}}, nil},
	}
	for _, l := range lookups {
		got := metaCallArgs(t, admin, "wamp.registration.lookup", "", l.args...)[0]
		if l.want == nil && got != nil || l.want != nil && (got == nil || num(t, got) != int64(l.want.(wamp.ID))) {
			t.Errorf("lookup %v = %v, want %v", l.args, got, l.want)
		}
	}
	metaCallArgs(t, admin, "wamp.registration.lookup", wamp.ErrInvalidArgument, "com.m", map[string]any{"match": "fuzzy"})
	metaCallArgs(t, admin, "wamp.registration.lookup", wamp.ErrInvalidArgument, "com.m", "prefix")
	metaCallArgs(t, admin, "wamp.registration.lookup", wamp.ErrInvalidArgument)

	matches := map[string]any{"com.m.exact": exact, "com.m.y": prefix, "com.m.y.x": prefix, "org.z": nil}
	for uri, want := range matches {
		got := metaCallArgs(t, admin, "wamp.registration.match", "", uri)[0]
		if want == nil && got != nil || want != nil && (got == nil || num(t, got) != int64(want.(wamp.ID))) {
			t.Errorf("match %s = %v, want %v", uri, got, want)
		}
	}

	details := metaCallArgs(t, admin, "wamp.registration.get", "", uint64(wild))[0].(map[string]any)
	if num(t, details["id"]) != int64(wild) || details["uri"] != "com.m..x" || details["match"] != "wildcard" || details["invoke"] != "roundrobin" {
		t.Errorf("get: %v", details)
	}
	if created, err := time.Parse(time.RFC3339, details["created"].(string)); err != nil || time.Since(created) > time.Hour {
		t.Errorf("created %v: %v", details["created"], err)
	}
	callees := metaCallArgs(t, admin, "wamp.registration.list_callees", "", uint64(wild))[0].([]any)
	if len(callees) != 2 || num(t, callees[0]) != int64(a.s.ID()) || num(t, callees[1]) != int64(b.s.ID()) {
		t.Errorf("list_callees %v", callees)
	}
	if n := metaCallArgs(t, admin, "wamp.registration.count_callees", "", uint64(wild))[0]; num(t, n) != 2 {
		t.Errorf("count_callees %v", n)
	}
	for _, p := range []wamp.URI{"wamp.registration.get", "wamp.registration.list_callees", "wamp.registration.count_callees"} {
		metaCallArgs(t, admin, p, wamp.ErrNoSuchRegistration, 424242)
		metaCallArgs(t, admin, p, wamp.ErrInvalidArgument, "one")
		metaCallArgs(t, admin, p, wamp.ErrInvalidArgument)
	}
	// The meta procedures are the router's, not in its registrations.
	if got := metaCallArgs(t, admin, "wamp.registration.match", "", "wamp.registration.list")[0]; got != nil {
		t.Errorf("meta procedure matched registration %v", got)
	}
}

// metaEvents subscribes p to the registration meta events.
func metaEvents(t *testing.T, p *pipe) map[wamp.ID]string {
	t.Helper()
	topics := map[wamp.ID]string{}
	for i, topic := range []string{"on_create", "on_register", "on_unregister", "on_delete"} {
		p.s.Receive(&wamp.Subscribe{Request: wamp.ID(900 + i), Topic: wamp.URI("wamp.registration." + topic)})
		topics[p.recv().(*wamp.Subscribed).Subscription] = topic
	}
	return topics
}

func nextEvent(t *testing.T, p *pipe, topics map[wamp.ID]string) (string, []any) {
	t.Helper()
	m := p.recv()
	ev, ok := m.(*wamp.Event)
	if !ok {
		t.Fatalf("want EVENT, got %T %+v", m, m)
	}
	args, _, err := codec.DecodePayload(&ev.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return topics[ev.Subscription], args
}

func TestRegistrationMetaEvents(t *testing.T) {
	r := newRouter(t, DropEvents)
	// The callee watches its own events: they come after REGISTERED and
	// UNREGISTERED.
	callee := joinRPC(t, r, allFeatures...)
	topics := metaEvents(t, callee)
	other := joinRPC(t, r, allFeatures...)

	callee.s.Receive(&wamp.Register{Request: 1, Procedure: "com.e", Options: wamp.Dict{"invoke": "first"}})
	reg := callee.recv().(*wamp.Registered).Registration
	topic, args := nextEvent(t, callee, topics)
	d, _ := args[1].(map[string]any)
	if topic != "on_create" || num(t, args[0]) != int64(callee.s.ID()) || num(t, d["id"]) != int64(reg) ||
		d["uri"] != "com.e" || d["match"] != "exact" || d["invoke"] != "first" {
		t.Fatalf("on_create %v", args)
	}
	topic, args = nextEvent(t, callee, topics)
	if topic != "on_register" || num(t, args[0]) != int64(callee.s.ID()) || num(t, args[1]) != int64(reg) {
		t.Fatalf("%s %v", topic, args)
	}
	// A second callee: on_register only.
	register(t, other, 1, "com.e", wamp.Dict{"invoke": "first"})
	if topic, args = nextEvent(t, callee, topics); topic != "on_register" || num(t, args[0]) != int64(other.s.ID()) {
		t.Fatalf("%s %v", topic, args)
	}
	other.s.Receive(&wamp.Unregister{Request: 2, Registration: reg})
	other.recv()
	if topic, args = nextEvent(t, callee, topics); topic != "on_unregister" || num(t, args[0]) != int64(other.s.ID()) {
		t.Fatalf("%s %v", topic, args)
	}
	callee.none()
	callee.s.Receive(&wamp.Unregister{Request: 2, Registration: reg})
	if u, ok := callee.recv().(*wamp.Unregistered); !ok || u.Request != 2 {
		t.Fatalf("%+v", u)
	}
	for _, want := range []string{"on_unregister", "on_delete"} {
		topic, args = nextEvent(t, callee, topics)
		if topic != want || num(t, args[0]) != int64(callee.s.ID()) || num(t, args[1]) != int64(reg) {
			t.Fatalf("want %s, got %s %v", want, topic, args)
		}
	}
	// A session leaving unregisters and deletes.
	reg = register(t, other, 3, "com.gone", nil)
	nextEvent(t, callee, topics)
	nextEvent(t, callee, topics)
	other.s.Detach()
	for _, want := range []string{"on_unregister", "on_delete"} {
		topic, args = nextEvent(t, callee, topics)
		if topic != want || num(t, args[1]) != int64(reg) {
			t.Fatalf("want %s, got %s %v", want, topic, args)
		}
	}
}

func TestRegistrationRevocation(t *testing.T) {
	r := newRouter(t, DropEvents)
	admin := joinRPC(t, r)
	topics := metaEvents(t, admin)
	announcing := joinRPC(t, r, "registration_revocation", "shared_registration")
	silent := joinRPC(t, r, "shared_registration")
	caller := joinRPC(t, r)
	reg := register(t, announcing, 1, "com.r", wamp.Dict{"invoke": "roundrobin"})
	register(t, silent, 1, "com.r", wamp.Dict{"invoke": "roundrobin"})
	for range 3 {
		nextEvent(t, admin, topics)
	}

	// The admin is also subscribed to the meta events: the event of the
	// revocation comes before the RESULT of the call that made it.
	admin.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.registration.remove_callee",
		Payload: wamp.Payload{Args: wamp.List{uint64(reg), uint64(announcing.s.ID()), "moving endpoint"}}})
	u, ok := announcing.recv().(*wamp.Unregistered)
	if !ok || u.Request != 0 || num(t, u.Details["registration"]) != int64(reg) || u.Details["reason"] != "moving endpoint" {
		t.Fatalf("UNREGISTERED %+v", u)
	}
	if topic, args := nextEvent(t, admin, topics); topic != "on_unregister" || num(t, args[0]) != int64(announcing.s.ID()) {
		t.Fatalf("%s %v", topic, args)
	}
	wantResult(t, admin, 1)
	// Calls now reach the remaining callee only.
	for i := range 3 {
		invoke(t, caller, silent, wamp.ID(i+1), "com.r", nil)
	}
	announcing.none()
	// The revoked callee can no longer unregister it.
	announcing.s.Receive(&wamp.Unregister{Request: 2, Registration: reg})
	wantError(t, announcing, wamp.TypeUnregister, 2, wamp.ErrNoSuchRegistration)

	// A callee that did not announce the feature is not told.
	admin.s.Receive(&wamp.Call{Request: 2, Procedure: "wamp.registration.remove_callee",
		Payload: wamp.Payload{Args: wamp.List{uint64(reg), uint64(silent.s.ID())}}})
	for _, want := range []string{"on_unregister", "on_delete"} {
		if topic, _ := nextEvent(t, admin, topics); topic != want {
			t.Fatalf("want %s, got %s", want, topic)
		}
	}
	wantResult(t, admin, 2)
	silent.none()
	caller.s.Receive(&wamp.Call{Request: 10, Procedure: "com.r"})
	wantError(t, caller, wamp.TypeCall, 10, wamp.ErrNoSuchProcedure)

	metaCallArgs(t, admin, "wamp.registration.remove_callee", wamp.ErrNoSuchRegistration, uint64(reg), uint64(silent.s.ID()))
	other := register(t, silent, 2, "com.other", nil)
	nextEvent(t, admin, topics) // on_create
	nextEvent(t, admin, topics) // on_register
	metaCallArgs(t, admin, "wamp.registration.remove_callee", wamp.ErrNoSuchRegistration, uint64(other), uint64(admin.s.ID()))
	// A session that does not exist is no_such_session, as in Crossbar.io
	// and in wamp.subscription.remove_subscriber.
	metaCallArgs(t, admin, "wamp.registration.remove_callee", wamp.ErrNoSuchSession, uint64(other), uint64(424242))
	metaCallArgs(t, admin, "wamp.registration.remove_callee", wamp.ErrInvalidArgument, uint64(other))
	metaCallArgs(t, admin, "wamp.registration.remove_callee", wamp.ErrInvalidArgument, uint64(other), uint64(silent.s.ID()), 5)
}

func TestPayloadPassthruRPC(t *testing.T) {
	r := newRouter(t, DropEvents)
	ppt := joinRPC(t, r, "payload_passthru_mode")
	plain := joinRPC(t, r)
	register(t, ppt, 1, "com.ppt", nil)
	register(t, plain, 1, "com.plain", nil)
	opts := wamp.Dict{"ppt_scheme": "x_custom", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "k1"}
	blob := []byte{0, 1, 2, 0xff}

	caller := joinRPC(t, r, "payload_passthru_mode")
	inv := invoke(t, caller, ppt, 1, "com.ppt", opts, blob)
	for k, v := range opts {
		if inv.Details[k] != v {
			t.Fatalf("INVOCATION.Details[%s] = %v, want %v", k, inv.Details[k], v)
		}
	}
	if got := firstArg(t, &inv.Payload).([]byte); string(got) != string(blob) {
		t.Fatalf("payload %v", got)
	}
	ppt.s.Receive(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"ppt_scheme": "x_custom", "ppt_keyid": "k2"},
		Payload: wamp.Payload{Args: wamp.List{blob}}})
	res := wantResult(t, caller, 1)
	if res.Details["ppt_scheme"] != "x_custom" || res.Details["ppt_keyid"] != "k2" {
		t.Fatalf("RESULT.Details %v", res.Details)
	}
	// An ERROR with ppt details passes through.
	inv = invoke(t, caller, ppt, 2, "com.ppt", opts)
	ppt.s.Receive(&wamp.Error{RequestType: wamp.TypeInvocation, Request: inv.Request, Details: wamp.Dict{"ppt_scheme": "x_custom"}, Error: "com.app.e"})
	if e := wantError(t, caller, wamp.TypeCall, 2, "com.app.e"); e.Details["ppt_scheme"] != "x_custom" {
		t.Fatalf("%+v", e)
	}

	// To a callee without the feature: feature_not_supported.
	caller.s.Receive(&wamp.Call{Request: 3, Procedure: "com.plain", Options: opts})
	wantError(t, caller, wamp.TypeCall, 3, wamp.ErrFeatureNotSupported)
	// An empty scheme is no passthru.
	inv = invoke(t, caller, plain, 4, "com.plain", wamp.Dict{"ppt_scheme": ""})
	if _, ok := inv.Details["ppt_scheme"]; ok {
		t.Fatalf("%v", inv.Details)
	}
	plain.s.Receive(&wamp.Yield{Request: inv.Request})
	wantResult(t, caller, 4)

	// A YIELD in passthru mode to a caller without the feature: both get
	// feature_not_supported.
	noPPT := joinRPC(t, r)
	inv = invoke(t, noPPT, ppt, 1, "com.ppt", nil)
	ppt.s.Receive(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"ppt_scheme": "mqtt"}})
	wantError(t, ppt, wamp.TypeYield, inv.Request, wamp.ErrFeatureNotSupported)
	wantError(t, noPPT, wamp.TypeCall, 1, wamp.ErrFeatureNotSupported)
	inv = invoke(t, noPPT, ppt, 2, "com.ppt", nil)
	ppt.s.Receive(&wamp.Error{RequestType: wamp.TypeInvocation, Request: inv.Request, Details: wamp.Dict{"ppt_scheme": "mqtt"}, Error: "com.app.e"})
	wantError(t, noPPT, wamp.TypeCall, 2, wamp.ErrFeatureNotSupported)

	// Passthru from a client that did not announce it is a protocol violation.
	noPPT.s.Receive(&wamp.Call{Request: 3, Procedure: "com.ppt", Options: opts})
	wantAbort(t, noPPT, wamp.ErrProtocolViolation)
	inv = invoke(t, caller, plain, 5, "com.plain", nil)
	plain.s.Receive(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"ppt_scheme": "mqtt"}})
	wantAbort(t, plain, wamp.ErrProtocolViolation)
	wantError(t, caller, wamp.TypeCall, 5, wamp.ErrCanceled) // its callee left
}

func TestMetaAPIDisabled(t *testing.T) {
	r := newRealmRouter(t, RealmConfig{DisableMetaAPI: true})
	p := joinRPC(t, r)
	for _, proc := range []string{"list", "lookup", "match", "get", "list_callees", "count_callees", "remove_callee"} {
		metaCallArgs(t, p, wamp.URI("wamp.registration."+proc), wamp.ErrNoSuchProcedure)
	}
}
