package router

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// ackPeer is a Peer that reports every answer to a PUBLISH on a channel.
type ackPeer struct {
	answers chan wamp.Message
}

func (p *ackPeer) Send(m wamp.Message) error {
	switch m := wamp.Unwrap(m).(type) {
	case *wamp.Published:
		c := *m
		p.answers <- &c
	case *wamp.Error:
		c := *m
		p.answers <- &c
	}
	return nil
}

func (p *ackPeer) Close() {}

// BenchmarkPublishAcknowledgedHistory publishes acknowledged events to a
// topic with event history (one op is one publication answered), with
// window publications in flight: it measures what waiting for the
// history to be on disk before PUBLISHED costs, and how much of it the
// writer's batching (one fsync per batch) wins back.
func BenchmarkPublishAcknowledgedHistory(b *testing.B) {
	for _, window := range []int{1, 16, 256, 4096} {
		b.Run(fmt.Sprintf("inflight=%d", window), func(b *testing.B) {
			r, err := New(Config{
				Realms:      []RealmConfig{{Name: "realm1", Anonymous: true, History: []HistoryRule{{Match: wamp.MatchExact, Topic: "com.hist", Limit: 10000}}}},
				HistoryPath: filepath.Join(b.TempDir(), "h.db"),
			})
			if err != nil {
				b.Fatal(err)
			}
			p := &ackPeer{answers: make(chan wamp.Message, window+1)}
			s := r.Attach(p, TransportInfo{Kind: "bench", Serializer: "json"})
			s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
			payload := rawPayload(b, codec.JSON)
			m := &wamp.Publish{Topic: "com.hist", Options: wamp.Dict{"acknowledge": true}}
			inflight, refused := 0, 0
			answer := func() {
				if _, ok := (<-p.answers).(*wamp.Error); ok {
					refused++
				}
				inflight--
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for inflight >= window {
					answer()
				}
				m.Request, m.Payload = wamp.ID(i+1), payload
				s.Receive(m)
				inflight++
			}
			for inflight > 0 {
				answer()
			}
			b.StopTimer()
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pubs/s")
			b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
			st := r.HistoryStats()
			b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
		})
	}
}
