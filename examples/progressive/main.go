// Command progressive shows progressive call results: a callee reports the
// progress of a long task as it goes, and the caller reads the results as
// they come, with an iterator, then cancels a second task half way by
// breaking out of the loop.
//
//	go run ./examples/progressive [-url ws://127.0.0.1:8080/ws]
//
// It needs a router with progressive call results and call canceling.
package main

import (
	"context"
	"errors"
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
	rt, err := demo.Setup(flag.NewFlagSet("progressive", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	defer rt.Stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	worker, err := client.Dial(ctx, rt.URL, demo.Realm, nil)
	if err != nil {
		return err
	}
	defer worker.Close(ctx)
	caller, err := client.Dial(ctx, rt.URL, demo.Realm, nil)
	if err != nil {
		return err
	}
	defer caller.Close(ctx)

	canceled := make(chan struct{})
	// com.example.download "downloads" N chunks, reporting each.
	if _, err := worker.Register(ctx, "com.example.download", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		chunks, err := client.Arg[int](inv.Args, 0)
		if err != nil {
			return nil, err
		}
		for i := 1; i <= chunks; i++ {
			select {
			case <-time.After(10 * time.Millisecond): // the work
			case <-ctx.Done(): // the caller canceled (INTERRUPT)
				close(canceled)
				return nil, ctx.Err()
			}
			if inv.ReceiveProgress() {
				if err := inv.SendProgress(ctx, wamp.List{fmt.Sprintf("%d/%d", i, chunks)}, nil); err != nil {
					return nil, err
				}
			}
		}
		return &client.Result{Args: wamp.List{"complete"}}, nil
	}, nil); err != nil {
		return err
	}

	for res, err := range caller.CallIter(ctx, "com.example.download", wamp.List{4}, nil, nil) {
		if err != nil {
			return err
		}
		if res.Progress() {
			fmt.Fprintf(out, "progress: %v\n", res.Args[0])
		} else {
			fmt.Fprintf(out, "result: %v\n", res.Args[0])
		}
	}

	// Breaking out of the loop cancels the call: the callee's context ends.
	for res, err := range caller.CallIter(ctx, "com.example.download", wamp.List{100}, nil, nil) {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "second task: %v, enough\n", res.Args[0])
		break
	}
	select {
	case <-canceled:
		fmt.Fprintln(out, "second task canceled")
	case <-ctx.Done():
		return errors.New("the second task was not canceled")
	}
	return nil
}
