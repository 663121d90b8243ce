package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeLongPoll: with no config, `junction serve` serves the long-poll
// transport at /lp; a long-poll session joins realm1 and gets GOODBYE
// wamp.close.system_shutdown when the router stops.
func TestServeLongPoll(t *testing.T) {
	addr := freePort(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var logs syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"serve", "--listen", addr}, &logs, &logs) }()

	c := &http.Client{Timeout: 20 * time.Second}
	post := func(url, body string) (int, string) {
		t.Helper()
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, logs.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var body string
	for i := 0; i < 100; i++ {
		resp, err := c.Post("http://"+addr+"/lp/open", "application/json", strings.NewReader(`{"protocols": ["wamp.2.json"]}`))
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, body = resp.StatusCode, string(b)
		break
	}
	var open struct{ Protocol, Transport string }
	if err := json.Unmarshal([]byte(body), &open); status != 200 || err != nil {
		t.Fatalf("open: %d %s\n%s", status, body, logs.String())
	}
	if !strings.Contains(logs.String(), "http://"+addr+"/lp long-poll") {
		t.Errorf("the listening line does not name the long-poll URL:\n%s", logs.String())
	}
	base := "http://" + addr + "/lp/" + open.Transport
	if status, body := post(base+"/send", `[1,"realm1",{"roles":{"subscriber":{}}}]`); status != 204 {
		t.Fatalf("send HELLO: %d %s", status, body)
	}
	recv := func() string {
		t.Helper()
		for {
			status, body := post(base+"/receive", "")
			if status == 200 {
				return body
			}
			if status != 204 {
				t.Fatalf("receive: %d %s", status, body)
			}
		}
	}
	if m := recv(); !strings.HasPrefix(m, "[2,") {
		t.Fatalf("no WELCOME: %s", m)
	}

	stop()
	if m := recv(); !strings.HasPrefix(m, `[6,`) || !strings.Contains(m, "wamp.close.system_shutdown") {
		t.Fatalf("no GOODBYE: %s", m)
	}
	if status, body := post(base+"/send", `[6,{},"wamp.close.goodbye_and_out"]`); status != 204 {
		t.Fatalf("send GOODBYE: %d %s", status, body)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
}
