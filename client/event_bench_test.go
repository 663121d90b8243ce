package client

import (
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// BenchmarkEventHandoff measures an event's way from the reading goroutine
// to its subscription's handler (queueing, decoding, the handler's call),
// without the connection: the per-event cost of the client.
func BenchmarkEventHandoff(b *testing.B) {
	s, err := newSession("rs://bench", "realm1", nil, wamp.FormatJSON)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 512
	done := make(chan struct{})
	n := 0
	sub := &Subscription{s: s, topic: "com.example.t", handler: func(*Event) {
		if n++; n%batch == 0 {
			done <- struct{}{}
		}
	}}
	m := &wamp.Event{Subscription: 1, Publication: 1, Payload: wamp.Payload{Args: wamp.List{int64(1), "two"}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		for range batch {
			sub.deliver(m)
		}
		<-done
	}
	s.wg.Wait()
}
