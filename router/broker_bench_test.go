package router

import (
	"fmt"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// BenchmarkPublishAdvanced fans one PUBLISH out to 1,000 JSON subscribers
// (one op is one delivered EVENT) with the advanced features that cost
// something per publication or per subscriber, to compare with
// BenchmarkPublish.
func BenchmarkPublishAdvanced(b *testing.B) {
	const subscribers = 1000
	cases := []struct {
		name    string
		match   string
		options wamp.Dict
	}{
		{"acknowledged", "exact", wamp.Dict{"acknowledge": true}},
		{"exclude-eligible-lists", "exact", wamp.Dict{"exclude": []any{uint64(1), uint64(2)}, "eligible_authrole": []any{"anonymous"}}},
		{"disclose-me", "exact", wamp.Dict{"disclose_me": true}},
		{"prefix-subscription", "prefix", nil},
		{"wildcard-subscription", "wildcard", nil},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}})
			pub, _ := benchJoin(b, r, codec.JSON)
			topic := map[string]wamp.URI{"exact": "com.topic.x", "prefix": "com.topic", "wildcard": "com..x"}[tc.match]
			for range subscribers {
				s, _ := benchJoin(b, r, codec.JSON)
				s.Receive(&wamp.Subscribe{Request: 1, Topic: topic, Options: wamp.Dict{"match": tc.match}})
			}
			publish := &wamp.Publish{Topic: "com.topic.x", Options: tc.options, Payload: rawPayload(b, codec.JSON)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += subscribers {
				publish.Request = wamp.ID(i + 1)
				pub.Receive(publish)
			}
		})
	}
}

// BenchmarkSubscribeMany measures one SUBSCRIBE and its UNSUBSCRIBE (one
// op) by a session that already holds some subscriptions, and the same for
// REGISTER and UNREGISTER: the cost must not grow with what the session
// holds. The "other" cases put the same number in the realm, held by
// another session, to tell the cost of a large realm (bigger maps, more
// for the GC to scan) from the cost of a large session.
func BenchmarkSubscribeMany(b *testing.B) {
	type bench struct {
		kind       string
		held       int
		elsewhere  bool
		hold, undo func(s *Session, i int, p *sink)
		want, back wamp.MessageType
	}
	sub, unsub := &wamp.Subscribe{}, &wamp.Unsubscribe{}
	reg, unreg := &wamp.Register{}, &wamp.Unregister{}
	uris := make([]wamp.URI, 1024)
	for i := range uris {
		uris[i] = wamp.URI(fmt.Sprintf("com.new.%d", i))
	}
	var cases []bench
	for _, held := range []int{10, 1000, 100_000} {
		for _, elsewhere := range []bool{false, true} {
			if elsewhere && held != 100_000 {
				continue
			}
			cases = append(cases, bench{"subscribe", held, elsewhere,
				func(s *Session, i int, _ *sink) {
					sub.Request, sub.Topic = wamp.ID(i+1), uris[i%len(uris)]
					s.Receive(sub)
				},
				func(s *Session, i int, p *sink) {
					unsub.Request, unsub.Subscription = wamp.ID(i+1), p.lastSub
					s.Receive(unsub)
				}, wamp.TypeSubscribed, wamp.TypeUnsubscribed})
			cases = append(cases, bench{"register", held, elsewhere,
				func(s *Session, i int, _ *sink) {
					reg.Request, reg.Procedure = wamp.ID(i+1), uris[i%len(uris)]
					s.Receive(reg)
				},
				func(s *Session, i int, p *sink) {
					unreg.Request, unreg.Registration = wamp.ID(i+1), p.lastReg
					s.Receive(unreg)
				}, wamp.TypeRegistered, wamp.TypeUnregistered})
		}
	}
	for _, bc := range cases {
		where := "session"
		if bc.elsewhere {
			where = "other"
		}
		b.Run(fmt.Sprintf("%s/%s=%d", bc.kind, where, bc.held), func(b *testing.B) {
			// Above the default session limits, which would refuse
			// what the largest cases hold.
			limits := SessionLimits{Subscriptions: 2 * bc.held, Registrations: 2 * bc.held}
			r, _ := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true, DisableMetaAPI: true}}, Limits: limits})
			s, p := benchJoin(b, r, codec.JSON)
			holder := s
			if bc.elsewhere {
				holder, _ = benchJoin(b, r, codec.JSON)
			}
			for i := range bc.held {
				if bc.kind == "subscribe" {
					holder.Receive(&wamp.Subscribe{Request: wamp.ID(i + 1), Topic: wamp.URI(fmt.Sprintf("com.held.%d", i))})
				} else {
					holder.Receive(&wamp.Register{Request: wamp.ID(i + 1), Procedure: wamp.URI(fmt.Sprintf("com.held.%d", i))})
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				bc.hold(s, i, p)
				if p.last != bc.want {
					b.Fatalf("%s %d: got %s", bc.kind, i, p.last)
				}
				bc.undo(s, i, p)
				if p.last != bc.back {
					b.Fatalf("un%s %d: got %s", bc.kind, i, p.last)
				}
			}
		})
	}
}
