package router

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// peerOpts describes a test session: its authid and authrole, and the
// features it announces for the publisher and subscriber roles.
type peerOpts struct {
	realm    wamp.URI // default realm1
	authid   string
	authrole string
	features []string
}

// joinWith joins a session announcing all four client roles with features
// for the publisher and subscriber roles.
func joinWith(t *testing.T, r *Router, o peerOpts) *pipe {
	t.Helper()
	p := attachPipe(t, r, codec.JSON)
	feats := wamp.Dict{}
	for _, f := range o.features {
		feats[f] = true
	}
	roles := wamp.Dict{
		"publisher":  wamp.Dict{"features": feats},
		"subscriber": wamp.Dict{"features": feats},
		"caller":     wamp.Dict{},
		"callee":     wamp.Dict{},
	}
	details := wamp.Dict{"roles": roles}
	if o.authid != "" {
		details["authid"] = o.authid
	}
	realm := o.realm
	if realm == "" {
		realm = "realm1"
	}
	p.s.Receive(&wamp.Hello{Realm: realm, Details: details})
	if _, ok := p.recv().(*wamp.Welcome); !ok {
		t.Fatal("no WELCOME")
	}
	if o.authrole != "" {
		// Authentication is another part's business; the broker only reads
		// the role.
		p.s.mu.Lock()
		p.s.authrole = o.authrole
		p.s.mu.Unlock()
	}
	return p
}

