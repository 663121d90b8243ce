package config_test

import (
	"fmt"

	"github.com/junction-wamp/junction/config"
)

func ExampleParse() {
	cfg, err := config.Parse("junction.yaml", []byte(`
listeners:
  - address: 127.0.0.1:9000
realms:
  - name: com.example.app
limits:
  max_message_size: 1MiB
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Listeners[0].Address, cfg.Listeners[0].WebSocketPath, cfg.Realms[0].Name, cfg.Limits.MaxMessageSize, cfg.Limits.HelloTimeout)
	// Output: 127.0.0.1:9000 /ws com.example.app 1048576 10s
}

func ExampleParse_errors() {
	_, err := config.Parse("junction.yaml", []byte(`listeners:
  - address: 127.0.0.1:8080
    engine: fast
limits:
  max_msg_size: 1MiB
`))
	fmt.Println(err)
	// Output:
	// junction.yaml:3:13: listeners[0].engine: "fast" is not one of auto, epoll, goroutine
	// junction.yaml:5:3: unknown key "max_msg_size" in limits (known: max_message_size, max_pre_welcome_message_size, max_partial_bytes, outbound_queue, slow_consumer, hello_timeout, handshake_timeout, ping_interval, ping_timeout, rawsocket_pings, idle_timeout, shutdown_timeout, max_subscriptions_per_session, max_registrations_per_session, max_calls_in_flight_per_session)
}
