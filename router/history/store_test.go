package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/internal/lograte"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const realm = wamp.URI("realm1")

func open(t testing.TB, path string, rules ...Rule) *Store {
	t.Helper()
	s, err := Open(path, Config{Rules: map[wamp.URI][]Rule{realm: rules}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "history.db") }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// ev is an event to topic with publication pub at t0 + ms milliseconds and
// a raw JSON payload [pub].
func ev(topic wamp.URI, pub wamp.ID, ms int) Event {
	return Event{
		Topic: topic, Publication: pub, Time: t0.Add(time.Duration(ms) * time.Millisecond),
		Payload: wamp.Payload{Format: wamp.FormatJSON, RawArgs: fmt.Appendf(nil, "[%d]", pub)},
	}
}

func appendAll(t testing.TB, s *Store, evs ...Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Append(realm, e); err != nil {
			t.Fatalf("Append %d: %v", e.Publication, err)
		}
	}
}

func query(t testing.TB, s *Store, q Query) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs, err := s.Query(ctx, realm, &q)
	if err != nil {
		t.Fatalf("Query %+v: %v", q, err)
	}
	return evs
}

func pubs(evs []Event) []wamp.ID {
	out := []wamp.ID{}
	for _, e := range evs {
		out = append(out, e.Publication)
	}
	return out
}

