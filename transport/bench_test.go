package transport

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// benchServer serves a Server with the given engine until the benchmark
// ends.
func benchServer(b *testing.B, engine string) *testServer {
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Router: rt, Engine: engine}
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
	return &testServer{Server: s, ln: ln, network: "tcp", addr: ln.Addr().String()}
}

// rawSocketClient connects a JSON RawSocket client that has done the
// handshake and nothing else.
func rawSocketClient(b *testing.B, ts *testServer) net.Conn {
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	c.Write([]byte{0x7f, 0xf1, 0, 0})
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSend measures Peer.Send of a fanned-out EVENT (encoded once, as
// the broker does) to a RawSocket client that reads as fast as it can: the
// cost of framing onto the pending bytes, with the engine's batched writes
// running alongside.
func BenchmarkSend(b *testing.B) {
	for _, engine := range engines() {
		b.Run(engine, func(b *testing.B) {
			ts := benchServer(b, engine)
			c := rawSocketClient(b, ts)
			sc := ts.serverConn(b, c.LocalAddr())
			go io.Copy(io.Discard, c)

			ev := wamp.NewShared(&wamp.Event{Subscription: 1, Publication: 2,
				Payload: wamp.Payload{Args: wamp.List{"hello", 42}, Kwargs: wamp.Dict{"k": "v"}}})
			b.ReportAllocs()
			for b.Loop() {
				for sc.Send(ev) != nil {
					// Queue full: let the writer catch up.
				}
			}
		})
	}
}

// BenchmarkReceive measures the read path: a client writes batches of 64
// small PUBLISH messages (nobody subscribes, each acknowledged), and the
// server reads, parses, decodes and routes them and sends the PUBLISHED.
// Per message.
func BenchmarkReceive(b *testing.B) {
	for _, engine := range engines() {
		b.Run(engine, func(b *testing.B) {
			ts := benchServer(b, engine)
			c := rawSocketClient(b, ts)
			hello, _ := codec.JSON.Encode(nil, &wamp.Hello{Realm: "realm1", Details: clientRoles})
			var batch []byte
			batch = append(batch, 0, byte(len(hello)>>16), byte(len(hello)>>8), byte(len(hello)))
			batch = append(batch, hello...)
			c.Write(batch)
			var hdr [4]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyN(io.Discard, c, int64(int(hdr[1])<<16|int(hdr[2])<<8|int(hdr[3]))); err != nil { // the WELCOME
				b.Fatal(err)
			}
			// Count the PUBLISHED replies: one per message routed.
			var acked atomic.Int64
			go func() {
				r := bufio.NewReaderSize(c, 64<<10)
				var hdr [4]byte
				for {
					if _, err := io.ReadFull(r, hdr[:]); err != nil {
						return
					}
					n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
					if _, err := r.Discard(n); err != nil {
						return
					}
					acked.Add(1)
				}
			}()
			batch = batch[:0]
			for range 64 {
				p, _ := codec.JSON.Encode(nil, &wamp.Publish{Request: 1, Topic: "com.bench.nobody", Options: wamp.Dict{"acknowledge": true}, Payload: wamp.Payload{Args: wamp.List{"payload"}}})
				batch = append(batch, 0, byte(len(p)>>16), byte(len(p)>>8), byte(len(p)))
				batch = append(batch, p...)
			}
			received := func() int { return int(acked.Load()) }
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				c.Write(batch)
				sent += 64
				for received() < sent-4*64 {
					runtime.Gosched() // stay at most four batches ahead
				}
			}
			for received() < sent {
				runtime.Gosched()
			}
		})
	}
}

// BenchmarkSendDeflateBeside measures what a large message's compression
// costs the other senders to the same connection: one goroutine sends
// RESULTs of 256 KiB of compressible JSON to a WebSocket client with
// permessage-deflate while the benchmark sends small ones (under
// websocket.MinDeflateSize, never compressed) to the same connection, and
// reports the slowest small Send (max-µs) beside the mean.
func BenchmarkSendDeflateBeside(b *testing.B) {
	for _, engine := range engines() {
		b.Run(engine, func(b *testing.B) {
			rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := Listen("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := &Server{Router: rt, Engine: engine, Deflate: true, OutboundQueue: 1 << 30}
			go s.Serve(ln)
			b.Cleanup(func() { s.Close() })
			ts := &testServer{Server: s, ln: ln, network: "tcp", addr: ln.Addr().String()}
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
				"Sec-WebSocket-Protocol: wamp.2.json\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				if strings.HasPrefix(line, "Sec-WebSocket-Extensions") && !strings.Contains(line, "permessage-deflate") {
					b.Fatal("permessage-deflate not negotiated")
				}
				if line == "\r\n" {
					break
				}
			}
			go io.Copy(io.Discard, br)
			sc := ts.serverConn(b, c.LocalAddr())

			var rec bytes.Buffer
			rec.WriteString("[")
			for i := 0; rec.Len() < 256<<10; i++ {
				fmt.Fprintf(&rec, `{"id":"sensor-%02d","temp":%d.%d,"ok":%v},`, i%40, 15+i%11, (i*7)%10, i%5 != 0)
			}
			large := &wamp.Result{Request: 1, Details: wamp.Dict{}, Payload: wamp.Payload{Format: wamp.FormatJSON, RawArgs: append(rec.Bytes()[:rec.Len()-1], ']')}}
			small := &wamp.Result{Request: 2, Details: wamp.Dict{}}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					sc.Send(large)
				}
			}()
			var worst time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				sc.Send(small)
				worst = max(worst, time.Since(t0))
			}
			b.StopTimer()
			close(stop)
			<-done
			b.ReportMetric(float64(worst.Microseconds()), "max-µs")
		})
	}
}
