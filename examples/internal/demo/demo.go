// Package demo gives the examples a router to run against: the one at the
// URL the user named, or a Junction router started in the example's own
// process on a loopback port, so that each example runs with one command.
// It also holds what every example's main does. The WAMP itself (dialing,
// subscribing, publishing, registering, calling) stays in the examples.
package demo

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// Realm is the realm the examples use.
const Realm = "realm1"

// Router is a router for an example.
type Router struct {
	// URL is the router's address, ws://host:port/ws.
	URL string
	// Addr is host:port of a router started here ("" for one named by URL);
	// RawSocket clients reach it at rs://Addr.
	Addr   string
	Router *router.Router // nil for a router named by URL
	srv    *transport.Server
	done   chan struct{}
}

// Func is an example: it runs with the command line's arguments and prints
// to out, until it is done or ctx ends.
type Func func(ctx context.Context, args []string, out io.Writer) error

// Main runs an example with the command line and standard output, and exits
// with the error it returns.
func Main(run Func) { mainContext(context.Background(), run) }

// Serve is Main for an example that serves until it is interrupted: Ctrl-C
// ends run's context.
func Serve(run Func) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	mainContext(ctx, run)
}

func mainContext(ctx context.Context, run Func) {
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// Setup parses an example's arguments with fs, to which it adds the -url
// flag every example takes, and returns the router that -url names or,
// without -url, one it starts in this process. The caller stops it.
func Setup(fs *flag.FlagSet, args []string) (*Router, error) {
	url := fs.String("url", "", "router URL (ws://, rs://...); empty: start a router in this process")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return start(*url)
}

// start returns the router at url, or starts one when url is empty.
func start(url string) (*Router, error) {
	if url != "" {
		return &Router{URL: url}, nil
	}
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: wamp.URI(Realm), Anonymous: true}}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting a router: %w", err)
	}
	d := &Router{URL: "ws://" + ln.Addr().String() + "/ws", Addr: ln.Addr().String(), Router: r,
		srv: &transport.Server{Router: r}, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.srv.Serve(ln)
	}()
	return d, nil
}

// Stop shuts a router started here down (sessions get GOODBYE).
func (d *Router) Stop() {
	if d.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.Router.Shutdown(ctx)
	d.srv.Shutdown(ctx)
	<-d.done
}

// Output serializes writes to w: an example prints from its handlers, which
// run on goroutines of their own, and from its main flow.
func Output(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
