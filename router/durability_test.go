package router

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestAcknowledgedPublicationWaitsForTheHistory checks that PUBLISHED for
// a publication to a topic with history comes only once the history has it
// on disk, while the subscribers get it at once, and that an
// unacknowledged publication or one to a topic without history is not held
// up.
func TestAcknowledgedPublicationWaitsForTheHistory(t *testing.T) {
	g := newWriterGate()
	r := newGatedHistoryRouter(t, g)
	pub := join(t, r, codec.JSON)
	sub := join(t, r, codec.CBOR)
	subID := subscribe(t, sub, "com.hist.x", nil)
	heldPublication(t, g, pub) // the writer is held with a batch
	wantEvent(t, sub)

	pub.s.Receive(&wamp.Publish{Request: 2, Topic: "com.hist.x", Options: wamp.Dict{"acknowledge": true}, Payload: wamp.Payload{Args: wamp.List{"kept"}}})
	ev := wantEvent(t, sub) // delivered at once
	pub.s.Receive(&wamp.Publish{Request: 3, Topic: "com.other", Options: wamp.Dict{"acknowledge": true}})
	if ack, ok := pub.recv().(*wamp.Published); !ok || ack.Request != 3 {
		t.Fatalf("publication without history: want PUBLISHED 3 at once, got %+v", ack)
	}
	pub.none() // no PUBLISHED 2 while the publication is not on disk

	g.release()
	ack, ok := pub.recv().(*wamp.Published)
	if !ok || ack.Request != 2 || ack.Publication != ev.Publication {
		t.Fatalf("want PUBLISHED 2 for publication %d once written, got %+v", ev.Publication, ack)
	}
	if got := publications(getEvents(t, sub, subID, nil)); len(got) != 2 || got[1] != int64(ev.Publication) {
		t.Fatalf("history %v, want the held publication and %d", got, ev.Publication)
	}
}

// TestAcknowledgedPublicationRefusedWhenTheHistoryIsFull checks that an
// acknowledged publication the history has no room for is refused with
// ERROR wamp.error.limit_exceeded, and not delivered: never PUBLISHED for
// an event the history lost.
func TestAcknowledgedPublicationRefusedWhenTheHistoryIsFull(t *testing.T) {
	g := newWriterGate()
	r := newGatedHistoryRouter(t, g)
	pub := join(t, r, codec.JSON)
	sub := join(t, r, codec.JSON)
	subscribe(t, sub, "com.hist.y", nil)
	heldPublication(t, g, pub)
	for i := range history.DefaultQueueEvents { // fill the queue behind the held batch
		pub.s.Receive(&wamp.Publish{Request: wamp.ID(10 + i), Topic: "com.hist.x"})
	}

	pub.s.Receive(&wamp.Publish{Request: 2, Topic: "com.hist.y", Options: wamp.Dict{"acknowledge": true}})
	e := wantError(t, pub, wamp.TypePublish, 2, wamp.ErrLimitExceeded)
	args, _ := payloadOf(t, &e.Payload)
	if msg := fmt.Sprint(args); !strings.Contains(msg, "write queue is full") || !strings.Contains(msg, "not published") {
		t.Fatalf("ERROR says %s", msg)
	}
	sub.none() // refused before delivery
	if n := r.Stats().LimitExceeded; n != 1 {
		t.Fatalf("Stats.LimitExceeded = %d, want 1", n)
	}
	g.release()
}

// killEnv names the history file of TestAcknowledgedSurvivesKill's child.
const killEnv = "JUNCTION_TEST_KILL_HISTORY"

// killRules are the history rules of the child and of the file's check.
var killRules = []HistoryRule{{Match: wamp.MatchExact, Topic: "com.kill", Limit: 1_000_000}}

// printPeer writes "PUBLISHED <id>" to stdout for each PUBLISHED, as the
// answer reaches the client, and lets the publisher go on.
type printPeer struct {
	mu    sync.Mutex
	acks  chan struct{}
	wrote *bufio.Writer
}

func (p *printPeer) Send(m wamp.Message) error {
	if ack, ok := wamp.Unwrap(m).(*wamp.Published); ok {
		p.mu.Lock()
		fmt.Fprintf(p.wrote, "PUBLISHED %d\n", ack.Publication)
		p.wrote.Flush()
		p.mu.Unlock()
		p.acks <- struct{}{}
	}
	return nil
}

func (p *printPeer) Close() {}

// TestKillChild is TestAcknowledgedSurvivesKill's child: run in a process
// of its own, it publishes acknowledged events to a topic with history
// until it is killed, printing each PUBLISHED as it arrives.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killEnv)
	if path == "" {
		t.Skip("the child of TestAcknowledgedSurvivesKill")
	}
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true, History: killRules}}, HistoryPath: path})
	if err != nil {
		t.Fatal(err)
	}
	const window = 64
	p := &printPeer{acks: make(chan struct{}, window), wrote: bufio.NewWriter(os.Stdout)}
	s := r.Attach(p, TransportInfo{Kind: "test", Serializer: "json"})
	s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	for range window {
		p.acks <- struct{}{}
	}
	for i := 1; ; i++ {
		<-p.acks
		s.Receive(&wamp.Publish{Request: wamp.ID(i), Topic: "com.kill", Options: wamp.Dict{"acknowledge": true},
			Payload: wamp.Payload{Args: wamp.List{i}}})
	}
}

// TestAcknowledgedSurvivesKill kills a router with SIGKILL while it
// publishes acknowledged events to a topic with history and checks that
// every publication its client had been answered PUBLISHED for is in the
// history file afterwards: acknowledged means kept.
func TestAcknowledgedSurvivesKill(t *testing.T) {
	if os.Getenv(killEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "h.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const acks = 3000 // many batches, the last few in flight at the kill
	acked := make(map[wamp.ID]bool, acks)
	lines := bufio.NewScanner(out)
	for len(acked) < acks && lines.Scan() {
		id, ok := strings.CutPrefix(lines.Text(), "PUBLISHED ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", lines.Text())
		}
		acked[wamp.ID(n)] = true
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no flush
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < acks {
		t.Fatalf("the child answered %d publications before it ended, want %d (%v)", len(acked), acks, lines.Err())
	}

	st, err := history.Open(path, history.Config{Rules: map[wamp.URI][]history.Rule{"realm1": killRules}})
	if err != nil {
		t.Fatalf("opening the history after the kill: %v", err)
	}
	defer st.Close()
	evs, err := st.Query(context.Background(), "realm1", &history.Query{Match: wamp.MatchExact, Pattern: "com.kill"})
	if err != nil {
		t.Fatal(err)
	}
	kept := make(map[wamp.ID]bool, len(evs))
	for _, ev := range evs {
		kept[ev.Publication] = true
	}
	missing := 0
	for id := range acked {
		if !kept[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the %d publications answered PUBLISHED are not in the history after SIGKILL (%d kept)", missing, len(acked), len(kept))
	}
}
