// Command browser serves a web page that joins the realm with Autobahn|JS:
// it subscribes to a topic a Go component publishes on, calls a procedure
// the Go component registers, and publishes back, which the Go component
// prints.
//
//	npm ci --prefix examples/browser   # once: Autobahn|JS for the page
//	go run ./examples/browser          # then open the URL it prints
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/examples/internal/demo"
	"github.com/junction-wamp/junction/wamp"
)

//go:embed index.html
var indexHTML string

var page = template.Must(template.New("index").Parse(indexHTML))

// main serves until Ctrl-C.
func main() { demo.Serve(run) }

// defaultAutobahn is Autobahn|JS's browser build where npm ci puts it,
// next to this file.
func defaultAutobahn() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "node_modules", "autobahn-browser", "autobahn.min.js")
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	out = demo.Output(out) // handlers print from goroutines of their own
	fs := flag.NewFlagSet("browser", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "address of the web page")
	autobahnJS := fs.String("autobahn", defaultAutobahn(), "Autobahn|JS browser build (autobahn.min.js)")
	rt, err := demo.Setup(fs, args)
	if err != nil {
		return err
	}
	defer rt.Stop()
	if _, err := os.Stat(*autobahnJS); err != nil {
		return fmt.Errorf("Autobahn|JS not found (%v): run npm ci --prefix examples/browser", err)
	}

	// The Go side: a procedure, a ticking topic, and what the browser says.
	s, err := client.Dial(ctx, rt.URL, demo.Realm, &client.Options{Reconnect: &client.Reconnect{}})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Close(cctx)
	}()
	if _, err := s.Register(ctx, "com.example.add2", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		var a, b float64
		if err := client.DecodeArgs(inv.Args, &a, &b); err != nil {
			return nil, err
		}
		return &client.Result{Args: wamp.List{a + b}}, nil
	}, nil); err != nil {
		return err
	}
	if _, err := s.Subscribe(ctx, "com.example.browser", func(ev *client.Event) {
		msg, _ := client.Arg[string](ev.Args, 0)
		fmt.Fprintf(out, "browser says: %s\n", msg)
	}, nil); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page.Execute(w, map[string]string{"Router": rt.URL, "Realm": demo.Realm})
	})
	mux.HandleFunc("GET /autobahn.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, *autobahnJS)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	pageURL := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(out, "open %s (router %s)\n", pageURL, rt.URL)

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-tick.C:
			s.Publish(ctx, "com.example.tick", wamp.List{n}, nil, nil)
		case err := <-served:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}