func newRouterWith(t *testing.T, rc RealmConfig) *Router {
	t.Helper()
	rc.Name, rc.Anonymous = "realm1", true
	r, err := New(Config{Realms: []RealmConfig{rc}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func subscribe(t *testing.T, p *pipe, topic wamp.URI, opts wamp.Dict) wamp.ID {
	t.Helper()
	p.s.Receive(&wamp.Subscribe{Request: 1, Topic: topic, Options: opts})
	m := p.recv()
	sub, ok := m.(*wamp.Subscribed)
	if !ok {
		t.Fatalf("SUBSCRIBE %q %v: got %T %+v", topic, opts, m, m)
	}
	return sub.Subscription
}

func wantEvent(t *testing.T, p *pipe) *wamp.Event {
	t.Helper()
	m := p.recv()
	ev, ok := m.(*wamp.Event)
	if !ok {
		t.Fatalf("want EVENT, got %T %+v", m, m)
	}
	return ev
}

func call(t *testing.T, p *pipe, proc wamp.URI, args ...any) *wamp.Result {
	t.Helper()
	p.s.Receive(&wamp.Call{Request: 7, Procedure: proc, Payload: wamp.Payload{Args: args}})
	m := p.recv()
	res, ok := m.(*wamp.Result)
	if !ok {
		t.Fatalf("CALL %s%v: got %T %+v", proc, args, m, m)
	}
	return res
}

func TestBlackWhiteListing(t *testing.T) {
	r := newRouter(t, DropEvents)
	pub := joinWith(t, r, peerOpts{authid: "pub", authrole: "admin"})
	// a and b share an authid, c and d a role.
	a := joinWith(t, r, peerOpts{authid: "alice", authrole: "staff"})
	b := joinWith(t, r, peerOpts{authid: "alice", authrole: "manager"})
	c := joinWith(t, r, peerOpts{authid: "carol", authrole: "guest"})
	d := joinWith(t, r, peerOpts{authid: "dave", authrole: "guest"})
	all := map[string]*pipe{"a": a, "b": b, "c": c, "d": d, "pub": pub}
	for _, p := range all {
		subscribe(t, p, "com.t", nil)
	}
	id := func(n string) uint64 { return uint64(all[n].s.ID()) }
	ids := func(ns ...string) []any {
		l := []any{}
		for _, n := range ns {
			l = append(l, id(n))
		}
		return l
	}
	strs := func(ss ...string) []any {
		l := []any{}
		for _, s := range ss {
			l = append(l, s)
		}
		return l
	}
	cases := []struct {
		name string
		opts wamp.Dict
		want []string
	}{
		{"none", wamp.Dict{}, []string{"a", "b", "c", "d"}},
		{"exclude_me false", wamp.Dict{"exclude_me": false}, []string{"a", "b", "c", "d", "pub"}},
		{"exclude", wamp.Dict{"exclude": ids("a", "c")}, []string{"b", "d"}},
		{"eligible", wamp.Dict{"eligible": ids("a", "c", "pub")}, []string{"a", "c"}},
		{"eligible empty", wamp.Dict{"eligible": []any{}}, nil},
		{"exclude empty", wamp.Dict{"exclude": []any{}}, []string{"a", "b", "c", "d"}},
		{"eligible and exclude", wamp.Dict{"eligible": ids("a", "b", "c"), "exclude": ids("b")}, []string{"a", "c"}},
		{"exclude_authid", wamp.Dict{"exclude_authid": strs("alice")}, []string{"c", "d"}},
		{"eligible_authid", wamp.Dict{"eligible_authid": strs("alice", "dave")}, []string{"a", "b", "d"}},
		{"exclude_authrole", wamp.Dict{"exclude_authrole": strs("guest", "staff")}, []string{"b"}},
		{"eligible_authrole", wamp.Dict{"eligible_authrole": strs("guest")}, []string{"c", "d"}},
		{"eligible_authrole, exclude", wamp.Dict{"eligible_authrole": strs("guest"), "exclude": ids("d")}, []string{"c"}},
		{"eligible_authid, exclude_authrole", wamp.Dict{"eligible_authid": strs("alice"), "exclude_authrole": strs("manager")}, []string{"a"}},
		{"all six", wamp.Dict{
			"eligible": ids("a", "b", "c", "d"), "eligible_authid": strs("alice", "carol", "dave"), "eligible_authrole": strs("staff", "manager", "guest"),
			"exclude": ids("d"), "exclude_authid": strs("carol"), "exclude_authrole": strs("manager")}, []string{"a"}},
		{"eligible publisher, exclude_me false", wamp.Dict{"eligible": ids("pub"), "exclude_me": false}, []string{"pub"}},
		{"long lists", wamp.Dict{"exclude": append(ids("b"), longIDs(40)...), "eligible_authid": append(strs("alice", "dave"), longStrings(40)...)}, []string{"a", "d"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts["acknowledge"] = true
			pub.s.Receive(&wamp.Publish{Request: 9, Topic: "com.t", Options: tc.opts})
			// Whoever receives, receives before the publisher's PUBLISHED.
			var got []string
			for n, p := range all {
				if n == "pub" {
					continue
				}
				select {
				case m := <-p.out:
					if _, ok := m.(*wamp.Event); !ok {
						t.Fatalf("%s got %T", n, m)
					}
					got = append(got, n)
				default:
				}
			}
			for {
				m := pub.recv()
				if _, ok := m.(*wamp.Published); ok {
					break
				}
				got = append(got, "pub")
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delivered to %v, want %v", got, tc.want)
			}
		})
	}
}

func longIDs(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = uint64(wamp.MaxID) - uint64(i)
	}
	return l
}

func longStrings(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = fmt.Sprintf("nobody-%d", i)
	}
	return l
}

func TestPublisherIdentification(t *testing.T) {
	for _, tc := range []struct {
		policy     Disclosure
		discloseMe any // nil: absent
		disclosed  bool
		refused    bool
	}{
		{DiscloseOnRequest, nil, false, false},
		{DiscloseOnRequest, false, false, false},
		{DiscloseOnRequest, true, true, false},
		{DiscloseAlways, nil, true, false},
		{DiscloseAlways, false, true, false},
		{DiscloseNever, nil, false, false},
		{DiscloseNever, true, false, true},
	} {
		t.Run(fmt.Sprintf("policy %d disclose_me %v", tc.policy, tc.discloseMe), func(t *testing.T) {
			r := newRouterWith(t, RealmConfig{DisclosePublisher: tc.policy})
			pub := joinWith(t, r, peerOpts{authid: "the-publisher", authrole: "writer"})
			sub := joinWith(t, r, peerOpts{features: []string{"publisher_identification"}})
			subscribe(t, sub, "com.t", nil)
			for _, ack := range []bool{true, false} {
				opts := wamp.Dict{"acknowledge": ack}
				if tc.discloseMe != nil {
					opts["disclose_me"] = tc.discloseMe
				}
				pub.s.Receive(&wamp.Publish{Request: 3, Topic: "com.t", Options: opts})
				if tc.refused {
					if ack {
						wantError(t, pub, wamp.TypePublish, 3, wamp.ErrDiscloseMeDisallowed)
					}
					pub.none()
					sub.none()
					continue
				}
				if ack {
					pub.recv()
				}
				ev := wantEvent(t, sub)
				if got := ev.Details["publisher"] != nil; got != tc.disclosed {
					t.Fatalf("disclosed %v, want %v: %v", got, tc.disclosed, ev.Details)
				}
				if tc.disclosed && (ev.Details["publisher"] != int64(pub.s.ID()) ||
					ev.Details["publisher_authid"] != "the-publisher" || ev.Details["publisher_authrole"] != "writer") {
					t.Fatalf("details %v", ev.Details)
				}
			}
		})
	}
}

func TestPublicationTrustLevels(t *testing.T) {
	r := newRouterWith(t, RealmConfig{TrustLevels: map[string]int{"trusted": 3, "untrusted": 0}})
	sub := join(t, r, codec.CBOR)
	subscribe(t, sub, "com.t", nil)
	for _, tc := range []struct {
		role  string
		level any
	}{{"trusted", int64(3)}, {"untrusted", int64(0)}, {"unlisted", nil}} {
		pub := joinWith(t, r, peerOpts{authrole: tc.role})
		pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.t", Options: wamp.Dict{"disclose_me": true}})
		ev := wantEvent(t, sub)
		if ev.Details["trustlevel"] != tc.level {
			t.Fatalf("authrole %s: trustlevel %v (%T), want %v", tc.role, ev.Details["trustlevel"], ev.Details["trustlevel"], tc.level)
		}
		if ev.Details["publisher"] != int64(pub.s.ID()) {
			t.Fatalf("trust level lost the disclosure: %v", ev.Details)
		}
	}
}

func TestPatternBasedSubscription(t *testing.T) {
	r := newRouter(t, DropEvents)
	pub := join(t, r, codec.JSON)
	s1 := join(t, r, codec.MsgPack)
	s2 := join(t, r, codec.CBOR)

	exact := subscribe(t, s1, "com.app.topic.a", nil)
	prefix := subscribe(t, s1, "com.app.topic", wamp.Dict{"match": "prefix"})
	wildcard := subscribe(t, s1, "com.app..a", wamp.Dict{"match": "wildcard"})
	if prefix2 := subscribe(t, s2, "com.app.topic", wamp.Dict{"match": "prefix"}); prefix2 != prefix {
		t.Fatalf("one (match, topic) must have one subscription id: %d, %d", prefix, prefix2)
	}
	if exact2 := subscribe(t, s2, "com.app.topic", nil); exact2 == prefix {
		t.Fatal("an exact subscription shares its id with a prefix one for the same URI")
	}
	// prefix "com.app." matches every URI starting with it.
	dotted := subscribe(t, s2, "com.app.", wamp.Dict{"match": "prefix"})

	pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.app.topic.a", Payload: wamp.Payload{Args: wamp.List{"x"}}})
	got := map[wamp.ID]wamp.Dict{}
	var pubID wamp.ID
	for range 3 {
		ev := wantEvent(t, s1)
		got[ev.Subscription] = ev.Details
		if pubID != 0 && ev.Publication != pubID {
			t.Fatal("one publication, two publication ids")
		}
		pubID = ev.Publication
	}
	s1.none()
	if len(got) != 3 || got[exact]["topic"] != nil || got[prefix]["topic"] != "com.app.topic.a" || got[wildcard]["topic"] != "com.app.topic.a" {
		t.Fatalf("events by subscription: %v (exact %d prefix %d wildcard %d)", got, exact, prefix, wildcard)
	}
	got = map[wamp.ID]wamp.Dict{}
	for range 2 {
		ev := wantEvent(t, s2)
		got[ev.Subscription] = ev.Details
	}
	s2.none()
	if got[prefix]["topic"] != "com.app.topic.a" || got[dotted]["topic"] != "com.app.topic.a" {
		t.Fatalf("s2 events: %v", got)
	}

	for _, tc := range []struct {
		topic wamp.URI
		s1    []wamp.ID
	}{
		{"com.app.topic", []wamp.ID{prefix}},
		{"com.app.topicx", []wamp.ID{prefix}}, // a string prefix, as the spec defines it
		{"com.app.topi", nil},
		{"com.app.x.a", []wamp.ID{wildcard}},
		{"com.app.x.a.b", nil},
		{"com.app.topic.a.b", []wamp.ID{prefix}},
	} {
		pub.s.Receive(&wamp.Publish{Request: 2, Topic: tc.topic})
		var ids []wamp.ID
		for range tc.s1 {
			ev := wantEvent(t, s1)
			ids = append(ids, ev.Subscription)
			if ev.Details["topic"] != string(tc.topic) {
				t.Fatalf("%s: details %v", tc.topic, ev.Details)
			}
		}
		s1.none()
		if !slices.Equal(ids, tc.s1) {
			t.Fatalf("%s: subscriptions %v, want %v", tc.topic, ids, tc.s1)
		}
		for len(s2.out) > 0 {
			<-s2.out
		}
	}

	// Unsubscribing the last subscriber drops the pattern from the index.
	s1.s.Receive(&wamp.Unsubscribe{Request: 3, Subscription: wildcard})
	s1.recv()
	pub.s.Receive(&wamp.Publish{Request: 4, Topic: "com.app.x.a"})
	s1.none()
	if _, _, ok := r.realms.get("realm1").broker.subscriptionByID(wildcard); ok {
		t.Fatal("wildcard subscription still known")
	}
	m, p, ok := r.realms.get("realm1").broker.subscriptionByID(prefix)
	if !ok || m != wamp.MatchPrefix || p != "com.app.topic" {
		t.Fatalf("subscriptionByID(prefix) = %v %q %v", m, p, ok)
	}

	// Invalid patterns.
	for _, tc := range []struct {
		topic wamp.URI
		match string
	}{{"a..b", "prefix"}, {"a b", "wildcard"}, {"a..b", "exact"}, {".", "prefix"}} {
		s1.s.Receive(&wamp.Subscribe{Request: 5, Topic: tc.topic, Options: wamp.Dict{"match": tc.match}})
		wantError(t, s1, wamp.TypeSubscribe, 5, wamp.ErrInvalidURI)
	}
	if id := subscribe(t, s1, "a..b", wamp.Dict{"match": "wildcard"}); id == 0 {
		t.Fatal("wildcard a..b refused")
	}
}

func TestShardedSubscription(t *testing.T) {
	r := newRouter(t, DropEvents)
	pub := join(t, r, codec.JSON)
	nodes := map[string][]*pipe{}
	var id wamp.ID
	for _, nk := range []string{"n1", "n1", "n2", "n3"} {
		p := joinWith(t, r, peerOpts{features: []string{"sharded_subscription"}})
		sid := subscribe(t, p, "com.sensor..temp", wamp.Dict{"match": "wildcard", "nkey": nk})
		if id != 0 && sid != id {
			t.Fatal("sharded subscribers of one pattern must share the subscription")
		}
		id = sid
		nodes[nk] = append(nodes[nk], p)
	}
	plain := join(t, r, codec.JSON)
	subscribe(t, plain, "com.sensor..temp", wamp.Dict{"match": "wildcard"})

	recvd := func(p *pipe) bool {
		select {
		case m := <-p.out:
			if _, ok := m.(*wamp.Event); !ok {
				t.Fatalf("got %T", m)
			}
			return true
		default:
			return false
		}
	}
	chosen := map[string]string{}
	for i := range 60 {
		rkey := fmt.Sprintf("sn%d", i)
		pub.s.Receive(&wamp.Publish{Request: 1, Topic: wamp.URI("com.sensor." + rkey + ".temp"), Options: wamp.Dict{"rkey": rkey}})
		if !recvd(plain) {
			t.Fatal("a subscriber without nkey missed a sharded event")
		}
		var got []string
		for nk, ps := range nodes {
			n := 0
			for _, p := range ps {
				if recvd(p) {
					n++
				}
			}
			if n > 0 {
				if n != len(ps) {
					t.Fatalf("rkey %s: %d of the %d sessions of node %s received", rkey, n, len(ps), nk)
				}
				got = append(got, nk)
			}
		}
		if len(got) != 1 {
			t.Fatalf("rkey %s reached nodes %v, want exactly one", rkey, got)
		}
		chosen[rkey] = got[0]
	}
	spread := map[string]int{}
	for _, nk := range chosen {
		spread[nk]++
	}
	if len(spread) != 3 {
		t.Fatalf("60 resource keys over 3 nodes: %v", spread)
	}
	// The same rkey keeps its node; without rkey everyone receives.
	pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.sensor.sn7.temp", Options: wamp.Dict{"rkey": "sn7"}})
	recvd(plain)
	for _, p := range nodes[chosen["sn7"]] {
		if !recvd(p) {
			t.Fatal("rkey sn7 moved to another node")
		}
	}
	pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.sensor.x.temp"})
	for _, ps := range nodes {
		for _, p := range ps {
			if !recvd(p) {
				t.Fatal("an event without rkey must reach every subscriber")
			}
		}
	}
	// When node n2 leaves, only its resources move.
	for _, p := range nodes["n2"] {
		p.s.Detach()
	}
	delete(nodes, "n2")
	for i := range 60 {
		rkey := fmt.Sprintf("sn%d", i)
		pub.s.Receive(&wamp.Publish{Request: 1, Topic: wamp.URI("com.sensor." + rkey + ".temp"), Options: wamp.Dict{"rkey": rkey}})
		recvd(plain)
		for nk, ps := range nodes {
			got := recvd(ps[0])
			recvd(ps[len(ps)-1])
			if chosen[rkey] != "n2" && got != (chosen[rkey] == nk) {
				t.Fatalf("rkey %s moved from %s though its node stayed", rkey, chosen[rkey])
			}
		}
	}
}

func TestSubscriptionRevocation(t *testing.T) {
	r := newRouter(t, DropEvents)
	admin := join(t, r, codec.JSON)
	aware := joinWith(t, r, peerOpts{features: []string{"subscription_revocation"}})
	unaware := join(t, r, codec.JSON)
	id := subscribe(t, aware, "com.t", nil)
	subscribe(t, unaware, "com.t", nil)
	subscribe(t, admin, "wamp.subscription.on_unsubscribe", nil)

	// The meta event goes out before the procedure returns.
	admin.s.Receive(&wamp.Call{Request: 7, Procedure: "wamp.subscription.remove_subscriber",
		Payload: wamp.Payload{Args: wamp.List{uint64(id), uint64(aware.s.ID()), "wamp.revoked.test"}}})
	u, ok := aware.recv().(*wamp.Unsubscribed)
	if !ok || u.Request != 0 || u.Details["subscription"] != int64(id) || u.Details["reason"] != "wamp.revoked.test" {
		t.Fatalf("revocation notice: %+v", u)
	}
	ev := wantEvent(t, admin)
	if a := decodeList(t, &ev.Payload); a[0] != int64(aware.s.ID()) || a[1] != int64(id) {
		t.Fatalf("on_unsubscribe %v", a)
	}
	if _, ok := admin.recv().(*wamp.Result); !ok {
		t.Fatal("no RESULT")
	}
	// No more events for it, and its UNSUBSCRIBE now fails.
	admin.s.Receive(&wamp.Publish{Request: 1, Topic: "com.t"})
	wantEvent(t, unaware)
	aware.none()
	aware.s.Receive(&wamp.Unsubscribe{Request: 2, Subscription: id})
	wantError(t, aware, wamp.TypeUnsubscribe, 2, wamp.ErrNoSuchSubscription)

	// A subscriber that did not announce the feature is removed silently;
	// the reason may come as keyword argument.
	admin.s.Receive(&wamp.Call{Request: 8, Procedure: "wamp.subscription.remove_subscriber",
		Payload: wamp.Payload{Args: wamp.List{uint64(id), uint64(unaware.s.ID())}, Kwargs: wamp.Dict{"reason": "maintenance"}}})
	wantEvent(t, admin) // on_unsubscribe
	if _, ok := admin.recv().(*wamp.Result); !ok {
		t.Fatal("no RESULT")
	}
	unaware.none()
	admin.s.Receive(&wamp.Publish{Request: 1, Topic: "com.t"})
	unaware.none()
	admin.s.Receive(&wamp.Call{Request: 9, Procedure: "wamp.subscription.count_subscribers", Payload: wamp.Payload{Args: wamp.List{uint64(id)}}})
	wantError(t, admin, wamp.TypeCall, 9, wamp.ErrNoSuchSubscription)

	// Errors. A session that exists but is not subscribed is
	// no_such_subscription (it has no such subscription), as Crossbar.io
	// answers and as wamp.registration.remove_callee answers
	// no_such_registration for a session that is not a callee; only a
	// session that does not exist is no_such_session.
	other := subscribe(t, unaware, "com.other", nil)
	for _, tc := range []struct {
		args wamp.List
		err  wamp.URI
	}{
		{wamp.List{uint64(other), uint64(admin.s.ID())}, wamp.ErrNoSuchSubscription},
		{wamp.List{uint64(other), uint64(aware.s.ID())}, wamp.ErrNoSuchSubscription},
		{wamp.List{uint64(other), uint64(12345)}, wamp.ErrNoSuchSession},
		{wamp.List{uint64(999999), uint64(unaware.s.ID())}, wamp.ErrNoSuchSubscription},
		{wamp.List{uint64(other)}, wamp.ErrInvalidArgument},
		{wamp.List{"x", uint64(unaware.s.ID())}, wamp.ErrInvalidArgument},
		{wamp.List{uint64(other), uint64(unaware.s.ID()), 5}, wamp.ErrInvalidArgument},
	} {
		admin.s.Receive(&wamp.Call{Request: 10, Procedure: "wamp.subscription.remove_subscriber", Payload: wamp.Payload{Args: tc.args}})
		wantError(t, admin, wamp.TypeCall, 10, tc.err)
	}
}

func TestSubscriptionMetaAPI(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.CBOR)
	s1 := join(t, r, codec.JSON)
	s2 := join(t, r, codec.MsgPack)
	// One prefix subscription sees all four meta events.
	metaSub := subscribe(t, watcher, "wamp.subscription", wamp.Dict{"match": "prefix"})
	// Its own creation is reported to itself, after SUBSCRIBED.
	type metaEv struct {
		topic string
		args  wamp.List
	}
	next := func() metaEv {
		t.Helper()
		ev := wantEvent(t, watcher)
		if ev.Subscription != metaSub || ev.Details["publisher"] != nil {
			t.Fatalf("meta event %+v", ev)
		}
		return metaEv{ev.Details["topic"].(string), decodeList(t, &ev.Payload)}
	}
	if e := next(); e.topic != "wamp.subscription.on_create" || e.args[0] != int64(watcher.s.ID()) {
		t.Fatalf("%+v", e)
	}
	if e := next(); e.topic != "wamp.subscription.on_subscribe" || e.args[1] != int64(metaSub) {
		t.Fatalf("%+v", e)
	}

	id := subscribe(t, s1, "com.t", nil)
	e := next()
	if e.topic != "wamp.subscription.on_create" || e.args[0] != int64(s1.s.ID()) {
		t.Fatalf("%+v", e)
	}
	d := e.args[1].(map[string]any)
	if num(t, d["id"]) != int64(id) || d["uri"] != "com.t" || d["match"] != "exact" || !strings.HasSuffix(d["created"].(string), "Z") {
		t.Fatalf("SubscriptionDetails %v", d)
	}
	if e := next(); e.topic != "wamp.subscription.on_subscribe" || e.args[0] != int64(s1.s.ID()) || e.args[1] != int64(id) {
		t.Fatalf("%+v", e)
	}
	subscribe(t, s2, "com.t", nil)
	if e := next(); e.topic != "wamp.subscription.on_subscribe" || e.args[0] != int64(s2.s.ID()) {
		t.Fatalf("%+v", e)
	}
	subscribe(t, s2, "com.t", nil) // again: nothing changes
	wc := subscribe(t, s2, "com..x", wamp.Dict{"match": "wildcard"})
	next()
	next()
	watcher.none()

	// Procedures.
	lists := call(t, watcher, "wamp.subscription.list")
	l := decodeList(t, &lists.Payload)[0].(map[string]any)
	if !containsID(l["exact"], id) || !containsID(l["prefix"], metaSub) || !containsID(l["wildcard"], wc) || containsID(l["exact"], wc) {
		t.Fatalf("list %v", l)
	}
	for _, tc := range []struct {
		args wamp.List
		want any
	}{
		{wamp.List{"com.t"}, int64(id)},
		{wamp.List{"com.t", map[string]any{"match": "exact"}}, int64(id)},
		{wamp.List{"com.t", map[string]any{"match": "prefix"}}, nil},
		{wamp.List{"wamp.subscription", map[string]any{"match": "prefix"}}, int64(metaSub)},
		{wamp.List{"com..x", map[string]any{"match": "wildcard"}}, int64(wc)},
		{wamp.List{"com.nothing"}, nil},
	} {
		res := call(t, watcher, "wamp.subscription.lookup", tc.args...)
		if got := decodeList(t, &res.Payload)[0]; got != tc.want {
			t.Fatalf("lookup %v = %v, want %v", tc.args, got, tc.want)
		}
	}
	res := call(t, watcher, "wamp.subscription.match", "com.t")
	if got := decodeList(t, &res.Payload)[0]; !containsID(got, id) || len(got.([]any)) != 1 {
		t.Fatalf("match com.t = %v", got)
	}
	res = call(t, watcher, "wamp.subscription.match", "com.y.x")
	if got := decodeList(t, &res.Payload)[0]; !containsID(got, wc) {
		t.Fatalf("match com.y.x = %v", got)
	}
	res = call(t, watcher, "wamp.subscription.match", "org.none")
	if got := decodeList(t, &res.Payload)[0]; got != nil {
		t.Fatalf("match org.none = %v, want null", got)
	}
	res = call(t, watcher, "wamp.subscription.get", uint64(wc))
	if g := decodeList(t, &res.Payload)[0].(map[string]any); g["uri"] != "com..x" || g["match"] != "wildcard" || num(t, g["id"]) != int64(wc) {
		t.Fatalf("get %v", g)
	}
	res = call(t, watcher, "wamp.subscription.list_subscribers", uint64(id))
	if got := decodeList(t, &res.Payload)[0]; !containsID(got, s1.s.ID()) || !containsID(got, s2.s.ID()) || len(got.([]any)) != 2 {
		t.Fatalf("list_subscribers %v", got)
	}
	res = call(t, watcher, "wamp.subscription.count_subscribers", uint64(id))
	if got := decodeList(t, &res.Payload)[0]; got != int64(2) {
		t.Fatalf("count_subscribers %v", got)
	}
	for _, tc := range []struct {
		proc wamp.URI
		args wamp.List
		err  wamp.URI
	}{
		{"wamp.subscription.get", wamp.List{uint64(424242)}, wamp.ErrNoSuchSubscription},
		{"wamp.subscription.list_subscribers", wamp.List{uint64(424242)}, wamp.ErrNoSuchSubscription},
		{"wamp.subscription.count_subscribers", wamp.List{uint64(424242)}, wamp.ErrNoSuchSubscription},
		{"wamp.subscription.get", wamp.List{"1"}, wamp.ErrInvalidArgument},
		{"wamp.subscription.get", nil, wamp.ErrInvalidArgument},
		{"wamp.subscription.lookup", nil, wamp.ErrInvalidArgument},
		{"wamp.subscription.lookup", wamp.List{1}, wamp.ErrInvalidArgument},
		{"wamp.subscription.lookup", wamp.List{"com.t", "prefix"}, wamp.ErrInvalidArgument},
		{"wamp.subscription.lookup", wamp.List{"com.t", map[string]any{"match": "regex"}}, wamp.ErrInvalidArgument},
		{"wamp.subscription.match", wamp.List{true}, wamp.ErrInvalidArgument},
	} {
		watcher.s.Receive(&wamp.Call{Request: 11, Procedure: tc.proc, Payload: wamp.Payload{Args: tc.args}})
		wantError(t, watcher, wamp.TypeCall, 11, tc.err)
	}

	// Unsubscribe, leave: on_unsubscribe, then on_delete with the last one.
	s1.s.Receive(&wamp.Unsubscribe{Request: 12, Subscription: id})
	if _, ok := s1.recv().(*wamp.Unsubscribed); !ok {
		t.Fatal("no UNSUBSCRIBED")
	}
	if e := next(); e.topic != "wamp.subscription.on_unsubscribe" || e.args[0] != int64(s1.s.ID()) || e.args[1] != int64(id) {
		t.Fatalf("%+v", e)
	}
	watcher.none()
	s2.s.Detach()
	got := map[string]int{}
	var order []string
	for range 4 {
		e := next()
		got[fmt.Sprint(e.args[1])]++
		order = append(order, e.topic+fmt.Sprint(e.args[1]))
		if e.args[0] != int64(s2.s.ID()) {
			t.Fatalf("%+v", e)
		}
	}
	for _, sid := range []wamp.ID{id, wc} {
		u := slices.Index(order, "wamp.subscription.on_unsubscribe"+fmt.Sprint(sid))
		d := slices.Index(order, "wamp.subscription.on_delete"+fmt.Sprint(sid))
		if u < 0 || d < 0 || d < u {
			t.Fatalf("events when the last subscriber left: %v", order)
		}
	}
	watcher.none()
}

