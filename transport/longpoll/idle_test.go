package longpoll_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/longpoll"
	"github.com/junction-wamp/junction/wamp"
)

// TestIdleLongPoll measures what an idle long-poll session costs the
// router: joined, subscribed and holding a receive (heap and stacks, the
// router session, the held request's connection and goroutine included;
// the client's end of each TCP connection, a few hundred bytes, is counted
// too). It then publishes once and checks that every held receive is
// answered with the event. BENCHMARKS.md quotes its figure, from a run
// without -race: go test -run TestIdleLongPoll -v ./transport/longpoll/
func TestIdleLongPoll(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := longpoll.New(longpoll.Config{Router: rt, RequestTimeout: 10 * time.Minute, SessionTimeout: 10 * time.Minute,
		HelloTimeout: 10 * time.Minute, MaxPerAddress: n + 10})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/lp/", lp)
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt, Handler: mux, HTTP: transport.HTTPLimits{MaxConns: n + 10}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
		srv.Close()
		<-done
		lp.Close()
		rt.Close()
	}()
	addr := ln.Addr().String()

	// open and send on connections that close after the answer: only the
	// held receives keep a connection.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: ioTimeout}
	postOnce := func(url, body string) (int, string) {
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	session := func() net.Conn {
		status, body := postOnce("http://"+addr+"/lp/open", `{"protocols": ["wamp.2.json"]}`)
		var o struct{ Transport string }
		if err := json.Unmarshal([]byte(body), &o); status != 200 || err != nil {
			t.Fatalf("open: %d %s", status, body)
		}
		base := "http://" + addr + "/lp/" + o.Transport
		for _, m := range []string{`[1,"realm1",{"roles":{"subscriber":{}}}]`, `[32,1,{},"com.test.idle"]`} {
			if status, body := postOnce(base+"/send", m); status != 204 {
				t.Fatalf("send: %d %s", status, body)
			}
		}
		// WELCOME, SUBSCRIBED.
		for range 2 {
			if status, body := postOnce(base+"/receive", ""); status != 200 {
				t.Fatalf("receive: %d %s", status, body)
			}
		}
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		fmt.Fprintf(nc, "POST /lp/%s/receive HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", o.Transport, addr)
		return nc
	}
	waitHeld := func(want int64) {
		deadline := time.Now().Add(ioTimeout)
		for lp.Stats().ReceivesHeld < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d receives held, want %d", lp.Stats().ReceivesHeld, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	session() // start the HTTP server and fill the pools before measuring
	waitHeld(1)
	mem0, g0 := memory()
	for range n {
		session()
	}
	waitHeld(int64(n + 1))
	mem1, g1 := memory()
	t.Logf("%.0f bytes and %.2f goroutines per idle long-poll session holding a receive (heap and stacks; %d sessions)",
		float64(mem1-mem0)/float64(n), float64(g1-g0)/float64(n), n)

	// One publication wakes every held receive.
	ws := &lpServer{rt: rt, lp: lp, addr: addr}
	wsc := ws.ws(t)
	if _, err := wsc.Publish(t.Context(), "com.test.idle", wamp.List{"wake up"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	for i, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "wake up") {
			t.Fatalf("session %d: %d %s", i, resp.StatusCode, b)
		}
	}
}

func memory() (int64, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse), runtime.NumGoroutine()
}
