// Command rpc shows remote procedure calls: a callee registers procedures,
// a caller calls them, with typed arguments and a WAMP error.
//
//	go run ./examples/rpc [-url ws://127.0.0.1:8080/ws]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/examples/internal/demo"
	"github.com/junction-wamp/junction/wamp"
)

func main() { demo.Main(run) }

func run(ctx context.Context, args []string, out io.Writer) error {
	out = demo.Output(out) // handlers print from goroutines of their own
	rt, err := demo.Setup(flag.NewFlagSet("rpc", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	defer rt.Stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	callee, err := client.Dial(ctx, rt.URL, demo.Realm, nil)
	if err != nil {
		return err
	}
	defer callee.Close(ctx)
	caller, err := client.Dial(ctx, rt.URL, demo.Realm, &client.Options{Serializer: wamp.FormatCBOR})
	if err != nil {
		return err
	}
	defer caller.Close(ctx)

	// Each invocation runs on its own goroutine.
	if _, err := callee.Register(ctx, "com.example.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		var a, b int
		if err := client.DecodeArgs(inv.Args, &a, &b); err != nil {
			return nil, err // wamp.error.invalid_argument for the caller
		}
		return &client.Result{Args: wamp.List{a + b}}, nil
	}, nil); err != nil {
		return err
	}
	if _, err := callee.Register(ctx, "com.example.shout", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		text, err := client.Kwarg[string](inv.Kwargs, "text")
		if err != nil {
			return nil, err
		}
		if text == "" {
			return nil, &client.Error{URI: "com.example.error.empty", Args: wamp.List{"nothing to shout"}}
		}
		return &client.Result{Args: wamp.List{strings.ToUpper(text) + "!"}}, nil
	}, nil); err != nil {
		return err
	}

	res, err := caller.Call(ctx, "com.example.add", wamp.List{2, 3}, nil, nil)
	if err != nil {
		return err
	}
	sum, err := client.Arg[int](res.Args, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "add(2, 3) = %d\n", sum)

	res, err = caller.Call(ctx, "com.example.shout", nil, wamp.Dict{"text": "hello"}, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "shout(text=hello) = %v\n", res.Args[0])

	// Errors come back as *client.Error with the URI the callee chose.
	_, err = caller.Call(ctx, "com.example.shout", nil, wamp.Dict{"text": ""}, nil)
	var we *client.Error
	if !errors.As(err, &we) {
		return fmt.Errorf("expected a WAMP error, got %v", err)
	}
	fmt.Fprintf(out, "shout(text=\"\") failed: %s %v\n", we.URI, we.Args)

	_, err = caller.Call(ctx, "com.example.add", wamp.List{"two", 3}, nil, nil)
	if errors.As(err, &we) {
		fmt.Fprintf(out, "add(\"two\", 3) failed: %s\n", we.URI)
	}
	return nil
}
