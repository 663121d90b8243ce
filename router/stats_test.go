package router

import (
	"errors"
	"fmt"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func TestMessageSlots(t *testing.T) {
	if len(slotType) != numSlots {
		t.Fatalf("numSlots is %d, the known message types need %d", numSlots, len(slotType))
	}
	for i, typ := range slotType[1:] {
		if msgSlot[typ] != uint8(i+1) {
			t.Fatalf("%s has slot %d, want %d", typ, msgSlot[typ], i+1)
		}
	}
}

// TestStatsMessages counts what a call and a publication receive and send,
// and the counts add up across the loops the sessions are read by.
func TestStatsMessages(t *testing.T) {
	r := newRouter(t, DropEvents)
	var peers []*pipe
	for loop := range 5 {
		p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 1024)}
		p.s = r.Attach(p, TransportInfo{Kind: "test", Serializer: "json", Loop: loop * 7})
		t.Cleanup(p.s.Detach)
		p.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
		expectType[*wamp.Welcome](t, p)
		peers = append(peers, p)
	}
	callee, caller, pub := peers[0], peers[1], peers[2]
	callee.s.Receive(&wamp.Register{Request: 1, Procedure: "com.stats.echo"})
	expectType[*wamp.Registered](t, callee)
	for _, p := range peers[2:] {
		p.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.stats.topic"})
		expectType[*wamp.Subscribed](t, p)
	}
	for i := range 3 {
		caller.s.Receive(&wamp.Call{Request: wamp.ID(i + 1), Procedure: "com.stats.echo"})
		inv := expectType[*wamp.Invocation](t, callee)
		callee.s.Receive(&wamp.Yield{Request: inv.Request})
		expectType[*wamp.Result](t, caller)
	}
	pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.stats.topic", Options: wamp.Dict{"acknowledge": true, "exclude_me": false}})
	for _, p := range peers[2:] {
		expectType[*wamp.Event](t, p)
	}
	expectType[*wamp.Published](t, pub)

	st := r.Stats()
	for typ, want := range map[wamp.MessageType]uint64{
		wamp.TypeHello: 5, wamp.TypeRegister: 1, wamp.TypeSubscribe: 3, wamp.TypeCall: 3, wamp.TypeYield: 3, wamp.TypePublish: 1,
		wamp.TypeEvent: 0, wamp.TypeGoodbye: 0,
	} {
		if got := st.Received[typ]; got != want {
			t.Errorf("received %s: %d, want %d", typ, got, want)
		}
	}
	for typ, want := range map[wamp.MessageType]uint64{
		wamp.TypeWelcome: 5, wamp.TypeRegistered: 1, wamp.TypeSubscribed: 3, wamp.TypeInvocation: 3, wamp.TypeResult: 3,
		wamp.TypePublished: 1, wamp.TypeEvent: 3, wamp.TypeCall: 0,
	} {
		if got := st.Sent[typ]; got != want {
			t.Errorf("sent %s: %d, want %d", typ, got, want)
		}
	}
	if len(st.Received) != numSlots-1 || len(st.Sent) != numSlots-1 {
		t.Errorf("%d received and %d sent types, want every known type", len(st.Received), len(st.Sent))
	}
}

func expectType[M wamp.Message](t *testing.T, p *pipe) M {
	t.Helper()
	m := p.recv()
	got, ok := m.(M)
	if !ok {
		t.Fatalf("got %s %+v, want %T", m.Type(), m, got)
	}
	return got
}

