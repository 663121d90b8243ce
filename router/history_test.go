package router

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/lograte"
	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

var historyRules = []HistoryRule{
	{Match: wamp.MatchPrefix, Topic: "com.hist", Limit: 100},
	{Match: wamp.MatchExact, Topic: "com.hist.small", Limit: 2},
}

// newHistoryRouter is a router whose realm1 keeps history for rules in the
// file at path.
func newHistoryRouter(t *testing.T, path string, rules ...HistoryRule) *Router {
	t.Helper()
	r, err := New(Config{
		Realms:      []RealmConfig{{Name: "realm1", Anonymous: true, History: rules}, {Name: "plain", Anonymous: true}},
		HistoryPath: path,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rawPublish decodes a JSON PUBLISH, so that its payload is raw and points
// into the returned buffer, as it does in a transport's read buffer.
func rawPublish(t *testing.T, opts, topic, args, kwargs string) (*wamp.Publish, []byte) {
	t.Helper()
	buf := fmt.Appendf(nil, `[16,1,%s,%q,%s,%s]`, opts, topic, args, kwargs)
	m, err := codec.JSON.Decode(buf)
	if err != nil {
		t.Fatalf("%s: %v", buf, err)
	}
	return m.(*wamp.Publish), buf
}

// record hands a publication to the realm as the broker does, then
// overwrites the buffer it was read from.
func record(t *testing.T, p *pipe, opts, topic, args string, pub wamp.ID, details wamp.Dict) {
	t.Helper()
	m, buf := rawPublish(t, opts, topic, args, `{"pub":`+fmt.Sprint(pub)+`}`)
	retain := wamp.Bool(m.Options, "retain", false)
	p.s.realm.recordPublication(p.s, m, pub, details, retain, false)
	for i := range buf {
		buf[i] = 'x' // the transport reuses its buffer
	}
}

func TestHistoryConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no path", Config{Realms: []RealmConfig{{Name: "r", History: historyRules}}}, "HistoryPath is empty"},
		{"zero limit", Config{HistoryPath: filepath.Join(dir, "a.db"), Realms: []RealmConfig{{Name: "r",
			History: []HistoryRule{{Match: wamp.MatchExact, Topic: "a.b", Limit: 0}}}}}, "limit 0 must be positive"},
		{"bad pattern", Config{HistoryPath: filepath.Join(dir, "b.db"), Realms: []RealmConfig{{Name: "r",
			History: []HistoryRule{{Match: wamp.MatchExact, Topic: "a..b", Limit: 5}}}}}, `"a..b": not a valid exact pattern`},
		{"strict realm", Config{HistoryPath: filepath.Join(dir, "c.db"), Realms: []RealmConfig{{Name: "r", StrictURIs: true,
			History: []HistoryRule{{Match: wamp.MatchPrefix, Topic: "A.b", Limit: 5}}}}}, "not a valid prefix pattern"},
		{"twice", Config{HistoryPath: filepath.Join(dir, "d.db"), Realms: []RealmConfig{{Name: "r",
			History: []HistoryRule{{Match: wamp.MatchExact, Topic: "a.b", Limit: 5}, {Match: wamp.MatchExact, Topic: "a.b", Limit: 6}}}}}, "given twice"},
		{"negative max bytes", Config{HistoryPath: filepath.Join(dir, "e.db"), Realms: []RealmConfig{{Name: "r",
			History: []HistoryRule{{Match: wamp.MatchExact, Topic: "a.b", Limit: 5, MaxBytes: -1}}}}}, "max bytes -1 must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if err == nil {
				r.Close()
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
	// Without rules there is no file, and Close has nothing to do.
	r, err := New(Config{Realms: []RealmConfig{{Name: "r"}}})
	if err != nil || r.Close() != nil {
		t.Fatalf("router without history: %v", err)
	}
}

func TestRetention(t *testing.T) {
	r := newRouter(t, DropEvents) // retention needs no history store
	p := join(t, r, codec.JSON)
	rl := p.s.realm
	record(t, p, `{"retain":true}`, "com.a", `[1]`, 101, wamp.Dict{"publisher": uint64(7)})
	record(t, p, `{}`, "com.a", `[2]`, 102, nil) // not retained: 101 stays
	record(t, p, `{"retain":true}`, "com.b", `[3]`, 103, nil)
	record(t, p, `{"retain":true}`, "com.b", `[4]`, 104, nil) // replaces 103
	record(t, p, `{"retain":true,"eligible_authrole":["admin"]}`, "com.b", `[5]`, 105, nil)
	record(t, p, `{"retain":true,"exclude":[12345]}`, "com.b", `[6]`, 106, nil)
	record(t, p, `{"retain":true}`, "org.c", `[7]`, 107, nil)
	record(t, p, `{"retain":true}`, "com.a.d", `[8]`, 108, nil)

	got := rl.retainedEvents(wamp.MatchExact, "com.a")
	if len(got) != 1 {
		t.Fatalf("exact com.a: %d retained events", len(got))
	}
	ev := got[0]
	if ev.topic != "com.a" || ev.publication != 101 ||
		!reflect.DeepEqual(ev.details, wamp.Dict{"publisher": uint64(7), "retained": true}) {
		t.Fatalf("retained %+v", ev)
	}
	if l := decodeList(t, &ev.payload); !reflect.DeepEqual(l, wamp.List{int64(1)}) {
		t.Fatalf("retained payload %v, want [1] (copied out of the reused buffer)", l)
	}
	ev.details["topic"] = "com.a" // the broker may extend what it got
	if d := rl.retainedEvents(wamp.MatchExact, "com.a")[0].details; len(d) != 2 {
		t.Fatalf("a caller's change to details reached the retained event: %v", d)
	}

	for _, tc := range []struct {
		m       wamp.Match
		pattern wamp.URI
		want    []wamp.ID
	}{
		{wamp.MatchExact, "com.b", []wamp.ID{104}},
		{wamp.MatchExact, "com.none", nil},
		{wamp.MatchPrefix, "com", []wamp.ID{101, 104, 108}},
		{wamp.MatchPrefix, "com.a", []wamp.ID{101, 108}},
		{wamp.MatchWildcard, ".b", []wamp.ID{104}},
		{wamp.MatchWildcard, "com..d", []wamp.ID{108}},
	} {
		var ids []wamp.ID
		for _, e := range rl.retainedEvents(tc.m, tc.pattern) {
			ids = append(ids, e.publication)
			if e.details["retained"] != true {
				t.Errorf("%s %s: publication %d without retained=true", tc.m, tc.pattern, e.publication)
			}
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("%s %s: retained %v, want %v", tc.m, tc.pattern, ids, tc.want)
		}
	}
}

// callGetEvents calls wamp.subscription.get_events and returns the RESULT's arguments, or the
// ERROR.
func callGetEvents(t *testing.T, p *pipe, args wamp.List, kwargs wamp.Dict) (wamp.List, *wamp.Error) {
	t.Helper()
	p.s.Receive(&wamp.Call{Request: 9, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: args, Kwargs: kwargs}})
	switch m := p.recv().(type) {
	case *wamp.Result:
		l, _, err := codec.DecodePayload(&m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		return l, nil
	case *wamp.Error:
		return nil, m
	default:
		t.Fatalf("want RESULT or ERROR, got %+v", m)
		return nil, nil
	}
}

func getEvents(t *testing.T, p *pipe, sub wamp.ID, kwargs wamp.Dict) []wamp.Dict {
	t.Helper()
	l, e := callGetEvents(t, p, wamp.List{uint64(sub)}, kwargs)
	if e != nil {
		t.Fatalf("get_events(%d, %v): %s %v", sub, kwargs, e.Error, e.Args)
	}
	list := l[0].([]any)
	out := make([]wamp.Dict, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}

func publications(evs []wamp.Dict) []int64 {
	ids := []int64{}
	for _, e := range evs {
		ids = append(ids, e["publication"].(int64))
	}
	return ids
}

func TestGetEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	r := newHistoryRouter(t, path, historyRules...)
	p := join(t, r, codec.JSON)
	before := time.Now().Truncate(time.Millisecond)
	record(t, p, `{}`, "com.hist.a", `[1,"one"]`, 11, wamp.Dict{"publisher": uint64(5), "trustlevel": 1})
	record(t, p, `{}`, "com.hist.b", `[2]`, 12, nil)
	record(t, p, `{}`, "com.hist.a", `[3]`, 13, nil)
	record(t, p, `{"eligible_authid":["someone-else"]}`, "com.hist.a", `[4]`, 14, nil) // not for this caller
	record(t, p, `{"exclude":[999]}`, "com.hist.a", `[5]`, 15, nil)                    // by session: not kept
	record(t, p, `{"eligible":[]}`, "com.hist.a", `[6]`, 16, nil)                      // by session: not kept
	for i := range 3 {
		record(t, p, `{}`, "com.hist.small", `[]`, wamp.ID(20+i), nil) // limit 2
	}
	record(t, p, `{}`, "com.other", `[9]`, 30, nil) // no rule

	subA := subscribe(t, p, "com.hist.a", nil)
	evs := getEvents(t, p, subA, nil)
	if got := publications(evs); !reflect.DeepEqual(got, []int64{11, 13}) {
		t.Fatalf("history of com.hist.a: %v, want [11 13]", got)
	}
	e := evs[0]
	ts, err := time.Parse(time.RFC3339, e["timestamp"].(string))
	if err != nil || ts.Before(before) || ts.After(time.Now()) || !strings.HasSuffix(e["timestamp"].(string), "Z") {
		t.Errorf("timestamp %v (%v), want an RFC 3339 time in UTC since %v", e["timestamp"], err, before)
	}
	if e["subscription"] != int64(subA) ||
		!reflect.DeepEqual(e["details"], map[string]any{"publisher": int64(5), "trustlevel": int64(1)}) ||
		!reflect.DeepEqual(e["args"], []any{int64(1), "one"}) ||
		!reflect.DeepEqual(e["kwargs"], map[string]any{"pub": int64(11)}) {
		t.Errorf("event %v", e)
	}
	if d := evs[1]["details"]; !reflect.DeepEqual(d, map[string]any{}) {
		t.Errorf("event without details: details %v, want {}", d)
	}

	// The options reach the store (their semantics are tested there).
	for _, tc := range []struct {
		kw   wamp.Dict
		want []int64
	}{
		{wamp.Dict{"reverse": true}, []int64{13, 11}},
		{wamp.Dict{"limit": 1}, []int64{11}},
		{wamp.Dict{"reverse": true, "limit": 1}, []int64{13}},
		{wamp.Dict{"after_publication": 11}, []int64{13}},
		{wamp.Dict{"before_publication": 13}, []int64{11}},
		{wamp.Dict{"from_publication": 13, "until_publication": 13}, []int64{13}},
		{wamp.Dict{"from_time": before.Format(time.RFC3339Nano)}, []int64{11, 13}},
		{wamp.Dict{"before_time": before.Format(time.RFC3339Nano)}, []int64{}},
		{wamp.Dict{"after_time": "2000-01-01T00:00:00Z", "until_time": "2999-01-01T00:00:00.5+02:00"}, []int64{11, 13}},
		{wamp.Dict{"topic": "com.hist.a"}, []int64{11, 13}},
		{wamp.Dict{"topic": "com.hist.b"}, []int64{}},
	} {
		if got := publications(getEvents(t, p, subA, tc.kw)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("options %v: %v, want %v", tc.kw, got, tc.want)
		}
	}

	subSmall := subscribe(t, p, "com.hist.small", nil)
	if got := publications(getEvents(t, p, subSmall, nil)); !reflect.DeepEqual(got, []int64{21, 22}) {
		t.Errorf("com.hist.small (limit 2): %v", got)
	}

	for _, tc := range []struct {
		name   string
		args   wamp.List
		kw     wamp.Dict
		uri    wamp.URI
		saying string
	}{
		{"no argument", nil, nil, wamp.ErrInvalidArgument, "subscription id as argument 1"},
		{"not an id", wamp.List{"x"}, nil, wamp.ErrInvalidArgument, "must be a subscription id"},
		{"no such subscription", wamp.List{uint64(subA) + 1000}, nil, wamp.ErrNoSuchSubscription, "no subscription"},
		{"zero limit", wamp.List{uint64(subA)}, wamp.Dict{"limit": 0}, wamp.ErrInvalidArgument, `"limit" must be a positive integer`},
		{"negative limit", wamp.List{uint64(subA)}, wamp.Dict{"limit": -3}, wamp.ErrInvalidArgument, `"limit" must be a non-negative integer`},
		{"reverse not bool", wamp.List{uint64(subA)}, wamp.Dict{"reverse": "yes"}, wamp.ErrInvalidArgument, `"reverse"`},
		{"bad time", wamp.List{uint64(subA)}, wamp.Dict{"from_time": "yesterday"}, wamp.ErrInvalidArgument, `"from_time": "yesterday" is not an RFC 3339 timestamp`},
		{"time not string", wamp.List{uint64(subA)}, wamp.Dict{"until_time": 5}, wamp.ErrInvalidArgument, `"until_time"`},
		{"bad topic", wamp.List{uint64(subA)}, wamp.Dict{"topic": "a..b"}, wamp.ErrInvalidArgument, `"a..b" is not a valid URI`},
		{"zero publication", wamp.List{uint64(subA)}, wamp.Dict{"after_publication": 0}, wamp.ErrInvalidArgument, "must be a publication id"},
		{"unknown publication", wamp.List{uint64(subA)}, wamp.Dict{"after_publication": 12}, wamp.ErrInvalidArgument, "publication 12 is not in the subscription's history"},
		{"unknown option", wamp.List{uint64(subA)}, wamp.Dict{"count": 3}, wamp.ErrInvalidArgument, `unknown option "count"`},
		{"no history", wamp.List{uint64(subscribe(t, p, "com.other", nil))}, nil, wamp.ErrHistoryUnavailable, "no history rule of realm realm1 covers its topics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := callGetEvents(t, p, tc.args, tc.kw)
			if e == nil || e.Error != tc.uri {
				t.Fatalf("want ERROR %s, got %+v", tc.uri, e)
			}
			args, _, err := codec.DecodePayload(&e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if msg := fmt.Sprint(args); !strings.Contains(msg, tc.saying) {
				t.Fatalf("message %s does not say %q", msg, tc.saying)
			}
		})
	}

	// A realm without rules.
	q := attachPipe(t, r, codec.CBOR)
	q.s.Receive(&wamp.Hello{Realm: "plain", Details: allRoles})
	q.recv()
	if _, e := callGetEvents(t, q, wamp.List{uint64(subscribe(t, q, "com.hist.a", nil))}, nil); e == nil || e.Error != wamp.ErrHistoryUnavailable {
		t.Fatalf("realm without rules: %+v", e)
	}

	// After a restart, with a new subscription id.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = newHistoryRouter(t, path, historyRules...)
	p = join(t, r, codec.MsgPack)
	subA2 := subscribe(t, p, "com.hist.a", nil)
	evs = getEvents(t, p, subA2, nil)
	if got := publications(evs); !reflect.DeepEqual(got, []int64{11, 13}) {
		t.Fatalf("after a restart: %v, want [11 13]", got)
	}
	if evs[0]["subscription"] != int64(subA2) || !reflect.DeepEqual(evs[0]["args"], []any{int64(1), "one"}) {
		t.Fatalf("after a restart: %v", evs[0])
	}
}

// Publications after Close are delivered but not kept, and not counted as
// drops.
func TestRecordAfterClose(t *testing.T) {
	r := newHistoryRouter(t, filepath.Join(t.TempDir(), "h.db"), historyRules...)
	p := join(t, r, codec.JSON)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	record(t, p, `{}`, "com.hist.a", `[1]`, 1, nil)
	sub := subscribe(t, p, "com.hist.a", nil)
	if _, e := callGetEvents(t, p, wamp.List{uint64(sub)}, nil); e == nil || e.Error != wamp.ErrHistoryUnavailable {
		t.Fatalf("get_events after Close: %+v", e)
	}
	if st := r.HistoryStats(); st.Appended != 0 || st.Dropped != 0 {
		t.Fatalf("stats after Close: %+v", st)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Through the broker: PUBLISH with retain and SUBSCRIBE with get_retained
// work end to end, and PUBLISH reaches the history.
func TestRetentionAndHistoryThroughBroker(t *testing.T) {
	r := newHistoryRouter(t, filepath.Join(t.TempDir(), "h.db"), historyRules...)
	pub := join(t, r, codec.JSON)
	pub.s.Receive(&wamp.Publish{Request: 1, Topic: "com.hist.x", Options: wamp.Dict{"retain": true, "acknowledge": true},
		Payload: wamp.Payload{Args: wamp.List{"kept"}}})
	ack := pub.recv().(*wamp.Published)

	sub := join(t, r, codec.CBOR)
	sub.s.Receive(&wamp.Subscribe{Request: 2, Topic: "com.hist.x", Options: wamp.Dict{"get_retained": true}})
	subID := sub.recv().(*wamp.Subscribed).Subscription
	ev, ok := sub.recv().(*wamp.Event)
	if !ok || ev.Subscription != subID || ev.Publication != ack.Publication || ev.Details["retained"] != true {
		t.Fatalf("want the retained EVENT, got %+v", ev)
	}
	if l := decodeList(t, &ev.Payload); !reflect.DeepEqual(l, wamp.List{"kept"}) {
		t.Fatalf("retained payload %v", l)
	}
	// Without get_retained: nothing.
	late := join(t, r, codec.JSON)
	late.s.Receive(&wamp.Subscribe{Request: 3, Topic: "com.hist.x"})
	late.recv()
	late.none()

	evs := getEvents(t, sub, subID, nil)
	if got := publications(evs); !reflect.DeepEqual(got, []int64{int64(ack.Publication)}) {
		t.Fatalf("history %v, want [%d]", got, ack.Publication)
	}
}

func TestHistoryStats(t *testing.T) {
	r := newHistoryRouter(t, filepath.Join(t.TempDir(), "h.db"), historyRules...)
	p := join(t, r, codec.JSON)
	record(t, p, `{}`, "com.hist.a", `[1]`, 1, nil)
	record(t, p, `{}`, "com.other", `[2]`, 2, nil)                // no rule
	record(t, p, `{"exclude":[42]}`, "com.hist.a", `[3]`, 3, nil) // by session
	if st := r.HistoryStats(); st.Appended != 1 || st.Dropped != 0 || st.Lost != 0 || st.Queued > 1 {
		t.Fatalf("stats %+v, want 1 appended", st)
	}
}

// A pattern-based subscription's events name their topic, as its EVENTs do.
func TestHistoryEventTopic(t *testing.T) {
	ev := &history.Event{Topic: "com.a.b", Publication: 3, Time: time.Date(2025, 3, 1, 12, 0, 0, 7e6, time.FixedZone("x", 3600))}
	for _, tc := range []struct {
		m    wamp.Match
		want wamp.Dict
	}{
		{wamp.MatchExact, wamp.Dict{}},
		{wamp.MatchPrefix, wamp.Dict{"topic": "com.a.b"}},
	} {
		d, err := historyEvent(ev, 9, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d["details"], tc.want) || d["timestamp"] != "2025-03-01T11:00:00.007Z" {
			t.Errorf("%s subscription: %v", tc.m, d)
		}
		if _, ok := d["args"]; ok {
			t.Errorf("event without arguments has args: %v", d)
		}
		ev.Details = nil
	}
}

// Retained events are bounded per realm by topics and by payload bytes:
// the topic retained longest ago loses its event first, and a topic
// retained again counts as new.
func TestRetentionBounds(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	rl := p.s.realm
	rl.hist.maxTopics, rl.hist.maxBytes = 3, 40
	ids := func() []wamp.ID {
		var out []wamp.ID
		for _, ev := range rl.retainedEvents(wamp.MatchPrefix, "com.") {
			out = append(out, ev.publication)
		}
		return out
	}
	record(t, p, `{"retain":true}`, "com.a", `[1]`, 1, nil)
	record(t, p, `{"retain":true}`, "com.b", `[2]`, 2, nil)
	record(t, p, `{"retain":true}`, "com.c", `[3]`, 3, nil)
	record(t, p, `{"retain":true}`, "com.a", `[4]`, 4, nil) // com.a is now the newest
	record(t, p, `{"retain":true}`, "com.d", `[5]`, 5, nil) // a fourth topic: com.b goes
	if got, want := ids(), []wamp.ID{3, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the topic bound: %v, want %v", got, want)
	}
	big := `["` + strings.Repeat("x", 30) + `"]` // past 40 bytes alone: the newest event is always kept
	record(t, p, `{"retain":true}`, "com.e", big, 6, nil)
	if got, want := ids(), []wamp.ID{6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the byte bound: %v, want %v", got, want)
	}
	if ev, ok := rl.hist.retained.Get("com.e"); !ok || rl.hist.bytes != ev.size || ev.size != ev.payload.Size() || rl.hist.retained.Len() != 1 || rl.hist.evicted != 4 {
		t.Fatalf("bookkeeping: %d bytes, %d retained, %d evicted", rl.hist.bytes, rl.hist.retained.Len(), rl.hist.evicted)
	}
}

// TestRetentionBoundsDecodedPayloads: the byte bound of retained events
// holds for publications that arrive decoded (a session in the router's
// process handing Go values to Receive), which have no raw size: they
// count as their encoding. Before, they counted as nothing.
func TestRetentionBoundsDecodedPayloads(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	rl := p.s.realm
	rl.hist.maxBytes = 40
	for i, topic := range []wamp.URI{"com.a", "com.b", "com.c"} {
		p.s.Receive(&wamp.Publish{Request: wamp.ID(i + 1), Topic: topic, Options: wamp.Dict{"retain": true},
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("x", 30)}}})
	}
	if n := rl.hist.retained.Len(); n != 1 {
		t.Fatalf("%d events of 30 bytes retained under a bound of 40 bytes, want the newest only", n)
	}
	if ev, ok := rl.hist.retained.Get("com.c"); !ok || rl.hist.bytes != ev.size || ev.size < 30 {
		t.Fatalf("bookkeeping: %d bytes counted, the event's size %d", rl.hist.bytes, ev.size)
	}
}

// warnCounter is a slog handler that counts the warnings whose message
// holds substr.
type warnCounter struct {
	substr string
	n      atomic.Int64
}

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level == slog.LevelWarn && strings.Contains(rec.Message, w.substr) {
		w.n.Add(1)
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

// TestHistoryUnencodablePublications: a steady publisher whose
// publications cannot be encoded for the history (Go values no serializer
// takes, from a session in the router's process) is counted in the
// history's stats and logged a few times, not once per publication.
func TestHistoryUnencodablePublications(t *testing.T) {
	logs := &warnCounter{substr: "publication not kept"}
	r, err := New(Config{
		Realms:      []RealmConfig{{Name: "realm1", Anonymous: true, History: historyRules}},
		HistoryPath: filepath.Join(t.TempDir(), "h.db"),
		Logger:      slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p := join(t, r, codec.JSON)
	const n = 50
	for i := range n {
		p.s.Receive(&wamp.Publish{Request: wamp.ID(i + 1), Topic: "com.hist.x",
			Payload: wamp.Payload{Args: wamp.List{func() {}}}})
	}
	p.none()
	if st := r.HistoryStats(); st.Unencodable != n || st.Appended != 0 {
		t.Errorf("history stats %+v, want %d unencodable, none appended", st, n)
	}
	if got := logs.n.Load(); got < 1 || got > lograte.DefaultBurst+1 {
		t.Errorf("%d publications not kept logged %d times, want 1 to %d", n, got, lograte.DefaultBurst+1)
	}
}

// TestHistoryTooLarge: a publication larger on its own than its history
// rule's MaxBytes is not kept: acknowledged, it is refused with
// wamp.error.history_unavailable and not delivered (acknowledged means
// kept); unacknowledged, it is delivered. Both are counted as too large,
// not as unencodable, and the events the rule holds stay.
func TestHistoryTooLarge(t *testing.T) {
	r := newHistoryRouter(t, filepath.Join(t.TempDir(), "h.db"), HistoryRule{Match: wamp.MatchExact, Topic: "com.big", Limit: 10, MaxBytes: 1 << 10})
	sub := join(t, r, codec.JSON)
	sub.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.big"})
	subID := sub.recv().(*wamp.Subscribed).Subscription
	pub := join(t, r, codec.JSON)
	publish := func(req wamp.ID, n int, ack bool) {
		pub.s.Receive(&wamp.Publish{Request: req, Topic: "com.big", Options: wamp.Dict{"acknowledge": ack},
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("x", n)}}})
	}
	publish(2, 100, true)
	kept := pub.recv().(*wamp.Published).Publication
	sub.recv()

	publish(3, 3<<10, true)
	if e, ok := pub.recv().(*wamp.Error); !ok || e.Error != wamp.ErrHistoryUnavailable || e.Request != 3 {
		t.Fatalf("acknowledged publication larger than max bytes: %+v, want ERROR %s", e, wamp.ErrHistoryUnavailable)
	}
	publish(4, 2<<10, false)
	if ev, ok := sub.recv().(*wamp.Event); !ok || len(decodeList(t, &ev.Payload)[0].(string)) != 2<<10 {
		t.Fatalf("unacknowledged publication larger than max bytes not delivered: %+v", ev)
	}
	sub.none()
	if got := publications(getEvents(t, sub, subID, nil)); !reflect.DeepEqual(got, []int64{int64(kept)}) {
		t.Fatalf("history %v, want [%d]", got, kept)
	}
	if st := r.HistoryStats(); st.TooLarge != 2 || st.Unencodable != 0 || st.Appended != 1 {
		t.Errorf("history stats %+v, want 2 too large, 1 appended", st)
	}
}