func TestRoundTripAndRestart(t *testing.T) {
	path := tempPath(t)
	rule := Rule{Match: wamp.MatchPrefix, Topic: "com.example", Limit: 100}
	s := open(t, path, rule)
	when := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	in := []Event{
		{ // raw JSON, args and kwargs, disclosed publisher
			Topic: "com.example.a", Publication: 11, Time: when,
			Details: wamp.Dict{"publisher": uint64(42), "publisher_authid": "alice", "trustlevel": 2},
			Payload: wamp.Payload{Format: wamp.FormatJSON, RawArgs: []byte(`[1,"two",{"x":3.5}]`), RawKwargs: []byte(`{"k":true}`)},
		},
		{ // decoded payload, kwargs only, restricted audience
			Topic: "com.example.b", Publication: 12, Time: when,
			Payload:  wamp.Payload{Kwargs: wamp.Dict{"n": 7}},
			Audience: Audience{EligibleAuthRoles: []string{"admin"}, ExcludeAuthIDs: []string{"mallory"}},
		},
		{ // raw msgpack [1], no details
			Topic: "com.example", Publication: 13, Time: when,
			Payload: wamp.Payload{Format: wamp.FormatMsgPack, RawArgs: []byte{0x91, 0x01}},
		},
		{Topic: "org.other", Publication: 14, Time: when}, // no rule: ignored
	}
	appendAll(t, s, in...)
	check := func(s *Store) {
		t.Helper()
		got := query(t, s, Query{Match: wamp.MatchPrefix, Pattern: "com.example", AuthID: "bob", AuthRole: "admin"})
		if want := []wamp.ID{11, 12, 13}; !reflect.DeepEqual(pubs(got), want) {
			t.Fatalf("publications %v, want %v", pubs(got), want)
		}
		for _, e := range got {
			if !e.Time.Equal(when.Truncate(time.Millisecond)) {
				t.Errorf("publication %d: time %v, want %v truncated to ms", e.Publication, e.Time, when)
			}
		}
		a := got[0]
		if a.Topic != "com.example.a" || a.Payload.Format != wamp.FormatJSON ||
			string(a.Payload.RawArgs) != `[1,"two",{"x":3.5}]` || string(a.Payload.RawKwargs) != `{"k":true}` {
			t.Errorf("event 11 came back as %+v", a)
		}
		if want := (wamp.Dict{"publisher": int64(42), "publisher_authid": "alice", "trustlevel": int64(2)}); !reflect.DeepEqual(a.Details, want) {
			t.Errorf("event 11 details %#v, want %#v", a.Details, want)
		}
		args, kwargs, err := codec.DecodePayload(&got[1].Payload)
		if err != nil || args != nil || !reflect.DeepEqual(kwargs, wamp.Dict{"n": int64(7)}) {
			t.Errorf("event 12 payload decodes to %v %v %v", args, kwargs, err)
		}
		if want := (Audience{EligibleAuthRoles: []string{"admin"}, ExcludeAuthIDs: []string{"mallory"}}); !reflect.DeepEqual(got[1].Audience, want) {
			t.Errorf("event 12 audience %+v, want %+v", got[1].Audience, want)
		}
		args, kwargs, err = codec.DecodePayload(&got[2].Payload)
		if err != nil || !reflect.DeepEqual(args, wamp.List{int64(1)}) || kwargs != nil || got[2].Details != nil {
			t.Errorf("event 13 came back as %v %v %v details %v", args, kwargs, err, got[2].Details)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(realm, ev("com.example.a", 99, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	check(open(t, path, rule))
}

func TestLimitTrimsOldest(t *testing.T) {
	path := tempPath(t)
	rule := Rule{Match: wamp.MatchExact, Topic: "t", Limit: 3}
	s := open(t, path, rule)
	for i := 1; i <= 10; i++ {
		appendAll(t, s, ev("t", wamp.ID(i), i))
		if i%4 == 0 { // several batches
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{8, 9, 10}) {
		t.Fatalf("after 10 events with limit 3: %v", got)
	}
	s.Close()

	// A lower limit applies when the file is opened again.
	rule.Limit = 2
	s = open(t, path, rule)
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{9, 10}) {
		t.Fatalf("reopened with limit 2: %v", got)
	}
	// New events get sequence numbers after the old ones.
	appendAll(t, s, ev("t", 11, 11))
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{10, 11}) {
		t.Fatalf("after one more: %v", got)
	}
	s.Close()

	// A rule that is no longer configured loses its events.
	s = open(t, path, Rule{Match: wamp.MatchExact, Topic: "u", Limit: 5})
	s.Close()
	s = open(t, path, rule)
	if got := pubs(query(t, s, Query{Pattern: "t"})); len(got) != 0 {
		t.Fatalf("rule dropped and configured again: still has %v", got)
	}
}

// Events are kept under the rule that wins for their topic, each with its
// own limit, and a pattern subscription sees them merged in order.
func TestRulesAndPatterns(t *testing.T) {
	s := open(t, tempPath(t),
		Rule{Match: wamp.MatchPrefix, Topic: "com.app.", Limit: 100},
		Rule{Match: wamp.MatchExact, Topic: "com.app.noisy", Limit: 2},
		Rule{Match: wamp.MatchWildcard, Topic: "org..status", Limit: 100},
	)
	appendAll(t, s,
		ev("com.app.a", 1, 1),
		ev("com.app.noisy", 2, 2),
		ev("com.app.b.c", 3, 3),
		ev("com.app.noisy", 4, 4),
		ev("com.app.noisy", 5, 5), // trims 2
		ev("org.x.status", 6, 6),
		ev("com.app.x.y", 7, 7),
		ev("com.application", 8, 8), // no rule: prefixes are string prefixes
	)
	for _, tc := range []struct {
		m       wamp.Match
		pattern wamp.URI
		want    []wamp.ID
	}{
		{wamp.MatchExact, "com.app.noisy", []wamp.ID{4, 5}},
		{wamp.MatchExact, "com.app.a", []wamp.ID{1}},
		{wamp.MatchExact, "com.app.never", []wamp.ID{}},
		{wamp.MatchPrefix, "com.app", []wamp.ID{1, 3, 4, 5, 7}},
		{wamp.MatchPrefix, "com.app.a", []wamp.ID{1}},
		{wamp.MatchPrefix, "com", []wamp.ID{1, 3, 4, 5, 7}},
		{wamp.MatchWildcard, "com.app.", []wamp.ID{1, 4, 5}},
		{wamp.MatchWildcard, "..status", []wamp.ID{6}},
		{wamp.MatchWildcard, "", []wamp.ID{}}, // one component: covered by nothing
		{wamp.MatchPrefix, "org", []wamp.ID{6}},
	} {
		name := tc.m.String() + ":" + string(tc.pattern)
		if !s.Covers(realm, tc.m, tc.pattern) {
			if len(tc.want) > 0 {
				t.Errorf("%s: not covered", name)
			}
			continue
		}
		if got := pubs(query(t, s, Query{Match: tc.m, Pattern: tc.pattern})); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		m       wamp.Match
		pattern wamp.URI
	}{
		{wamp.MatchExact, "com.application"},
		{wamp.MatchPrefix, "net"},
		{wamp.MatchWildcard, "org..other"},
		{wamp.MatchWildcard, "net.."},
	} {
		ctx := context.Background()
		if _, err := s.Query(ctx, realm, &Query{Match: tc.m, Pattern: tc.pattern}); !errors.Is(err, ErrNoHistory) {
			t.Errorf("%s:%s: %v, want ErrNoHistory", tc.m, tc.pattern, err)
		}
		if _, err := s.Query(ctx, "other.realm", &Query{Match: wamp.MatchPrefix, Pattern: "com"}); !errors.Is(err, ErrNoHistory) {
			t.Errorf("realm without rules: %v, want ErrNoHistory", err)
		}
	}
}

func TestOverlap(t *testing.T) {
	const e, p, w = wamp.MatchExact, wamp.MatchPrefix, wamp.MatchWildcard
	for _, tc := range []struct {
		m1   wamp.Match
		p1   wamp.URI
		m2   wamp.Match
		p2   wamp.URI
		want bool
	}{
		{e, "a.b", e, "a.b", true},
		{e, "a.b", e, "a.c", false},
		{e, "a.b.c", p, "a.b", true},
		{e, "a.bc", p, "a.b", true}, // prefixes are string prefixes
		{e, "a.c", p, "a.b", false},
		{e, "a.b", p, "a.b.", false},
		{e, "a.x.c", w, "a..c", true},
		{p, "a", p, "a.b", true},
		{p, "a.b", p, "a", true},
		{p, "a.b.", p, "a.b", true},
		{p, "a.b", p, "a.c", false},
		{p, "a.", p, "ab", false},
		{p, "a.b", w, "a..c", true},
		{p, "a.b", w, "a.c.", false},
		{p, "a.b", w, "a.bc.", true},
		{p, "a.b", w, "a.cb.", false},
		{p, "a.b", w, "a.", true},
		{p, "a.b.", w, "a.", false}, // "a.b." needs three components
		{p, "a.b.", w, "a..", true},
		{p, "a.b.c", w, "a.", false},
		{w, "a..c", w, ".b.", true},
		{w, "a..c", w, "a..d", false},
		{w, "a..", w, "a.", false},
	} {
		if got := overlap(tc.m1, tc.p1, tc.m2, tc.p2); got != tc.want {
			t.Errorf("overlap(%s %q, %s %q) = %v, want %v", tc.m1, tc.p1, tc.m2, tc.p2, got, tc.want)
		}
		if got := overlap(tc.m2, tc.p2, tc.m1, tc.p1); got != tc.want {
			t.Errorf("overlap(%s %q, %s %q) = %v, want %v", tc.m2, tc.p2, tc.m1, tc.p1, got, tc.want)
		}
	}
}

func TestQueryOptions(t *testing.T) {
	s := open(t, tempPath(t), Rule{Match: wamp.MatchPrefix, Topic: "t", Limit: 100})
	// Publications 101..106 at 10ms steps; 104 shares 103's time; times
	// need not follow the order of arrival (105 is earlier than 104).
	evs := []Event{
		ev("t.a", 101, 10), ev("t.b", 102, 20), ev("t.a", 103, 30),
		ev("t.b", 104, 30), ev("t.a", 105, 25), ev("t.b", 106, 60),
	}
	evs[3].Audience = Audience{EligibleAuthIDs: []string{"alice"}}
	appendAll(t, s, evs...)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name string
		q    Query
		want []wamp.ID
	}{
		{"all", Query{}, []wamp.ID{101, 102, 103, 104, 105, 106}},
		{"reverse", Query{Reverse: true}, []wamp.ID{106, 105, 104, 103, 102, 101}},
		{"limit", Query{Limit: 2}, []wamp.ID{101, 102}},
		{"reverse limit", Query{Reverse: true, Limit: 2}, []wamp.ID{106, 105}},
		{"topic", Query{Topic: "t.a"}, []wamp.ID{101, 103, 105}},
		{"from_time", Query{FromTime: at(30)}, []wamp.ID{103, 104, 106}},
		{"after_time", Query{AfterTime: at(30)}, []wamp.ID{106}},
		{"before_time", Query{BeforeTime: at(25)}, []wamp.ID{101, 102}},
		{"until_time", Query{UntilTime: at(25)}, []wamp.ID{101, 102, 105}},
		{"from_time sub-ms", Query{FromTime: at(29).Add(500 * time.Microsecond)}, []wamp.ID{103, 104, 106}},
		{"from_publication", Query{FromPublication: 104}, []wamp.ID{104, 105, 106}},
		{"after_publication", Query{AfterPublication: 104}, []wamp.ID{105, 106}},
		{"before_publication", Query{BeforePublication: 103}, []wamp.ID{101, 102}},
		{"until_publication", Query{UntilPublication: 103}, []wamp.ID{101, 102, 103}},
		{"page forward", Query{AfterPublication: 102, Limit: 2}, []wamp.ID{103, 104}},
		{"page back", Query{BeforePublication: 105, Reverse: true, Limit: 2}, []wamp.ID{104, 103}},
		{"range", Query{AfterPublication: 101, UntilPublication: 105, Topic: "t.a"}, []wamp.ID{103, 105}},
		{"empty range", Query{FromPublication: 105, BeforePublication: 102}, []wamp.ID{}},
		{"times and publications", Query{FromPublication: 102, BeforeTime: at(30)}, []wamp.ID{102, 105}},
		{"not eligible", Query{AuthID: "bob"}, []wamp.ID{101, 102, 103, 105, 106}},
		{"exact subscription", Query{Match: wamp.MatchExact, Pattern: "t.b"}, []wamp.ID{102, 104, 106}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			if q.Pattern == "" {
				q.Match, q.Pattern = wamp.MatchPrefix, "t"
			}
			if q.AuthID == "" {
				q.AuthID = "alice"
			}
			if got := pubs(query(t, s, q)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%v, want %v", got, tc.want)
			}
			// Select, on the same events in memory (a cluster's store),
			// selects the same.
			sel, err := Select(records(t, evs), &q)
			if err != nil {
				t.Fatal(err)
			}
			if got := pubs(sel); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Select: %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		q    Query
	}{
		{"never published", Query{FromPublication: 999}},
		{"other subscription's", Query{Match: wamp.MatchExact, Pattern: "t.a", AfterPublication: 102}},
		{"not visible to the caller", Query{AuthID: "bob", BeforePublication: 104}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			if q.Pattern == "" {
				q.Match, q.Pattern = wamp.MatchPrefix, "t"
			}
			_, err := s.Query(context.Background(), realm, &q)
			var up *UnknownPublicationError
			if !errors.As(err, &up) {
				t.Fatalf("got %v, want an UnknownPublicationError", err)
			}
			recs := records(t, evs)
			if q.Match == wamp.MatchExact { // the candidates are the subscription's rule's
				recs = records(t, []Event{evs[1], evs[3], evs[5]})
			}
			if _, err := Select(recs, &q); !errors.As(err, &up) {
				t.Fatalf("Select: got %v, want an UnknownPublicationError", err)
			}
		})
	}
}

// records encodes evs as Encode does for a store other than Store.
func records(t *testing.T, evs []Event) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range evs {
		e := evs[i]
		rec, err := Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

func TestRulesPrecedence(t *testing.T) {
	rs, err := NewRules(map[wamp.URI][]Rule{realm: {
		{Match: wamp.MatchPrefix, Topic: "com.", Limit: 1},
		{Match: wamp.MatchPrefix, Topic: "com.example.", Limit: 2},
		{Match: wamp.MatchExact, Topic: "com.example.a", Limit: 3},
		{Match: wamp.MatchWildcard, Topic: "org..x", Limit: 4},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for topic, limit := range map[wamp.URI]int{"com.example.a": 3, "com.example.b": 2, "com.other": 1, "org.y.x": 4, "net.a": 0} {
		r, ok := rs.For(realm, topic)
		if ok != (limit > 0) || r.Limit != limit {
			t.Errorf("For(%s) = %+v %v, want the rule with limit %d", topic, r, ok, limit)
		}
	}
	if got := rs.Covering(realm, wamp.MatchPrefix, "com.example."); len(got) != 3 {
		t.Errorf("Covering(prefix com.example.) = %+v, want the three com. rules", got)
	}
	if got := rs.Covering(realm, wamp.MatchExact, "com.example.z"); len(got) != 1 || got[0].Limit != 2 {
		t.Errorf("Covering(exact com.example.z) = %+v, want the com.example. rule", got)
	}
	if _, err := NewRules(map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "a", Limit: 0}}}); err == nil {
		t.Error("a rule with limit 0 was accepted")
	}
}

func TestAudience(t *testing.T) {
	for _, tc := range []struct {
		a        Audience
		id, role string
		want     bool
	}{
		{Audience{}, "a", "r", true},
		{Audience{EligibleAuthIDs: []string{"a"}}, "a", "r", true},
		{Audience{EligibleAuthIDs: []string{"b"}}, "a", "r", false},
		{Audience{EligibleAuthIDs: []string{}}, "a", "r", false},
		{Audience{EligibleAuthRoles: []string{"r"}, ExcludeAuthIDs: []string{"a"}}, "a", "r", false},
		{Audience{ExcludeAuthRoles: []string{"r"}}, "a", "r", false},
		{Audience{ExcludeAuthRoles: []string{"x"}}, "a", "r", true},
	} {
		if got := tc.a.Admits(tc.id, tc.role); got != tc.want {
			t.Errorf("%+v admits %s/%s = %v, want %v", tc.a, tc.id, tc.role, got, tc.want)
		}
	}
}

// A full queue refuses and counts; what it accepted is all written.
func TestQueueFull(t *testing.T) {
	const n = 8
	s, err := Open(tempPath(t), Config{
		Rules:       map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "t", Limit: 1000}}},
		QueueEvents: n,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Hold bbolt's writer lock: the store's writer takes at most one batch
	// and then waits for it.
	tx, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for {
		err := s.Append(realm, ev("t", wamp.ID(accepted+1), accepted))
		if errors.Is(err, ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
		if accepted > 2*n {
			t.Fatalf("%d events accepted with a queue of %d and the writer blocked", accepted, n)
		}
	}
	if accepted < n {
		t.Fatalf("queue full after %d events, bound %d", accepted, n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := len(query(t, s, Query{Pattern: "t"})); got != accepted {
		t.Errorf("%d events in the history, %d accepted", got, accepted)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Appended != uint64(accepted) || st.Lost != 0 {
		t.Errorf("stats %+v, want 1 dropped, %d appended", st, accepted)
	}
}

func TestOpenErrors(t *testing.T) {
	path := tempPath(t)
	for _, rules := range [][]Rule{
		{{Match: wamp.MatchExact, Topic: "t", Limit: 0}},
		{{Match: wamp.MatchExact, Topic: "t", Limit: 1}, {Match: wamp.MatchExact, Topic: "t", Limit: 2}},
	} {
		if s, err := Open(path, Config{Rules: map[wamp.URI][]Rule{realm: rules}}); err == nil {
			s.Close()
			t.Errorf("Open accepted rules %+v", rules)
		}
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyVersion, []byte{formatVersion + 1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Config{}); err == nil {
		s.Close()
		t.Error("Open accepted a file of another format version")
	}
}

// Appends and queries from many goroutines (for the race detector).
func TestConcurrent(t *testing.T) {
	s := open(t, tempPath(t), Rule{Match: wamp.MatchPrefix, Topic: "t", Limit: 50})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				if err := s.Append(realm, ev(wamp.URI(fmt.Sprintf("t.%d", g)), wamp.ID(g*1000+i+1), i)); err != nil {
					t.Error(err)
					return
				}
				if i%25 == 0 {
					query(t, s, Query{Match: wamp.MatchPrefix, Pattern: "t", Limit: 10})
				}
			}
		})
	}
	wg.Wait()
	if got := len(query(t, s, Query{Match: wamp.MatchPrefix, Pattern: "t"})); got != 50 {
		t.Errorf("%d events kept, limit 50", got)
	}
}

func TestCorruptRecord(t *testing.T) {
	good, err := encodeRecord(nil, &Event{Topic: "t", Publication: 1, Audience: Audience{ExcludeAuthIDs: []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		v, err := viewRecord(good[:n])
		if err == nil {
			_, err = v.event()
		}
		if err == nil {
			t.Errorf("a record cut to %d of %d bytes decodes", n, len(good))
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	s := open(b, tempPath(b), Rule{Match: wamp.MatchPrefix, Topic: "com.example", Limit: 10000})
	e := Event{
		Topic: "com.example.sensor", Publication: 1,
		Details: wamp.Dict{"publisher": uint64(12345)},
		Payload: wamp.Payload{Format: wamp.FormatJSON, RawArgs: []byte(`[{"temperature":21.5,"humidity":40,"room":"lab-3"}]`)},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(realm, e); errors.Is(err, ErrQueueFull) {
			// The disk is slower than the loop: wait for it, as a
			// publisher would not, but so that the run measures writes.
			s.Flush(context.Background())
		} else if err != nil {
			b.Fatal(err)
		}
	}
	s.Flush(context.Background())
	b.ReportMetric(float64(s.Stats().Dropped)/float64(b.N), "dropped/op")
}

// TestAppendDurable checks that AppendDurable reports each event once the
// batch holding it is written, not before, in the order of the appends,
// that Close writes (and reports) what is queued, and its errors.
func TestAppendDurable(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	var holdOnce sync.Once
	s, err := Open(tempPath(t), Config{
		Rules: map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "com.d", Limit: 100}}},
		BeforeWrite: func() {
			holdOnce.Do(func() {
				entered <- struct{}{}
				<-gate
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reported []wamp.ID
	durable := func(pub wamp.ID) func(error) {
		return func(err error) {
			if err != nil {
				t.Errorf("publication %d: %v", pub, err)
			}
			mu.Lock()
			reported = append(reported, pub)
			mu.Unlock()
		}
	}
	if err := s.AppendDurable(realm, ev("com.d", 1, 0), durable(1)); err != nil {
		t.Fatal(err)
	}
	<-entered // the writer holds the first batch
	for pub := wamp.ID(2); pub <= 5; pub++ {
		if err := s.AppendDurable(realm, ev("com.d", pub, int(pub)), durable(pub)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	early := len(reported)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("%d events reported durable before the writer wrote them", early)
	}
	if err := s.AppendDurable(realm, ev("com.other", 9, 0), durable(9)); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("AppendDurable to a topic without a rule: %v, want ErrNoHistory", err)
	}
	close(gate)
	if err := s.Close(); err != nil { // writes the queued events first
		t.Fatal(err)
	}
	if want := []wamp.ID{1, 2, 3, 4, 5}; !reflect.DeepEqual(reported, want) {
		t.Fatalf("reported %v, want %v", reported, want)
	}
	if err := s.AppendDurable(realm, ev("com.d", 6, 6), durable(6)); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendDurable after Close: %v, want ErrClosed", err)
	}
}

// TestWriteFailuresLogRated: a disk that fails every write (here: the
// file closed under the store) has each lost batch counted and reported
// to its publishers, but logged a few times only, not once per batch.
func TestWriteFailuresLogRated(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	s, err := Open(tempPath(t), Config{
		Rules:  map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "com.d", Limit: 100}}},
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.Close(); err != nil { // every transaction fails from here
		t.Fatal(err)
	}
	const batches = 50
	for pub := wamp.ID(1); pub <= batches; pub++ {
		failed := make(chan error, 1)
		if err := s.AppendDurable(realm, ev("com.d", pub, int(pub)), func(err error) { failed <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-failed; err == nil {
			t.Fatalf("publication %d reported written to a closed file", pub)
		}
	}
	if st := s.Stats(); st.WriteErrors != batches || st.Lost != batches {
		t.Errorf("stats %+v, want %d write errors and %d lost", st, batches, batches)
	}
	logMu.Lock()
	lines := strings.Count(logs.String(), "could not be written")
	logMu.Unlock()
	if lines == 0 || lines > lograte.DefaultBurst {
		t.Errorf("%d lines for %d failed batches, want 1 to %d", lines, batches, lograte.DefaultBurst)
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
