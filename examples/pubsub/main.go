// Command pubsub shows publish and subscribe: a subscriber prints the events
// of a topic, a publisher sends a few, one of them acknowledged.
//
//	go run ./examples/pubsub [-url ws://127.0.0.1:8080/ws]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/examples/internal/demo"
	"github.com/junction-wamp/junction/wamp"
)

func main() { demo.Main(run) }

func run(ctx context.Context, args []string, out io.Writer) error {
	out = demo.Output(out) // handlers print from goroutines of their own
	rt, err := demo.Setup(flag.NewFlagSet("pubsub", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	defer rt.Stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	sub, err := client.Dial(ctx, rt.URL, demo.Realm, nil)
	if err != nil {
		return err
	}
	defer sub.Close(ctx)
	// MessagePack for the publisher: the router converts between
	// serializers.
	pub, err := client.Dial(ctx, rt.URL, demo.Realm, &client.Options{Serializer: wamp.FormatMsgPack})
	if err != nil {
		return err
	}
	defer pub.Close(ctx)

	const n = 3
	got := make(chan struct{}, n)
	// Events reach the handler in order, on the subscription's goroutine.
	_, err = sub.Subscribe(ctx, "com.example.news", func(ev *client.Event) {
		headline, err := client.Arg[string](ev.Args, 0)
		if err != nil {
			fmt.Fprintln(out, "bad event:", err)
			return
		}
		fmt.Fprintf(out, "event %d: %s (from session %d)\n", ev.Args[1], headline, ev.Publisher())
		got <- struct{}{}
	}, nil)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		opts := client.PublishOptions{DiscloseMe: true}
		if i == n {
			opts.Acknowledge = true // wait for the router's PUBLISHED
		}
		id, err := pub.Publish(ctx, "com.example.news", wamp.List{fmt.Sprintf("headline %d", i), i}, nil, opts.Dict())
		if err != nil {
			return err
		}
		if opts.Acknowledge {
			fmt.Fprintf(out, "publication %d acknowledged\n", id)
		}
	}
	for range n {
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the events: %w", ctx.Err())
		}
	}
	fmt.Fprintln(out, "done")
	return nil
}
