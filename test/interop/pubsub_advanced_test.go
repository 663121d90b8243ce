package interop

import (
	"fmt"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestPubSubAdvanced drives the Advanced Profile PubSub features of a built
// router with Autobahn|Python (python/pubsub_advanced.py), Autobahn|JS
// (js/pubsub_advanced.js) and wampy.js (wampy/pubsub_advanced.mjs), and with
// raw WAMP messages for what no library can send: payload passthru, sharded subscriptions, revocation of
// a subscriber that did not announce it, unacknowledged publications with
// bad options. See README.md.
func TestPubSubAdvanced(t *testing.T) {
	py, js, wampy := pythonClient(t), jsClient(t), wampyClient(t)
	requireClients(t, py, js, wampy)
	r := startRouter(t, routerBinary(t))

	suites := []struct {
		c         *client
		script    string
		combos    []combo
		scenarios []string
	}{
		{py, "pubsub_advanced.py", []combo{{"websocket", "json"}, {"websocket", "msgpack"}, {"rawsocket", "cbor"}},
			[]string{"listing", "patterns", "meta", "retained"}},
		{js, "pubsub_advanced.js", []combo{{"websocket", "json"}, {"websocket", "cbor"}, {"rawsocket", "json"}},
			[]string{"disclose", "listing", "patterns", "revocation", "badoptions", "retained"}},
		{wampy, "pubsub_advanced.mjs", wampy.combos, []string{"listing", "patterns", "disclose", "retained"}},
	}
	for _, s := range suites {
		c := *s.c
		c.command = append(append([]string{}, s.c.command[:len(s.c.command)-1]...), s.script)
		for _, cb := range s.combos {
			name := "advanced/" + c.name + "/" + cb.String()
			t.Run(c.name+"/"+cb.String(), func(t *testing.T) {
				t.Parallel()
				runSuite(t, r, &c, cb, s.scenarios, name)
			})
		}
	}

	t.Run("raw", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(t *testing.T, r *router, c codec.Codec)
		}{
			{"passthru", rawPassthru},
			{"sharded", rawSharded},
			{"silent-revocation", rawSilentRevocation},
			{"unacknowledged-bad-options", rawUnacknowledgedBadOptions},
		} {
			for _, c := range []codec.Codec{codec.JSON, codec.CBOR} {
				t.Run(tc.name+"/"+c.Format().String(), func(t *testing.T) {
					t.Parallel()
					tc.fn(t, r, c)
				})
			}
		}
	})
}

func (s *rawSession) subscribe(topic wamp.URI, opts wamp.Dict) wamp.ID {
	s.t.Helper()
	s.send(&wamp.Subscribe{Request: 1, Topic: topic, Options: opts})
	m := s.recv()
	sub, ok := m.(*wamp.Subscribed)
	if !ok {
		s.t.Fatalf("SUBSCRIBE %s: got %T %+v", topic, m, m)
	}
	return sub.Subscription
}

// untilFence returns the EVENTs that arrive before the one on subscription
// fence, and any other message the router sent meanwhile.
func (s *rawSession) untilFence(fence wamp.ID) (events []*wamp.Event, other []wamp.Message) {
	s.t.Helper()
	for {
		m := s.recv()
		ev, ok := m.(*wamp.Event)
		switch {
		case ok && ev.Subscription == fence:
			return events, other
		case ok:
			events = append(events, ev)
		default:
			other = append(other, m)
		}
	}
}

// publishAck publishes and waits for PUBLISHED (or fails on anything else).
func (s *rawSession) publishAck(topic wamp.URI, opts wamp.Dict, args ...any) {
	s.t.Helper()
	o := wamp.Dict{"acknowledge": true}
	for k, v := range opts {
		o[k] = v
	}
	s.send(&wamp.Publish{Request: 2, Topic: topic, Options: o, Payload: wamp.Payload{Args: args}})
	if m := s.recv(); m.Type() != wamp.TypePublished {
		s.t.Fatalf("PUBLISH %s %v: got %T %+v", topic, opts, m, m)
	}
}

func uniqueTopic(what string) wamp.URI {
	return wamp.URI(fmt.Sprintf("interop.raw.%s.%d", what, time.Now().UnixNano()))
}

// rawPassthru: a publisher that announced payload_passthru_mode publishes
// an opaque payload; subscribers that announced it get it with the ppt_*
// details, one that did not gets nothing; a publisher that did not announce
// it is aborted with wamp.error.protocol_violation.
func rawPassthru(t *testing.T, r *router, c codec.Codec) {
	topic := uniqueTopic("ppt")
	pub := dialRaw(t, r, c, "payload_passthru_mode")
	aware := dialRaw(t, r, c, "payload_passthru_mode")
	unaware := dialRaw(t, r, c)
	var fences [2]wamp.ID
	for i, s := range []*rawSession{aware, unaware} {
		s.subscribe(topic, nil)
		fences[i] = s.subscribe(topic+".fence", nil)
	}
	blob := []byte{0, 1, 2, 0xff}
	pub.publishAck(topic, wamp.Dict{"ppt_scheme": "x_custom", "ppt_serializer": "native", "ppt_keyid": "k1"}, blob)
	pub.publishAck(topic+".fence", nil)
	evs, _ := aware.untilFence(fences[0])
	if len(evs) != 1 || evs[0].Details["ppt_scheme"] != "x_custom" || evs[0].Details["ppt_serializer"] != "native" ||
		evs[0].Details["ppt_keyid"] != "k1" || evs[0].Details["ppt_cipher"] != nil {
		t.Fatalf("passthru events to the aware subscriber: %+v", evs)
	}
	if evs, _ := unaware.untilFence(fences[1]); len(evs) != 0 {
		t.Fatalf("a subscriber without payload_passthru_mode got %+v", evs)
	}
	unaware.send(&wamp.Publish{Request: 3, Topic: topic, Options: wamp.Dict{"ppt_scheme": "mqtt"}})
	if a, ok := unaware.recv().(*wamp.Abort); !ok || a.Reason != wamp.ErrProtocolViolation {
		t.Fatalf("passthru PUBLISH without the feature: got %+v, want ABORT %s", a, wamp.ErrProtocolViolation)
	}
}