// TestStatsCalls counts calls in flight, timeouts, cancels and the
// durations of the sampled calls.
func TestStatsCalls(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee, caller := join(t, r, codec.JSON), join(t, r, codec.JSON)
	callee.s.Receive(&wamp.Register{Request: 1, Procedure: "com.stats.slow"})
	expectType[*wamp.Registered](t, callee)

	for i := range CallSampling {
		caller.s.Receive(&wamp.Call{Request: wamp.ID(100 + i), Procedure: "com.stats.slow"})
		inv := expectType[*wamp.Invocation](t, callee)
		callee.s.Receive(&wamp.Yield{Request: inv.Request})
		expectType[*wamp.Result](t, caller)
	}
	if h := r.Stats().CallDurations; h.Count != 1 || h.Sum <= 0 {
		t.Fatalf("after %d calls, %d timed (sum %v), want 1", CallSampling, h.Count, h.Sum)
	}

	caller.s.Receive(&wamp.Call{Request: 1, Procedure: "com.stats.slow"})
	expectType[*wamp.Invocation](t, callee)
	caller.s.Receive(&wamp.Call{Request: 2, Procedure: "com.stats.slow"})
	expectType[*wamp.Invocation](t, callee)
	if st := realmStats(t, r, "realm1"); st.CallsInFlight != 2 {
		t.Fatalf("calls in flight %d, want 2", st.CallsInFlight)
	}
	caller.s.Receive(&wamp.Cancel{Request: 1, Options: wamp.Dict{"mode": "skip"}})
	wantError(t, caller, wamp.TypeCall, 1, wamp.ErrCanceled)
	caller.s.Receive(&wamp.Call{Request: 3, Procedure: "com.stats.slow", Options: wamp.Dict{"timeout": 1}})
	expectType[*wamp.Invocation](t, callee)
	wantError(t, caller, wamp.TypeCall, 3, wamp.ErrTimeout)
	st := r.Stats()
	if st.CallCancels != 1 || st.CallTimeouts != 1 {
		t.Fatalf("cancels %d, timeouts %d, want 1 and 1", st.CallCancels, st.CallTimeouts)
	}
	if rs := realmStats(t, r, "realm1"); rs.CallsInFlight != 1 {
		t.Fatalf("calls in flight %d, want 1", rs.CallsInFlight)
	}
}

func realmStats(t *testing.T, r *Router, name wamp.URI) RealmStats {
	t.Helper()
	for _, st := range r.RealmStats() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no realm %s in RealmStats", name)
	return RealmStats{}
}

// TestRealmStats reads what the realms hold, realms made from the template
// included, which Realms lists too.
func TestRealmStats(t *testing.T) {
	tmpl := RealmConfig{Anonymous: true}
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}, RealmTemplate: &tmpl})
	if err != nil {
		t.Fatal(err)
	}
	a, b := join(t, r, codec.JSON), join(t, r, codec.CBOR)
	a.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.x"})
	b.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.x"})
	b.s.Receive(&wamp.Subscribe{Request: 2, Topic: "com", Options: wamp.Dict{"match": "prefix"}})
	a.s.Receive(&wamp.Register{Request: 3, Procedure: "com.p"})
	other := attachPipe(t, r, codec.JSON)
	other.s.Receive(&wamp.Hello{Realm: "com.made.later", Details: allRoles})
	expectType[*wamp.Welcome](t, other)

	if got := fmt.Sprint(r.Realms()); got != "[realm1 com.made.later]" {
		t.Fatalf("Realms() = %s", got)
	}
	all := r.RealmStats()
	want := []RealmStats{
		{Name: "realm1", Sessions: 2, Subscriptions: 2, Registrations: 1},
		{Name: "com.made.later", Sessions: 1, FromTemplate: true},
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("RealmStats() = %+v, want %+v", all, want)
	}
	subs, total := r.Subscriptions("realm1", 1)
	if total != 2 || len(subs) != 1 || subs[0].Topic != "com.x" || subs[0].Subscribers != 2 || subs[0].Match != "exact" {
		t.Fatalf("Subscriptions = %+v, %d", subs, total)
	}
	regs, total := r.Registrations("realm1", 10)
	if total != 1 || len(regs) != 1 || regs[0].Procedure != "com.p" || regs[0].Callees != 1 || regs[0].Invoke != "single" {
		t.Fatalf("Registrations = %+v, %d", regs, total)
	}

	b.s.Receive(&wamp.Goodbye{Reason: wamp.CloseNormal})
	if st := realmStats(t, r, "realm1"); st.Sessions != 1 || st.Subscriptions != 1 {
		t.Fatalf("after one left: %+v", st)
	}
}

