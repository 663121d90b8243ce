package client_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
)

// A *router.Router is what ConnectLocal joins.
var _ client.LocalRouter = (*router.Router)(nil)

// TestClientDoesNotLinkTheRouter: a program that imports the client, to
// dial a router elsewhere, links neither the router nor what the router
// needs (its authenticators, its bbolt event store): ConnectLocal knows
// the router by an interface (LocalRouter) of package router/attach.
func TestClientDoesNotLinkTheRouter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/junction-wamp/junction/client").Output()
	if err != nil {
		t.Fatalf("go list -deps of the client: %v", err)
	}
	const module = "github.com/junction-wamp/junction/"
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == module+"router", strings.HasPrefix(pkg, module+"router/history"),
			pkg == module+"auth", strings.HasPrefix(pkg, "go.etcd.io/bbolt"),
			strings.HasPrefix(pkg, module+"transport/internal"), pkg == module+"cluster":
			t.Errorf("the client links %s", pkg)
		}
	}
}
