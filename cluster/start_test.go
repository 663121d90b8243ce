package cluster

import (
	"net"
	"strings"
	"testing"
)

// TestRoutePortTaken: a node whose route port another process listens on
// fails to start with the embedded server's own error, not a timeout.
func TestRoutePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n, err := Start(Config{NodeName: "taken", Listen: ln.Addr().String()})
	if err == nil {
		n.Close()
		t.Fatal("a node started on a route port that is taken")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("starting on a taken route port: %v, want the listen error", err)
	}
}

// TestPickedRoutePortTaken: the route port picked for a first node that
// listens on port 0 may be taken before its server listens on it (by
// another process's connection, say); the node then starts on another.
func TestPickedRoutePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	picks := 0
	cfg := Config{NodeName: "picked", Listen: "127.0.0.1:0", pickPort: func() int {
		picks++
		if picks == 1 {
			return taken
		}
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return 0
		}
		defer free.Close()
		return free.Addr().(*net.TCPAddr).Port
	}}
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("a first node whose picked route port was taken: %v", err)
	}
	defer n.Close()
	if picks < 2 { // more if the free one was taken too, as can happen
		t.Fatalf("%d ports picked, want another after the taken one", picks)
	}
	if addr := n.RouteAddr(); addr == ln.Addr().String() || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the node routes on %s, next to the taken %s", addr, ln.Addr())
	}
}