// rawSharded: with nkeys n1, n2, n3 on one wildcard subscription, each
// event with an rkey reaches exactly one node, always the same one for an
// rkey, and a subscriber without nkey gets every event.
func rawSharded(t *testing.T, r *router, c codec.Codec) {
	base := uniqueTopic("sharded")
	pub := dialRaw(t, r, c)
	nodes := map[string]*rawSession{}
	fences := map[string]wamp.ID{}
	var subID wamp.ID
	for _, nk := range []string{"n1", "n2", "n3", ""} {
		s := dialRaw(t, r, c, "sharded_subscription")
		opts := wamp.Dict{"match": "wildcard"}
		if nk != "" {
			opts["nkey"] = nk
		}
		id := s.subscribe(base+"..temp", opts)
		if subID != 0 && id != subID {
			t.Fatal("sharded subscribers of one pattern got different subscriptions")
		}
		subID = id
		fences[nk] = s.subscribe(base+".fence", nil)
		nodes[nk] = s
	}
	const n = 30
	for round := range 2 {
		for i := range n {
			rkey := fmt.Sprintf("sn%d", i)
			pub.send(&wamp.Publish{Request: 4, Topic: base + wamp.URI("."+rkey+".temp"), Options: wamp.Dict{"rkey": rkey}})
		}
		pub.publishAck(base+".fence", nil)
		owner := map[string]string{}
		for nk, s := range nodes {
			evs, _ := s.untilFence(fences[nk])
			if nk == "" {
				if len(evs) != n {
					t.Fatalf("round %d: the subscriber without nkey got %d of %d events", round, len(evs), n)
				}
				continue
			}
			for _, ev := range evs {
				topic, ok := ev.Details["topic"].(string)
				if !ok {
					t.Fatalf("event on a wildcard subscription without details.topic: %+v", ev)
				}
				if prev, dup := owner[topic]; dup {
					t.Fatalf("round %d: %s reached %s and %s", round, topic, prev, nk)
				}
				owner[topic] = nk
			}
		}
		if len(owner) != n {
			t.Fatalf("round %d: %d of %d sharded events reached a node", round, len(owner), n)
		}
	}
}

// rawSilentRevocation: a subscriber that did not announce
// subscription_revocation is removed without an UNSUBSCRIBED and gets no
// more events.
func rawSilentRevocation(t *testing.T, r *router, c codec.Codec) {
	topic := uniqueTopic("revoke")
	sub := dialRaw(t, r, c)
	admin := dialRaw(t, r, c)
	id := sub.subscribe(topic, nil)
	fence := sub.subscribe(topic+".fence", nil)
	admin.send(&wamp.Call{Request: 5, Procedure: "wamp.subscription.remove_subscriber",
		Payload: wamp.Payload{Args: wamp.List{uint64(id), uint64(sub.id)}}})
	if m := admin.recv(); m.Type() != wamp.TypeResult {
		t.Fatalf("remove_subscriber: got %T %+v", m, m)
	}
	admin.publishAck(topic, nil)
	admin.publishAck(topic+".fence", nil)
	evs, other := sub.untilFence(fence)
	if len(evs) != 0 || len(other) != 0 {
		t.Fatalf("after a silent revocation the subscriber got %+v and %+v", evs, other)
	}
	sub.send(&wamp.Unsubscribe{Request: 6, Subscription: id})
	if e, ok := sub.recv().(*wamp.Error); !ok || e.Error != wamp.ErrNoSuchSubscription {
		t.Fatalf("UNSUBSCRIBE of the revoked subscription: got %+v", e)
	}
}

// rawUnacknowledgedBadOptions: an unacknowledged PUBLISH with a bad option
// gets no answer and delivers nothing; the session goes on.
func rawUnacknowledgedBadOptions(t *testing.T, r *router, c codec.Codec) {
	topic := uniqueTopic("badopts")
	sub := dialRaw(t, r, c)
	pub := dialRaw(t, r, c)
	sub.subscribe(topic, nil)
	fence := sub.subscribe(topic+".fence", nil)
	for _, opts := range []wamp.Dict{
		{"exclude": "all"}, {"eligible_authrole": []any{1}}, {"exclude_me": 0}, {"rkey": ""}, {"disclose_me": "please"},
	} {
		pub.send(&wamp.Publish{Request: 7, Topic: topic, Options: opts})
	}
	pub.publishAck(topic+".fence", nil) // the first answer the publisher gets
	if evs, other := sub.untilFence(fence); len(evs)+len(other) != 0 {
		t.Fatalf("refused publications delivered %+v %+v", evs, other)
	}
}