// TestSessionsQuery looks sessions up by id, authid, authrole and address,
// the newest first, and kills one.
func TestSessionsQuery(t *testing.T) {
	r := newRouter(t, DropEvents)
	var peers []*pipe
	for i := range 4 {
		p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
		p.s = r.Attach(p, TransportInfo{Kind: "websocket", Serializer: "json", RemoteAddr: fmt.Sprintf("10.0.0.%d:5000", i)})
		t.Cleanup(p.s.Detach)
		p.s.Receive(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"authid": fmt.Sprintf("device-%d", i), "roles": wamp.Dict{"subscriber": wamp.Dict{}}}})
		expectType[*wamp.Welcome](t, p)
		peers = append(peers, p)
	}
	list, n := r.Sessions(SessionQuery{Limit: 2})
	if n != 4 || len(list) != 2 || list[0].Since.Before(list[1].Since) {
		t.Fatalf("Sessions(limit 2) = %+v, %d", list, n)
	}
	for _, s := range list {
		if s.Realm != "realm1" || s.AuthRole != "anonymous" || s.AuthMethod != "anonymous" || s.Transport != "websocket" || s.Serializer != "json" || s.Since.IsZero() {
			t.Fatalf("session %+v", s)
		}
	}
	list, n = r.Sessions(SessionQuery{Search: "DEVICE-2", Limit: 10})
	if n != 1 || list[0].AuthID != "device-2" || list[0].Address != "10.0.0.2:5000" {
		t.Fatalf("search by authid: %+v, %d", list, n)
	}
	list, n = r.Sessions(SessionQuery{Search: fmt.Sprint(uint64(peers[1].s.ID())), Limit: 10})
	if n != 1 || list[0].ID != peers[1].s.ID() {
		t.Fatalf("search by id: %+v, %d", list, n)
	}
	if _, n := r.Sessions(SessionQuery{Realm: "strict", Limit: 10}); n != 0 {
		t.Fatalf("sessions in realm strict: %d", n)
	}

	if err := r.KillSession("realm1", peers[1].s.ID(), "", "maintenance"); err != nil {
		t.Fatal(err)
	}
	g := expectType[*wamp.Goodbye](t, peers[1])
	if g.Reason != wamp.CloseKilled || g.Details["message"] != "maintenance" {
		t.Fatalf("GOODBYE %+v", g)
	}
	if _, n := r.Sessions(SessionQuery{Limit: 10}); n != 3 {
		t.Fatalf("after the kill, %d sessions", n)
	}
	if err := r.KillSession("realm1", peers[1].s.ID(), "", ""); !errors.Is(err, ErrNoSuchSession) {
		t.Fatalf("killing it again: %v", err)
	}
	if err := r.KillSession("realm1", 12345, "", ""); !errors.Is(err, ErrNoSuchSession) {
		t.Fatalf("killing no session: %v", err)
	}
}

// TestStatsAuthAndSlowConsumers counts anonymous logins, refusals and a
// slow consumer, which is remembered.
func TestStatsAuthAndSlowConsumers(t *testing.T) {
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}, {Name: "closed"}}})
	if err != nil {
		t.Fatal(err)
	}
	p := join(t, r, codec.JSON)
	refused := attachPipe(t, r, codec.JSON)
	refused.s.Receive(&wamp.Hello{Realm: "closed", Details: allRoles})
	wantAbort(t, refused, wamp.ErrNotAuthorized)
	got := fmt.Sprint(r.Stats().Authentications)
	if got != "[{anonymous failure 1} {anonymous success 1}]" {
		t.Fatalf("Authentications = %s", got)
	}

	p.mu.Lock()
	p.full = true
	p.mu.Unlock()
	p.s.Receive(&wamp.Call{Request: 1, Procedure: "com.nobody"}) // its ERROR does not fit
	st := r.Stats()
	if st.SlowConsumers != 1 || len(st.RecentSlowConsumers) != 1 {
		t.Fatalf("slow consumers %d, recent %+v", st.SlowConsumers, st.RecentSlowConsumers)
	}
	if sc := st.RecentSlowConsumers[0]; sc.Session != p.s.ID() || sc.Realm != "realm1" || sc.Message != wamp.TypeError {
		t.Fatalf("recent slow consumer %+v", sc)
	}
}
