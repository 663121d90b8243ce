package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestServeRollingRestart is the README's rolling restart ("Clustering"),
// with three `junction serve` processes. Each node listens for clients on
// a fixed port (so that a restarted node is where clients look for it)
// and has a fixed route port that every node joins. Clients of the Go
// client library reconnect (client.Reconnect with the other nodes' URLs):
// a callee of a `single` procedure and a subscriber start on node 1, a
// subscriber on node 2, a caller and publisher on node 3. The nodes are
// stopped with SIGTERM one at a time, in order, and started again; after
// each stop and after each restart:
//   - the sessions of the stopped node reconnected to another node and
//     subscribed and registered again, with nothing refused (a
//     registration left behind by the stopped node would refuse the
//     callee's REGISTER);
//   - a call from every running node reaches the callee, and a REGISTER
//     of the same procedure on every running node is refused with
//     wamp.error.procedure_already_exists: the registration is known
//     everywhere, once;
//   - a publication reaches both subscribers;
//   - meanwhile a caller calls every 20 ms throughout: no call waits for
//     its 5 s timeout (a call fails only while its callee or caller
//     moves: no_such_procedure, canceled, or a lost connection).
func TestServeRollingRestart(t *testing.T) {
	dir := t.TempDir()
	// Fixed ports: clients come back to a restarted node at its address,
	// so each node's ports must stay free while it is down. These are
	// below the kernel's ephemeral range (32768-60999), so no outgoing
	// connection takes one meanwhile, as could happen to a port picked
	// with :0 and closed; no other test uses them (two runs of this test
	// at once on one machine would collide).
	listen := []string{"127.0.0.1:21661", "127.0.0.1:21662", "127.0.0.1:21663"}
	routes := []string{"127.0.0.1:6391", "127.0.0.1:6392", "127.0.0.1:6393"}
	names := []string{"n1", "n2", "n3"}
	urls := make([]string, 3)
	cfgs := make([]string, 3)
	// A stopped node says goodbye and is forgotten at once: the node
	// timeout matters only to a node taken for dead, which must not
	// happen here, also on a loaded machine that delays heartbeats.
	for i := range names {
		urls[i] = "rs://" + listen[i]
		cfgs[i] = filepath.Join(dir, names[i]+".yaml")
		cfg := fmt.Sprintf("listeners:\n  - address: %s\ncluster:\n  node: %s\n  listen: %s\n  join: [%s, %s, %s]\n"+
			"  heartbeat_interval: 100ms\n  node_timeout: 10s\nlimits:\n  shutdown_timeout: 5s\n",
			listen[i], names[i], routes[i], routes[0], routes[1], routes[2])
		if err := os.WriteFile(cfgs[i], []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := func(i int) *serveProc {
		p := startServe(t, dir, nil, "--config", cfgs[i])
		p.address(t)
		return p
	}
	procs := make([]*serveProc, 3)
	for i := range procs {
		procs[i] = start(i)
	}
	// On a failure, what the nodes said about the cluster.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, p := range procs {
			for _, l := range strings.Split(p.logText(), "\n") {
				if strings.Contains(l, "cluster") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					t.Logf("%s: %s", names[i], l)
				}
			}
		}
	})
	// met waits until node i heard from the two others.
	met := func(i int) {
		t.Helper()
		for j, name := range names {
			if j != i {
				procs[i].waitLog(t, "peer="+name+" ")
			}
		}
	}
	for i := range procs {
		met(i)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// dial connects a reconnecting session to node i; reconnects reports
	// each reconnect.
	type reconnect struct {
		who string
		r   client.Reconnected
	}
	reconnects := make(chan reconnect, 100)
	dial := func(who string, i int) *client.Session {
		t.Helper()
		others := []string{urls[(i+1)%3], urls[(i+2)%3]}
		s, err := client.Dial(ctx, urls[i], "realm1", &client.Options{Reconnect: &client.Reconnect{
			MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond, URLs: others,
			OnReconnect: func(r client.Reconnected) { reconnects <- reconnect{who, r} },
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}

	const proc, topic = "com.example.roll.echo", "com.example.roll.tick"
	callee := dial("callee", 0)
	if _, err := callee.Register(ctx, proc, func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	var subs [2]chan *client.Event
	for k, i := range []int{0, 1} {
		subs[k] = make(chan *client.Event, 1000)
		ch := subs[k]
		if _, err := dial(fmt.Sprintf("subscriber%d", k+1), i).Subscribe(ctx, topic, func(ev *client.Event) { ch <- ev }, nil); err != nil {
			t.Fatal(err)
		}
	}
	caller := dial("caller", 2)

	// The background caller.
	var (
		bgMu     sync.Mutex
		bgOK     int
		bgFailed = map[string]int{}
		bgSlow   time.Duration // the longest call
		bgStart  = time.Now()
	)
	bgCtx, bgStop := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		for n := 0; bgCtx.Err() == nil; n++ {
			cctx, ccancel := context.WithTimeout(bgCtx, 5*time.Second)
			began := time.Now()
			_, err := caller.Call(cctx, proc, wamp.List{n}, nil, nil)
			ccancel()
			bgMu.Lock()
			bgSlow = max(bgSlow, time.Since(began))
			switch {
			case err == nil:
				bgOK++
			case bgCtx.Err() != nil:
			default:
				var we *client.Error
				key := err.Error()
				if errors.As(err, &we) {
					key = string(we.URI)
				} else if errors.Is(err, client.ErrConnectionLost) {
					key = "connection lost"
				} else if errors.Is(err, context.DeadlineExceeded) {
					key = "timeout"
				}
				bgFailed[key]++
			}
			bgMu.Unlock()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-bgCtx.Done():
			}
		}
	}()

	// check: the registration is known once on every running node, calls
	// from each reach it, and a publication reaches both subscribers.
	round := 0
	check := func(running []int) {
		t.Helper()
		round++
		for _, i := range running {
			probe, err := client.Dial(ctx, urls[i], "realm1", nil)
			if err != nil {
				t.Fatalf("round %d: dialing %s: %v", round, names[i], err)
			}
			// The callee's registration reaches the other nodes a moment
			// after REGISTERED: call until it is there.
			for {
				res, err := probe.Call(ctx, proc, wamp.List{round}, nil, nil)
				if err == nil {
					if n, _ := wamp.AsInt(res.Args[0]); n != int64(round) {
						t.Fatalf("round %d: call from %s: %v", round, names[i], res.Args)
					}
					break
				}
				var we *client.Error
				if !errors.As(err, &we) || we.URI != wamp.ErrNoSuchProcedure {
					t.Fatalf("round %d: call from %s: %v", round, names[i], err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			_, err = probe.Register(ctx, proc, func(context.Context, *client.Invocation) (*client.Result, error) { return nil, nil }, nil)
			var we *client.Error
			if !errors.As(err, &we) || we.URI != wamp.ErrProcedureAlreadyExists {
				t.Fatalf("round %d: a second REGISTER on %s: %v, want %s", round, names[i], err, wamp.ErrProcedureAlreadyExists)
			}
			probe.Close(ctx)
		}
		// Publish until both subscribers have an event of this round: a
		// subscription made again reaches the publisher's node a moment
		// after SUBSCRIBED.
		got := [2]bool{}
		for !got[0] || !got[1] {
			if _, err := caller.Publish(ctx, topic, wamp.List{round}, nil, wamp.Dict{"acknowledge": true}); err != nil {
				t.Fatalf("round %d: publish: %v", round, err)
			}
			for k := range subs {
			drain:
				for {
					select {
					case ev := <-subs[k]:
						if n, _ := wamp.AsInt(ev.Args[0]); n == int64(round) {
							got[k] = true
						}
					default:
						break drain
					}
				}
			}
			if !got[0] || !got[1] {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	check([]int{0, 1, 2})

	// Which sessions each node's stop moves: they start where dial put
	// them and move to the next URL of their list.
	at := map[string]int{"callee": 0, "subscriber1": 0, "subscriber2": 1, "caller": 2}
	for i := range procs {
		var moving []string
		for who, node := range at {
			if node == i {
				moving = append(moving, who)
			}
		}
		slices.Sort(moving)
		procs[i].signal(t, syscall.SIGTERM)
		if code := procs[i].wait(t); code != 0 {
			t.Fatalf("%s exited with %d:\n%s", names[i], code, procs[i].logText())
		}
		var moved []string
		for len(moved) < len(moving) {
			select {
			case r := <-reconnects:
				if len(r.r.Failed) > 0 {
					t.Fatalf("%s reconnected to %s with %v", r.who, r.r.URL, r.r.Failed)
				}
				if r.r.URL == urls[i] {
					t.Fatalf("%s reconnected to the stopped node", r.who)
				}
				moved = append(moved, r.who)
				at[r.who] = slices.Index(urls, r.r.URL)
			case <-ctx.Done():
				t.Fatalf("after stopping %s: %v of %v reconnected", names[i], moved, moving)
			}
		}
		slices.Sort(moved)
		if !slices.Equal(moved, moving) {
			t.Fatalf("after stopping %s: %v reconnected, want %v", names[i], moved, moving)
		}
		var running []int
		for j := range procs {
			if j != i {
				running = append(running, j)
			}
		}
		check(running)

		procs[i] = start(i)
		met(i)
		check([]int{0, 1, 2})
	}

	bgStop()
	<-bgDone
	bgMu.Lock()
	defer bgMu.Unlock()
	t.Logf("background calls over %v: %d answered, failed: %v; the longest took %v", time.Since(bgStart).Round(time.Millisecond), bgOK, bgFailed, bgSlow)
	if bgFailed["timeout"] > 0 {
		t.Fatalf("%d background calls waited for their timeout", bgFailed["timeout"])
	}
	for k := range bgFailed {
		if k != string(wamp.ErrNoSuchProcedure) && k != string(wamp.ErrCanceled) && k != "connection lost" {
			t.Errorf("background calls failed with %s (%d)", k, bgFailed[k])
		}
	}
	if bgOK == 0 {
		t.Fatal("no background call was answered")
	}
}
