package router

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// sink is a Peer that encodes every message into one reused buffer, the
// work a transport does in Send, and keeps nothing.
type sink struct {
	c    codec.Codec
	buf  []byte
	last wamp.MessageType
	lastIDs
}

// lastIDs keeps the ids the router gave a test peer last, for the
// messages that must name them (YIELD, UNSUBSCRIBE, UNREGISTER).
type lastIDs struct {
	lastInv wamp.ID // request id of the last INVOCATION
	lastSub wamp.ID // subscription id of the last SUBSCRIBED
	lastReg wamp.ID // registration id of the last REGISTERED
}

func (l *lastIDs) note(m wamp.Message) {
	switch m := m.(type) {
	case *wamp.Invocation:
		l.lastInv = m.Request
	case *wamp.Subscribed:
		l.lastSub = m.Subscription
	case *wamp.Registered:
		l.lastReg = m.Registration
	}
}

// Send encodes m; like a transport it keeps nothing of m but what it copies.
func (p *sink) Send(m wamp.Message) error {
	var err error
	p.buf, err = p.c.Encode(p.buf[:0], m)
	p.last = m.Type()
	p.lastIDs.note(m)
	return err
}

func (p *sink) Close() {}

func benchJoin(b *testing.B, r *Router, c codec.Codec) (*Session, *sink) {
	p := &sink{c: c}
	s := r.Attach(p, TransportInfo{Kind: "bench"})
	s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	if p.last != wamp.TypeWelcome {
		b.Fatal("no WELCOME")
	}
	return s, p
}

// rawPayload is a payload as it arrives from the network: raw bytes.
func rawPayload(b *testing.B, c codec.Codec) wamp.Payload {
	enc, err := c.Encode(nil, &wamp.Publish{Request: 1, Topic: "t", Payload: wamp.Payload{Args: wamp.List{"0123456789012345678901234567890123456789012345678901234567890123"}}})
	if err != nil {
		b.Fatal(err)
	}
	m, err := c.Decode(enc)
	if err != nil {
		b.Fatal(err)
	}
	return m.(*wamp.Publish).Payload
}

// BenchmarkCall routes CALL -> INVOCATION -> YIELD -> RESULT, one call per
// op, with a 64-byte raw payload through sessions of one serializer.
func BenchmarkCall(b *testing.B) {
	for _, c := range codec.All {
		b.Run(c.Format().String(), func(b *testing.B) {
			r, _ := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}})
			callee, cp := benchJoin(b, r, c)
			caller, _ := benchJoin(b, r, c)
			callee.Receive(&wamp.Register{Request: 1, Procedure: "com.echo"})
			payload := rawPayload(b, c)
			call := &wamp.Call{Request: 1, Procedure: "com.echo", Payload: payload}
			yield := &wamp.Yield{Payload: payload}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				call.Request = wamp.ID(i + 1)
				caller.Receive(call)
				yield.Request = cp.lastInv
				callee.Receive(yield)
			}
		})
	}
}

// BenchmarkPublish fans one PUBLISH out to 1,000 subscribers (one op is
// one delivered EVENT), subscribers split over the three serializers.
func BenchmarkPublish(b *testing.B) {
	const subscribers = 1000
	for _, mixed := range []bool{false, true} {
		name := "one-serializer"
		if mixed {
			name = "three-serializers"
		}
		b.Run(name, func(b *testing.B) {
			r, _ := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}})
			pub, _ := benchJoin(b, r, codec.JSON)
			for i := range subscribers {
				c := codec.JSON
				if mixed {
					c = codec.All[i%3]
				}
				s, _ := benchJoin(b, r, c)
				s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.topic"})
			}
			publish := &wamp.Publish{Topic: "com.topic", Payload: rawPayload(b, codec.JSON)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += subscribers {
				publish.Request = wamp.ID(i + 1)
				pub.Receive(publish)
			}
		})
	}
}

// BenchmarkSessionMemory reports the heap one idle session costs the
// router: joined, subscribed to a topic (shared by all, or one of its own)
// and, in the last case, with one registration. The transport's cost per
// connection comes on top (see package transport).
func BenchmarkSessionMemory(b *testing.B) {
	cases := []struct {
		name     string
		ownTopic bool
		register bool
	}{
		{"joined+subscribed-shared-topic", false, false},
		{"joined+subscribed-own-topic", true, false},
		{"joined+subscribed+registered", true, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			const n = 10000
			var perSession float64
			for range b.N {
				r, _ := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}}})
				peers := make([]sink, n) // the peers are the transport's, not counted
				before := heapInUse()
				sessions := make([]*Session, n)
				for i := range sessions {
					peers[i].c = codec.JSON
					s := r.Attach(&peers[i], TransportInfo{Kind: "bench", Serializer: "json", RemoteAddr: "127.0.0.1:40000"})
					s.Receive(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"subscriber": wamp.Dict{}, "callee": wamp.Dict{}}}})
					topic := wamp.URI("com.fleet.broadcast")
					if tc.ownTopic {
						topic = wamp.URI(fmt.Sprintf("com.fleet.device.%d", i))
					}
					s.Receive(&wamp.Subscribe{Request: 1, Topic: topic})
					if tc.register {
						s.Receive(&wamp.Register{Request: 2, Procedure: wamp.URI(fmt.Sprintf("com.fleet.device.%d.reboot", i))})
					}
					sessions[i] = s
					peers[i].buf = nil // the transport's buffer, not the session's
				}
				perSession = float64(heapInUse()-before) / n
				runtime.KeepAlive(sessions)
				runtime.KeepAlive(peers)
			}
			b.ReportMetric(perSession, "bytes/session")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
