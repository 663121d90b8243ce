package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream, which keeps the cluster's event store (store.go).

// storeDir returns the embedded server's JetStream directory and its
// server name. With Config.StoreDir the name is kept in the directory
// (file node-name), made once from the node name and a random suffix:
// JetStream knows its peers by server name, so a restarted node must keep
// it to find its replicas again; the suffix keeps nodes that share a host
// name (the default node name) apart.
func (n *Node) storeDir() (dir, name string, err error) {
	fresh := n.cfg.NodeName + "-" + strings.ToLower(rand.Text()[:10])
	if n.cfg.StoreDir == "" {
		if dir, err = os.MkdirTemp("", "junction-jetstream-"); err != nil {
			return "", "", fmt.Errorf("cluster: making a temporary JetStream directory: %w", err)
		}
		n.tmpDir = dir
		return dir, fresh, nil
	}
	dir = n.cfg.StoreDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("cluster: JetStream directory: %w", err)
	}
	path := filepath.Join(dir, "node-name")
	b, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(b)) != "":
		return dir, strings.TrimSpace(string(b)), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("cluster: reading this node's JetStream name: %w", err)
	}
	if err := os.WriteFile(path, []byte(fresh+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("cluster: keeping this node's JetStream name: %w", err)
	}
	return dir, fresh, nil
}

// startJetStream gets the JetStream context of the node's connection and
// picks the number of replicas. With an existing NATS it asks whether
// JetStream runs there: when it does not, the node still routes, but
// retained events stay per node and realms with history cannot start
// (OpenStore says why), and the log says so now.
func (n *Node) startJetStream() error {
	js, err := jetstream.New(n.nc, jetstream.WithPublishAsyncTimeout(storeTimeout), jetstream.WithPublishAsyncMaxPending(2*storeBatch))
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	n.replicas = n.cfg.Replicas
	if n.ns != nil {
		if n.replicas == 0 {
			n.replicas = min(3, n.knownNodes())
		}
		n.js = js
		return nil
	}
	if n.replicas == 0 {
		n.replicas = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	switch {
	case err == nil:
		n.js = js
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		n.jsErr = fmt.Errorf("the NATS at %s does not run JetStream (%v): enable it on its servers (nats-server -js, or a jetstream block in their configuration)",
			n.nc.ConnectedUrlRedacted(), err)
		n.log.Warn("cluster: " + n.jsErr.Error() + "; until then retained events stay on the node that retained them, and realms with event history cannot start")
	default:
		// JetStream may run but not answer yet (a NATS cluster electing
		// its JetStream leader): the store retries.
		n.js = js
		n.log.Warn("cluster: no answer from JetStream at start; the event store will retry", "err", err)
	}
	return nil
}

// knownNodes counts this node and the distinct other nodes it joins.
func (n *Node) knownNodes() int {
	self := map[string]bool{n.cfg.Listen: true, n.RouteAddr(): true}
	seen := map[string]bool{}
	for _, j := range n.cfg.Join {
		if !self[j] {
			seen[j] = true
		}
	}
	return 1 + len(seen)
}
