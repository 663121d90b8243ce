package router

import (
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