func containsID(l any, id wamp.ID) bool {
	ll, _ := l.([]any)
	for _, v := range ll {
		if n, ok := testInt(v); ok && n == int64(id) {
			return true
		}
	}
	return false
}

func TestMetaDisabled(t *testing.T) {
	r := newRouterWith(t, RealmConfig{DisableMetaAPI: true})
	p := join(t, r, codec.JSON)
	subscribe(t, p, "wamp.subscription.on_create", nil)
	subscribe(t, p, "com.t", nil)
	p.none()
	p.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.subscription.list"})
	wantError(t, p, wamp.TypeCall, 1, wamp.ErrNoSuchProcedure)
}

// TestMetaEventOrder subscribes, unsubscribes and leaves from many
// goroutines at once and checks each subscription's meta events: on_create
// first, on_delete last, and no on_subscribe or on_unsubscribe outside.
func TestMetaEventOrder(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.JSON)
	watcher.out = make(chan wamp.Message, 1<<16)
	own := subscribe(t, watcher, "wamp.subscription.", wamp.Dict{"match": "prefix"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sessions []wamp.ID
	for g := range 8 {
		wg.Go(func() {
			for i := range 30 {
				p := join(t, r, codec.JSON)
				mu.Lock()
				sessions = append(sessions, p.s.ID())
				mu.Unlock()
				topic := wamp.URI(fmt.Sprintf("com.t%d", (g+i)%3))
				p.s.Receive(&wamp.Subscribe{Request: 1, Topic: topic})
				sub := p.recv().(*wamp.Subscribed)
				if i%2 == 0 {
					p.s.Receive(&wamp.Unsubscribe{Request: 2, Subscription: sub.Subscription})
				}
				p.s.Detach()
			}
		})
	}
	wg.Wait()
	watcher.s.Detach()
	state := map[int64]string{} // subscription -> last event
	members := map[int64]int{}
	for len(watcher.out) > 0 {
		ev, ok := (<-watcher.out).(*wamp.Event)
		if !ok {
			continue
		}
		args := decodeList(t, &ev.Payload)
		topic := ev.Details["topic"].(string)
		var id int64
		if topic == "wamp.subscription.on_create" {
			id = num(t, args[1].(map[string]any)["id"])
		} else {
			id = args[1].(int64)
		}
		last := state[id]
		switch topic {
		case "wamp.subscription.on_create":
			if last != "" && last != "wamp.subscription.on_delete" {
				t.Fatalf("subscription %d: on_create after %s", id, last)
			}
		case "wamp.subscription.on_subscribe":
			members[id]++
			if last == "" || last == "wamp.subscription.on_delete" {
				t.Fatalf("subscription %d: on_subscribe after %q", id, last)
			}
		case "wamp.subscription.on_unsubscribe":
			members[id]--
			if last == "" || last == "wamp.subscription.on_delete" || members[id] < 0 {
				t.Fatalf("subscription %d: on_unsubscribe after %q", id, last)
			}
		case "wamp.subscription.on_delete":
			if last != "wamp.subscription.on_unsubscribe" || members[id] != 0 {
				t.Fatalf("subscription %d: on_delete after %q with %d members", id, last, members[id])
			}
		}
		state[id] = topic
	}
	for id, last := range state {
		if id != int64(own) && (last != "wamp.subscription.on_delete" || members[id] != 0) {
			t.Fatalf("subscription %d ended with %s and %d members", id, last, members[id])
		}
	}
	if len(state) < 3 {
		t.Fatalf("saw events of only %d subscriptions", len(state))
	}
}

func TestPublishBadOptions(t *testing.T) {
	r := newRouter(t, DropEvents)
	pub := join(t, r, codec.JSON)
	sub := join(t, r, codec.JSON)
	subscribe(t, sub, "com.t", nil)
	for _, tc := range []struct {
		key   string
		value any
		text  string
	}{
		{"exclude_me", "no", `option "exclude_me" must be a boolean, not a string`},
		{"disclose_me", 1, `option "disclose_me" must be a boolean`},
		{"retain", []any{}, `option "retain" must be a boolean, not a list`},
		{"exclude", uint64(5), `option "exclude" must be a list of session ids`},
		{"exclude", []any{"5"}, `element 0 must be a session id`},
		{"eligible", []any{uint64(1), int64(-1)}, `element 1 must be a session id`},
		{"eligible", []any{uint64(wamp.MaxID) + 1}, `element 0 must be a session id`},
		{"exclude_authid", "alice", `option "exclude_authid" must be a list of strings`},
		{"eligible_authid", []any{1}, `element 0 must be a string`},
		{"exclude_authrole", map[string]any{}, `must be a list of strings`},
		{"eligible_authrole", []any{nil}, `element 0 must be a string`},
		{"rkey", 7, `option "rkey" must be a string`},
		{"rkey", "", `option "rkey" must not be empty`},
		{"ppt_scheme", true, `option "ppt_scheme" must be a string`},
	} {
		t.Run(tc.key+fmt.Sprint(tc.value), func(t *testing.T) {
			pub.s.Receive(&wamp.Publish{Request: 4, Topic: "com.t", Options: wamp.Dict{"acknowledge": true, tc.key: tc.value}})
			e := wantError(t, pub, wamp.TypePublish, 4, wamp.ErrInvalidArgument)
			if msg := decodeList(t, &e.Payload)[0].(string); !strings.Contains(msg, tc.text) {
				t.Fatalf("message %q does not say %q", msg, tc.text)
			}
			pub.s.Receive(&wamp.Publish{Request: 5, Topic: "com.t", Options: wamp.Dict{tc.key: tc.value}})
			pub.none()
			sub.none()
			// The session goes on.
			pub.s.Receive(&wamp.Publish{Request: 6, Topic: "com.t", Options: wamp.Dict{"acknowledge": true}})
			pub.recv()
			wantEvent(t, sub)
		})
	}
	// acknowledge itself of the wrong type: no answer, no event.
	pub.s.Receive(&wamp.Publish{Request: 7, Topic: "com.t", Options: wamp.Dict{"acknowledge": "yes"}})
	pub.none()
	sub.none()
	// Unknown options are ignored (messages.md).
	pub.s.Receive(&wamp.Publish{Request: 8, Topic: "com.t", Options: wamp.Dict{"acknowledge": true, "x_custom": 1, "_vendor": "y"}})
	if _, ok := pub.recv().(*wamp.Published); !ok {
		t.Fatal("unknown option refused")
	}
	wantEvent(t, sub)
}

func TestSubscribeBadOptions(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	for _, tc := range []struct {
		opts wamp.Dict
		text string
	}{
		{wamp.Dict{"match": "regex"}, `option "match" is "regex"; it must be one of ["exact" "prefix" "wildcard"]`},
		{wamp.Dict{"match": 1}, `option "match" must be a string`},
		{wamp.Dict{"get_retained": "true"}, `option "get_retained" must be a boolean`},
		{wamp.Dict{"nkey": 3}, `option "nkey" must be a string`},
		{wamp.Dict{"nkey": ""}, `option "nkey" must not be empty`},
	} {
		p.s.Receive(&wamp.Subscribe{Request: 3, Topic: "com.t", Options: tc.opts})
		e := wantError(t, p, wamp.TypeSubscribe, 3, wamp.ErrInvalidArgument)
		if msg := decodeList(t, &e.Payload)[0].(string); !strings.Contains(msg, tc.text) {
			t.Fatalf("%v: message %q does not say %q", tc.opts, msg, tc.text)
		}
	}
	if subscribe(t, p, "com.t", wamp.Dict{"forward_for": []any{}, "get_retained": true}) == 0 {
		t.Fatal("no subscription")
	}
	p.none()
}

func TestPayloadPassthru(t *testing.T) {
	r := newRouter(t, DropEvents)
	ppt := []string{"payload_passthru_mode"}
	pub := joinWith(t, r, peerOpts{features: ppt})
	aware := joinWith(t, r, peerOpts{features: ppt})
	unaware := join(t, r, codec.JSON)
	subscribe(t, aware, "com.t", nil)
	subscribe(t, unaware, "com.t", nil)
	subscribe(t, aware, "com", wamp.Dict{"match": "prefix"})

	opts := wamp.Dict{"acknowledge": true, "disclose_me": true, "ppt_scheme": "mqtt", "ppt_serializer": "native", "ppt_cipher": "", "x": 1}
	pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.t", Options: opts, Payload: wamp.Payload{Args: wamp.List{[]byte{0, 1, 2}}}})
	pub.recv()
	for range 2 {
		ev := wantEvent(t, aware)
		if ev.Details["ppt_scheme"] != "mqtt" || ev.Details["ppt_serializer"] != "native" || ev.Details["ppt_cipher"] != nil ||
			ev.Details["publisher"] != int64(pub.s.ID()) {
			t.Fatalf("details %v", ev.Details)
		}
		if string(decodeList(t, &ev.Payload)[0].([]byte)) != "\x00\x01\x02" {
			t.Fatal("payload changed")
		}
	}
	unaware.none() // skipped: it could not interpret the payload

	// An empty ppt_scheme is no passthru.
	pub.s.Receive(&wamp.Publish{Request: 2, Topic: "com.t", Options: wamp.Dict{"ppt_scheme": ""}})
	wantEvent(t, unaware)
	wantEvent(t, aware)
	wantEvent(t, aware)
	// A publisher that did not announce the mode violates the protocol.
	unaware.s.Receive(&wamp.Publish{Request: 3, Topic: "com.t", Options: wamp.Dict{"ppt_scheme": "mqtt"}})
	wantAbort(t, unaware, wamp.ErrProtocolViolation)
	aware.none()
}

// TestPublishConcurrent publishes, subscribes to patterns and unsubscribes
// at once, for the race detector, and checks that a subscriber that stays
// gets every event of every subscription.
func TestPublishConcurrent(t *testing.T) {
	r := newRouter(t, DropEvents)
	stay := join(t, r, codec.JSON)
	const pubs, n = 4, 100
	stay.out = make(chan wamp.Message, 4*pubs*n)
	subscribe(t, stay, "com.c.t", nil)
	subscribe(t, stay, "com.c", wamp.Dict{"match": "prefix"})
	var wg sync.WaitGroup
	for range pubs {
		p := join(t, r, codec.JSON)
		wg.Go(func() {
			for i := range n {
				p.s.Receive(&wamp.Publish{Request: wamp.ID(i + 1), Topic: "com.c.t", Options: wamp.Dict{"exclude": []any{uint64(1)}}})
			}
		})
	}
	for range 2 {
		c := join(t, r, codec.JSON)
		c.out = make(chan wamp.Message, 10*pubs*n)
		wg.Go(func() {
			for i := range 50 {
				c.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com..t", Options: wamp.Dict{"match": "wildcard", "nkey": fmt.Sprint(i % 2)}})
				c.s.Receive(&wamp.Call{Request: 2, Procedure: "wamp.subscription.match", Payload: wamp.Payload{Args: wamp.List{"com.c.t"}}})
				for _, s := range c.s.subsSnapshot() {
					c.s.Receive(&wamp.Unsubscribe{Request: 3, Subscription: s})
				}
			}
		})
	}
	wg.Wait()
	if got := len(stay.out); got != 2*pubs*n {
		t.Fatalf("%d events, want %d", got, 2*pubs*n)
	}
}

func (s *Session) subsSnapshot() []wamp.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []wamp.ID
	for sub := range s.subs.all() {
		ids = append(ids, sub.id)
	}
	return ids
}

