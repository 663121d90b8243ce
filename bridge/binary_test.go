package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestBinaryAsWAMPJSON: binary values cross the bridge as in WAMP's JSON,
// a string of U+0000 followed by base64. Before, "\u0000AQID" in a
// publication was published as a string that no JSON subscriber could be
// sent (acknowledged 200, delivered to none of them), and bytes in a
// result or an event reached the HTTP side as bare base64, a string like
// any other.
func TestBinaryAsWAMPJSON(t *testing.T) {
	s := start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	ws, err := client.Dial(ctx, "ws://"+s.addr+"/ws", "realm1", &client.Options{Serializer: wamp.FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close(context.Background())
	got := make(chan *client.Event, 1)
	if _, err := ws.Subscribe(ctx, "com.example.bin", func(ev *client.Event) { got <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	status, _, raw := s.do(t, "POST", "/publish", "application/json", `{"topic": "com.example.bin", "args": ["\u0000AQID"], "kwargs": {"b": ["\u0000"]}}`)
	if status != 200 {
		t.Fatalf("publish: %d %s", status, raw)
	}
	ev := within(t, got, "the event")
	b0, _ := ev.Args[0].([]byte)
	b1, _ := ev.Kwargs["b"].([]any)
	if len(b1) != 1 || !bytes.Equal(b0, []byte{1, 2, 3}) {
		t.Fatalf("event %#v %#v, want the bytes 1 2 3 and none", ev.Args, ev.Kwargs)
	}
	if b, ok := b1[0].([]byte); !ok || len(b) != 0 {
		t.Errorf("event %#v %#v, want the bytes 1 2 3 and none", ev.Args, ev.Kwargs)
	}
	status, body, raw := s.do(t, "POST", "/publish", "application/json", `{"topic": "com.example.bin", "args": ["\u0000not base64!"]}`)
	if status != 400 || body["error"] != string(wamp.ErrInvalidArgument) {
		t.Errorf("bad base64: %d %s, want 400", status, raw)
	}

	if _, err := ws.Register(ctx, "com.example.bytes", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{[]byte{1, 2, 3}}, Kwargs: wamp.Dict{"b": []byte{}}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	status, body, raw = s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.bytes"}`)
	if status != 200 || fmt.Sprint(body["args"], body["kwargs"]) != "[\x00AQID] map[b:\x00]" {
		t.Errorf("call: %d %s, want the args [\"\\u0000AQID\"] and kwargs {\"b\": \"\\u0000\"}", status, raw)
	}

	epURL, posted := webhookEndpoint(t, 1)
	wh, err := bridge.StartWebhook(ctx, bridge.WebhookConfig{Router: s.rt, Topic: "com.example.hook", URL: epURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Stop)
	if _, err := ws.Publish(ctx, "com.example.hook", wamp.List{[]byte{1, 2, 3}}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if m := within(t, posted, "the webhook's POST"); fmt.Sprint(m["args"]) != "[\x00AQID]" {
		t.Errorf("webhook POST args %q, want [\"\\u0000AQID\"]", m["args"])
	}
}
