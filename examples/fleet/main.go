// Command fleet simulates a fleet of devices behind NAT: each agent keeps one
// connection to the router, registers agent.<id>.status and subscribes to
// fleet.config. A controller pushes a new configuration to every agent at
// once and reports how long it took to reach them all, then calls into
// single agents it could not reach directly: the router carries the call
// over the connection the agent opened.
//
//	go run ./examples/fleet [-agents 2000] [-url rs://127.0.0.1:8080]
//
// Agents dial from 127.0.0.2, 127.0.0.3, ... as devices behind many NATs
// would when the router is on the loopback interface. Each agent costs two
// file descriptors when the router runs in the same process: a process may
// open at most 20,000 files here, so keep -agents under about 9,000.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/examples/internal/demo"
	"github.com/junction-wamp/junction/wamp"
)

func main() { demo.Main(run) }

// agent is one simulated device.
type agent struct {
	id      int
	s       *client.Session
	fleet   *fleet
	version atomic.Int64 // the configuration version it runs
	gotAt   atomic.Int64 // when the latest configuration arrived, UnixNano
}

// fleet counts the agents that have the new configuration.
type fleet struct {
	size    int
	reached atomic.Int64
	all     chan struct{} // closed when every agent has it
}

func run(ctx context.Context, args []string, out io.Writer) error {
	out = demo.Output(out) // handlers print from goroutines of their own
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	n := fs.Int("agents", 2000, "number of agents")
	calls := fs.Int("calls", 3, "calls into single agents")
	rt, err := demo.Setup(fs, args)
	if err != nil {
		return err
	}
	defer rt.Stop()
	u := rt.URL
	if rt.Addr != "" {
		u = "rs://" + rt.Addr // RawSocket: the lighter framing for many devices
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	start := time.Now()
	fl := &fleet{size: *n, all: make(chan struct{})}
	agents, err := connect(ctx, u, fl)
	defer func() {
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.s.Close(ctx)
			}()
		}
		wg.Wait()
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d agents connected in %v\n", len(agents), time.Since(start).Round(time.Millisecond))

	controller, err := client.Dial(ctx, u, demo.Realm, &client.Options{Serializer: wamp.FormatMsgPack})
	if err != nil {
		return err
	}
	defer controller.Close(ctx)

	// Push: one publication, fanned out by the router to every agent.
	pushed := time.Now()
	if _, err := controller.Publish(ctx, "fleet.config", nil, wamp.Dict{"version": 2, "sample_rate_hz": 50},
		client.PublishOptions{Acknowledge: true}.Dict()); err != nil {
		return err
	}
	select {
	case <-fl.all:
	case <-ctx.Done():
		return fmt.Errorf("the configuration reached %d of %d agents", fl.reached.Load(), len(agents))
	}
	lat := make([]time.Duration, len(agents))
	for i, a := range agents {
		lat[i] = time.Duration(a.gotAt.Load() - pushed.UnixNano())
	}
	slices.Sort(lat)
	fmt.Fprintf(out, "configuration v2 reached all %d agents in %v (median %v, p99 %v)\n", len(agents),
		lat[len(lat)-1].Round(time.Microsecond), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))

	// Reverse the direction: the controller calls into single devices.
	for range *calls {
		a := agents[rand.N(len(agents))]
		t0 := time.Now()
		res, err := controller.Call(ctx, fmt.Sprintf("agent.%d.status", a.id), nil, nil, nil)
		if err != nil {
			return err
		}
		id, _ := client.Kwarg[int](res.Kwargs, "id")
		version, _ := client.Kwarg[int](res.Kwargs, "config_version")
		fmt.Fprintf(out, "agent.%d.status: id %d, config v%d (%v)\n", a.id, id, version, time.Since(t0).Round(time.Microsecond))
		if id != a.id || version != 2 {
			return fmt.Errorf("agent %d answered id %d, version %d", a.id, id, version)
		}
	}
	return nil
}

// connect starts n agents, a few dozen connecting at a time.
func connect(ctx context.Context, routerURL string, fl *fleet) ([]*agent, error) {
	n := fl.size
	spread := loopback(routerURL)
	agents := make([]*agent, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     atomic.Int64
	)
	for range min(n, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				a, err := startAgent(ctx, routerURL, i, spread, fl)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("agent %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				agents[i] = a
			}
		}()
	}
	wg.Wait()
	started := slices.DeleteFunc(agents, func(a *agent) bool { return a == nil })
	return started, firstErr
}

// loopback reports whether the router is on 127.0.0.0/8, so that agents can
// dial from different loopback addresses.
func loopback(routerURL string) bool {
	u, err := url.Parse(routerURL)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}

func startAgent(ctx context.Context, routerURL string, id int, spread bool, fl *fleet) (*agent, error) {
	a := &agent{id: id, fleet: fl}
	a.version.Store(1)
	d := &net.Dialer{Timeout: 10 * time.Second}
	if spread {
		// 127.0.0.2 to 127.0.0.251: 250 "sites".
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+id%250))}
	}
	s, err := client.Dial(ctx, routerURL, demo.Realm, &client.Options{
		Serializer: wamp.FormatMsgPack, Dialer: d, ReadBufferSize: 512, AuthID: fmt.Sprintf("agent-%d", id),
	})
	if err != nil {
		return nil, err
	}
	a.s = s
	if _, err := s.Register(ctx, fmt.Sprintf("agent.%d.status", id), func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Kwargs: wamp.Dict{"id": id, "config_version": a.version.Load()}}, nil
	}, nil); err != nil {
		s.Close(ctx)
		return nil, err
	}
	if _, err := s.Subscribe(ctx, "fleet.config", func(ev *client.Event) {
		v, err := client.Kwarg[int64](ev.Kwargs, "version")
		if err != nil {
			return
		}
		a.gotAt.Store(time.Now().UnixNano())
		if a.version.Swap(v) != v && a.fleet.reached.Add(1) == int64(a.fleet.size) {
			close(a.fleet.all)
		}
	}, nil); err != nil {
		s.Close(ctx)
		return nil, err
	}
	return a, nil
}
