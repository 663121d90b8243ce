package admin

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// nopPeer is a transport that takes every message and keeps none.
type nopPeer struct{}

func (nopPeer) Send(wamp.Message) error { return nil }
func (nopPeer) Close()                  {}

// populate joins n sessions to realm1 of rt, each subscribed to a topic of
// its own (a device each, say).
func populate(tb testing.TB, rt *router.Router, n int) {
	tb.Helper()
	roles := wamp.Dict{"roles": wamp.Dict{"subscriber": wamp.Dict{}}}
	for i := range n {
		s := rt.Attach(nopPeer{}, router.TransportInfo{Kind: "bench", Serializer: "json", RemoteAddr: fmt.Sprintf("10.0.%d.%d:40000", i>>8&0xff, i&0xff)})
		s.Receive(&wamp.Hello{Realm: "realm1", Details: roles})
		s.Receive(&wamp.Subscribe{Request: 1, Topic: wamp.URI(fmt.Sprintf("com.fleet.device.%d", i))})
	}
}

// expire makes the next snapshot walk the router again, as the next tick
// of the page does once the shared part is stale.
func (h *Handler) expire() {
	h.snaps.mu.Lock()
	h.snaps.at = time.Time{}
	h.snaps.mu.Unlock()
	expireLists(&h.snaps.realms)
	expireLists(&h.snaps.sessions)
}

func expireLists[V any](c *sharedLists[V]) {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// TestLiveViewListsShared: viewers of the same realm and search within a
// tick share one list of sessions, subscriptions and registrations, built
// once, each viewer showing as many rows as it asks for; another search
// gets its own.
func TestLiveViewListsShared(t *testing.T) {
	rt := newRouter(t)
	defer rt.Close()
	populate(t, rt, 3)
	h, err := New(Config{Router: rt, WebView: true})
	if err != nil {
		t.Fatal(err)
	}
	var a, b Snapshot
	for range 10 { // two builds more than baseTTL apart (a stalled machine) need not share
		h.expire()
		start := time.Now()
		a = h.build(view{limit: 50}, identity{name: "one"})
		b = h.build(view{limit: 2}, identity{name: "two", admin: true})
		if time.Since(start) < baseTTL {
			break
		}
	}
	if len(a.SessionList) != 3 || len(b.SessionList) != 2 || a.SessionsMatched != 3 || b.SessionsMatched != 3 {
		t.Fatalf("listed %d and %d sessions of %d and %d", len(a.SessionList), len(b.SessionList), a.SessionsMatched, b.SessionsMatched)
	}
	if a.SessionList[0] != b.SessionList[0] || b.User != "two" || !b.Admin {
		t.Fatalf("the viewers see %+v and %+v", a, b)
	}
	if &a.SessionList[0] != &b.SessionList[0] {
		t.Error("each viewer got a session list of its own: the sessions were listed (and sorted) once per viewer")
	}
	if len(a.Subscriptions) != 3 || &a.Subscriptions[0] != &b.Subscriptions[0] {
		t.Error("each viewer got a subscription list of its own")
	}
	if cap(b.SessionList) != len(b.SessionList) {
		t.Errorf("a viewer's session list has room past its end (cap %d): appending to it would write into the shared one", cap(b.SessionList))
	}
	c := h.build(view{search: "10.0.0.1:", limit: 50}, identity{})
	if c.SessionsMatched != 1 || len(c.SessionList) != 1 || c.SessionList[0].Address != "10.0.0.1:40000" {
		t.Errorf("a search got %+v of %d", c.SessionList, c.SessionsMatched)
	}

	// Viewers at once (the race detector watches the sharing).
	h.expire()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := view{limit: 1 + i%3}
			if i%2 == 1 {
				v.search = "10.0.0."
			}
			if s := h.build(v, identity{}); len(s.SessionList) != v.limit || s.SessionsMatched != 3 {
				t.Errorf("viewer %d (%+v): %d listed of %d", i, v, len(s.SessionList), s.SessionsMatched)
			}
		})
	}
	wg.Wait()
}

// TestLiveViewListsBounded: however many distinct searches viewers ask
// for, at most maxSharedLists lists are kept, and each search still gets
// its own answer.
func TestLiveViewListsBounded(t *testing.T) {
	rt := newRouter(t)
	defer rt.Close()
	populate(t, rt, 3)
	h, err := New(Config{Router: rt, WebView: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxSharedLists {
		search := fmt.Sprintf("10.0.0.%d:", i)
		want := 0
		if i < 3 {
			want = 1
		}
		if s := h.build(view{search: search, limit: 50}, identity{}); s.SessionsMatched != want || len(s.SessionList) != want {
			t.Fatalf("search %q: %d listed of %d matched, want %d", search, len(s.SessionList), s.SessionsMatched, want)
		}
	}
	h.snaps.sessions.mu.Lock()
	n := len(h.snaps.sessions.entries)
	h.snaps.sessions.mu.Unlock()
	if n > maxSharedLists {
		t.Errorf("%d session lists kept, at most %d wanted", n, maxSharedLists)
	}
}

// BenchmarkLiveViewTick is what one tick of the live view costs the
// router with 100,000 sessions (each with a subscription of its own) and
// some viewers on the default page (the 50 newest sessions): one op is
// every viewer's snapshot, built once the shared part is stale.
func BenchmarkLiveViewTick(b *testing.B) {
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	const sessions = 100_000
	populate(b, rt, sessions)
	h, err := New(Config{Router: rt, WebView: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, viewers := range []int{1, 10} {
		b.Run(fmt.Sprintf("sessions=%d/viewers=%d", sessions, viewers), func(b *testing.B) {
			v := view{limit: 50}
			for b.Loop() {
				h.expire()
				for range viewers {
					if s := h.build(v, identity{}); len(s.SessionList) != 50 || s.SessionsMatched != sessions {
						b.Fatalf("%d sessions listed of %d", len(s.SessionList), s.SessionsMatched)
					}
				}
			}
		})
	}
}
