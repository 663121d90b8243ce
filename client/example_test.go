package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, "rs://127.0.0.1:8080", "realm1", &client.Options{Serializer: wamp.FormatMsgPack})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	// A procedure...
	_, err = s.Register(ctx, "com.example.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		a, _ := inv.Args[0].(int64)
		b, _ := inv.Args[1].(int64)
		return &client.Result{Args: wamp.List{a + b}}, nil
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	// ...called.
	res, err := s.Call(ctx, "com.example.add", wamp.List{2, 3}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Args[0])

	// Events, and an acknowledged publication.
	_, err = s.Subscribe(ctx, "com.example.news", func(ev *client.Event) {
		fmt.Println("news:", ev.Args)
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	// exclude_me: false, so that this session gets its own event.
	if _, err := s.Publish(ctx, "com.example.news", wamp.List{"hello"}, nil,
		wamp.Dict{"acknowledge": true, "exclude_me": false}); err != nil {
		log.Fatal(err)
	}
}