// TestPublishToReservedTopicRefused checks that a client cannot publish on
// a wamp.* topic: meta events come from the router alone, so that their
// subscribers may trust them as they trust the router (meta_api.md;
// building_blocks.md reserves the wamp component). Neither directly nor
// through a testament.
func TestPublishToReservedTopicRefused(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.JSON)
	subscribe(t, watcher, "wamp.", wamp.Dict{"match": "prefix"})
	wantEvent(t, watcher) // its own on_create
	wantEvent(t, watcher) // and on_subscribe
	p := join(t, r, codec.JSON)
	if ev := wantEvent(t, watcher); ev.Details["topic"] != string(topicSessionOnJoin) {
		t.Fatalf("want p's on_join, got %+v", ev)
	}
	forged := wamp.Payload{Args: wamp.List{uint64(424242), "admin", "admin"}}
	for i, topic := range []wamp.URI{topicSessionOnLeave, "wamp.subscription.on_delete", "wamp"} {
		req := wamp.ID(i + 1)
		p.s.Receive(&wamp.Publish{Request: req, Topic: topic, Options: wamp.Dict{"acknowledge": true}, Payload: forged})
		wantError(t, p, wamp.TypePublish, req, wamp.ErrInvalidURI)
		p.s.Receive(&wamp.Publish{Request: req, Topic: topic, Payload: forged})
	}
	callFails(t, p, 9, "wamp.session.add_testament", wamp.List{string(topicSessionOnLeave), wamp.List{uint64(424242), "admin", "admin"}}, nil, wamp.ErrInvalidURI)
	p.none()
	watcher.none()
	// An application topic that merely starts with the letters is not reserved.
	p.s.Receive(&wamp.Publish{Request: 10, Topic: "wampum.x", Options: wamp.Dict{"acknowledge": true}})
	if _, ok := p.recv().(*wamp.Published); !ok {
		t.Fatal("wampum.x refused")
	}
}

