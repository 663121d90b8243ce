package transport_test

import (
	"context"
	"log"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
)

// A router serving WebSocket (ws://127.0.0.1:8080/ws) and RawSocket on one
// port, shut down politely.
func ExampleServer() {
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := transport.Listen("127.0.0.1:0") // or "unix:/run/junction.sock"
	if err != nil {
		log.Fatal(err)
	}
	srv := &transport.Server{
		Router:       rt,
		PingInterval: 30 * time.Second,
	}
	go func() {
		// Stop after a while; a real server would wait for a signal.
		time.Sleep(10 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)  // GOODBYE to every session...
		srv.Shutdown(ctx) // ...and wait for the connections to close.
	}()
	if err := srv.Serve(ln); err != nil {
		log.Fatal(err)
	}
	// Output:
}
