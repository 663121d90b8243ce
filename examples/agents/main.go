// Command agents shows two agents holding a conversation through the
// router. Each is both caller and callee: it answers questions at
// agents.<name>.ask and takes notes at agents.<name>.notify, asks the other
// agent questions and notifies it of what it learned. Neither knows where
// the other runs: the router connects them.
//
//	go run ./examples/agents [-url ws://127.0.0.1:8080/ws]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/examples/internal/demo"
	"github.com/junction-wamp/junction/wamp"
)

func main() { demo.Main(run) }

// agent is one side of the conversation.
type agent struct {
	name    string
	s       *client.Session
	answers map[string]string // what it knows

	mu    sync.Mutex
	notes []string
	noted chan struct{}
}

// transcript serializes the lines both agents print.
type transcript struct {
	mu  sync.Mutex
	out io.Writer
}

func (t *transcript) say(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, format+"\n", args...)
}

func newAgent(ctx context.Context, url, name string, answers map[string]string, tr *transcript) (*agent, error) {
	s, err := client.Dial(ctx, url, demo.Realm, &client.Options{AuthID: name})
	if err != nil {
		return nil, err
	}
	a := &agent{name: name, s: s, answers: answers, noted: make(chan struct{}, 8)}
	// Callee: questions. RegisterOrdered: one question at a time, in order.
	if _, err := s.RegisterOrdered(ctx, "agents."+name+".ask", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		q, err := client.Arg[string](inv.Args, 0)
		if err != nil {
			return nil, err
		}
		ans, ok := a.answers[q]
		if !ok {
			return nil, &client.Error{URI: "agents.error.unknown", Args: wamp.List{name + " does not know " + q}}
		}
		return &client.Result{Args: wamp.List{ans}}, nil
	}, nil); err != nil {
		return nil, err
	}
	// Subscriber: notifications.
	if _, err := s.Subscribe(ctx, "agents."+name+".notify", func(ev *client.Event) {
		note, _ := client.Arg[string](ev.Args, 0)
		from, _ := client.Kwarg[string](ev.Kwargs, "from")
		a.mu.Lock()
		a.notes = append(a.notes, note)
		a.mu.Unlock()
		tr.say("%s notes from %s: %s", name, from, note)
		a.noted <- struct{}{}
	}, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// ask calls the other agent's procedure.
func (a *agent) ask(ctx context.Context, other, question string, tr *transcript) (string, error) {
	tr.say("%s asks %s: %s?", a.name, other, question)
	res, err := a.s.Call(ctx, "agents."+other+".ask", wamp.List{question}, nil, nil)
	if err != nil {
		tr.say("%s gets no answer: %v", a.name, err)
		return "", err
	}
	ans, err := client.Arg[string](res.Args, 0)
	if err == nil {
		tr.say("%s answers %s: %s", other, a.name, ans)
	}
	return ans, err
}

// notify publishes to the other agent and waits for it to have the note.
func (a *agent) notify(ctx context.Context, other *agent, note string) error {
	_, err := a.s.Publish(ctx, "agents."+other.name+".notify", wamp.List{note}, wamp.Dict{"from": a.name},
		client.PublishOptions{Acknowledge: true}.Dict())
	if err != nil {
		return err
	}
	select {
	case <-other.noted:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	out = demo.Output(out) // handlers print from goroutines of their own
	rt, err := demo.Setup(flag.NewFlagSet("agents", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	defer rt.Stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	tr := &transcript{out: out}
	alice, err := newAgent(ctx, rt.URL, "alice", map[string]string{"the meeting room": "room 4"}, tr)
	if err != nil {
		return err
	}
	defer alice.s.Close(ctx)
	bob, err := newAgent(ctx, rt.URL, "bob", map[string]string{"the meeting time": "3pm"}, tr)
	if err != nil {
		return err
	}
	defer bob.s.Close(ctx)

	// Alice asks, Bob answers; Alice tells Bob what she decided.
	when, err := alice.ask(ctx, "bob", "the meeting time", tr)
	if err != nil {
		return err
	}
	if err := alice.notify(ctx, bob, "meeting at "+when); err != nil {
		return err
	}
	// Bob asks back, and notifies Alice.
	where, err := bob.ask(ctx, "alice", "the meeting room", tr)
	if err != nil {
		return err
	}
	if err := bob.notify(ctx, alice, "see you in "+where); err != nil {
		return err
	}
	// A question nobody can answer comes back as a WAMP error.
	if _, err := bob.ask(ctx, "alice", "the agenda", tr); err == nil {
		return fmt.Errorf("alice answered a question she cannot")
	}
	return nil
}