// TestOnLeaveAfterSubscriptionEvents checks that a session's on_leave
// follows the meta events of its subscriptions' and registrations' end
// (on_unsubscribe, on_unregister, on_delete), even when the session ends
// while another goroutine is publishing meta events: here the very one
// that drops it as a slow consumer of a meta event, which then publishes
// the queued events, be they subscription or registration ones.
func TestOnLeaveAfterSubscriptionEvents(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topic wamp.URI // what the slow session subscribes to
		act   func(p *pipe)
	}{
		{"subscription event", "wamp.subscription.on_subscribe", func(p *pipe) { subscribe(t, p, "com.t", nil) }},
		{"registration event", "wamp.registration.on_register", func(p *pipe) {
			p.s.Receive(&wamp.Register{Request: 1, Procedure: "com.p"})
			if _, ok := p.recv().(*wamp.Registered); !ok {
				t.Fatal("no REGISTERED")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(t, Disconnect)
			watcher := join(t, r, codec.JSON)
			subscribe(t, watcher, "wamp.", wamp.Dict{"match": "prefix"})
			wantEvent(t, watcher) // on_create
			wantEvent(t, watcher) // on_subscribe
			slow := join(t, r, codec.JSON)
			wantEvent(t, watcher) // on_join
			subscribe(t, slow, tc.topic, nil)
			slow.s.Receive(&wamp.Register{Request: 2, Procedure: "com.slow"})
			slow.recv()
			for range 4 { // on_create, on_subscribe, on_create, on_register
				wantEvent(t, watcher)
			}
			for len(slow.out) > 0 {
				<-slow.out // its own on_subscribe
			}
			slow.mu.Lock()
			slow.full = true
			slow.mu.Unlock()

			p := join(t, r, codec.JSON)
			wantEvent(t, watcher) // on_join
			// Its meta event does not fit in slow's queue.
			tc.act(p)
			var got []string
			for len(got) == 0 || got[len(got)-1] != string(topicSessionOnLeave) {
				ev := wantEvent(t, watcher)
				args := decodeList(t, &ev.Payload)
				if topic := ev.Details["topic"].(string); !strings.HasSuffix(topic, ".on_create") && args[0] == int64(slow.s.ID()) {
					got = append(got, topic)
				}
			}
			if slices.Index(got, string(topicSessionOnLeave)) != 4 {
				t.Fatalf("the slow session's meta events: %v; want on_leave after its 2 on_unsubscribe/on_unregister and on_delete", got)
			}
		})
	}
}
