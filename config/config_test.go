package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/testcert"
)

// lines joins YAML lines, so that test cases show their line numbers.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// writeKeyPair writes a self-signed certificate and its key as PEM files
// named prefix+"cert.pem" and prefix+"key.pem" in dir.
func writeKeyPair(t testing.TB, dir, prefix string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := testcert.Must(t).WriteFiles(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestParseErrors gives every kind of bad config and its exact error: file,
// line, column, key path and reason. {{dir}} stands for a directory holding
// a valid pair a/cert.pem, a/key.pem and a second pair b/cert.pem,
// b/key.pem.
func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	writeKeyPair(t, dir, "a")
	writeKeyPair(t, dir, "b")

	tests := []struct {
		name string
		yaml string
		want []string // one line per problem
	}{
		// Keys.
		{
			name: "unknown top-level key",
			yaml: lines("listener:", "  - address: :8080"),
			want: []string{`junction.yaml:1:1: unknown key "listener" at the top level (known: listeners, realms, realm_template, store, limits, log, webhooks, callees, admin, cluster)`},
		},
		{
			name: "unknown key in limits",
			yaml: lines(
				"listeners:",
				"  - address: 127.0.0.1:8080",
				"realms:",
				"  - name: realm1",
				"",
				"limits:",
				"    max_msg_size: 1MiB",
			),
			want: []string{`junction.yaml:7:5: unknown key "max_msg_size" in limits (known: max_message_size, max_pre_welcome_message_size, max_partial_bytes, outbound_queue, slow_consumer, hello_timeout, handshake_timeout, ping_interval, ping_timeout, rawsocket_pings, idle_timeout, shutdown_timeout, max_subscriptions_per_session, max_registrations_per_session, max_calls_in_flight_per_session)`},
		},
		{
			name: "unknown key in a listener",
			yaml: lines("listeners:", "  - address: :8080", "    websocket_pth: /x"),
			want: []string{`junction.yaml:3:5: unknown key "websocket_pth" in listeners[0] (known: address, websocket_path, websocket, rawsocket, tls, allowed_origins, trusted_proxies, proxy_protocol, engine, compression, max_pending_connections, cookie, longpoll, bridge)`},
		},
		{
			name: "unknown key in tls",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: {{dir}}/acert.pem", "      key: {{dir}}/akey.pem", "      ca: x"),
			want: []string{`junction.yaml:6:7: unknown key "ca" in listeners[0].tls (known: cert, key, client_auth, client_ca)`},
		},
		{
			name: "unknown key in a realm",
			yaml: lines("realms:", "  - name: a", "    anon: true"),
			want: []string{`junction.yaml:3:5: unknown key "anon" in realms[0] (known: name, strict_uris, anonymous, meta_api, disclose_caller, disclose_publisher, trust_levels, history, auth)`},
		},
		{
			name: "unknown key in log",
			yaml: lines("log:", "  lvl: debug"),
			want: []string{`junction.yaml:2:3: unknown key "lvl" in log (known: level, format)`},
		},
		{
			name: "keys are case-sensitive",
			yaml: lines("Log:", "  level: debug"),
			want: []string{`junction.yaml:1:1: unknown key "Log" at the top level (known: listeners, realms, realm_template, store, limits, log, webhooks, callees, admin, cluster)`},
		},
		{
			name: "duplicate key",
			yaml: lines("log:", "  level: debug", "  format: json", "  level: info"),
			want: []string{`junction.yaml:4:3: duplicate key "level" in log (first at line 2)`},
		},
		{
			name: "duplicate section",
			yaml: lines("log:", "  level: debug", "log:", "  format: json"),
			want: []string{`junction.yaml:3:1: duplicate key "log" at the top level (first at line 1)`},
		},
		{
			name: "merge key",
			yaml: lines("base: &b {level: info}", "log:", "  <<: *b"),
			want: []string{
				`junction.yaml:1:1: unknown key "base" at the top level (known: listeners, realms, realm_template, store, limits, log, webhooks, callees, admin, cluster)`,
				`junction.yaml:3:3: merge keys (<<) are not supported in log; write the keys out`,
			},
		},
		{
			name: "non-scalar key",
			yaml: lines("log:", "  ? [a, b]", "  : x"),
			want: []string{`junction.yaml:2:5: a key must be a plain name in log, got a list`},
		},

		// Types.
		{
			name: "file is a list",
			yaml: lines("- address: :8080"),
			want: []string{`junction.yaml:1:1: expected a mapping of listeners, realms, realm_template, store, limits, log, webhooks, callees, admin, cluster, got a list`},
		},
		{
			name: "file is a string",
			yaml: lines("hello"),
			want: []string{`junction.yaml:1:1: expected a mapping of listeners, realms, realm_template, store, limits, log, webhooks, callees, admin, cluster, got "hello"`},
		},
		{
			name: "listeners is a mapping",
			yaml: lines("listeners:", "  address: :8080"),
			want: []string{`junction.yaml:2:3: listeners: expected a list, got a mapping`},
		},
		{
			name: "bad longpoll",
			yaml: lines("listeners:", "  - address: :8080", "    longpoll:", "      path: /ws", "      session_timeout: 0s", "      max_per_address: 0"),
			want: []string{
				`junction.yaml:4:13: listeners[0].longpoll.path: "/ws" overlaps websocket_path "/ws"`,
				`junction.yaml:5:24: listeners[0].longpoll.session_timeout: must be more than 0, got 0s`,
				`junction.yaml:6:24: listeners[0].longpoll.max_per_address: 0 is not a positive integer`,
			},
		},
		{
			name: "bad bridge",
			yaml: lines("listeners:", "  - address: :8080", "    bridge:", "      realm: nowhere", "      publish_path: /ws", "      call_path: /lp/call"),
			want: []string{
				`junction.yaml:4:14: listeners[0].bridge.realm: "nowhere" is not a realm of this config (realms[].name)`,
				`junction.yaml:5:21: listeners[0].bridge.publish_path: "/ws" is also websocket_path`,
				`junction.yaml:6:18: listeners[0].bridge.call_path: "/lp/call" is under longpoll.path "/lp"`,
			},
		},
		{
			name: "bad webhook",
			yaml: lines("webhooks:", "  - topic: a.b", "    url: ftp://x", "    match: regex", "    realm: nowhere", "    authid: joe"),
			want: []string{
				`junction.yaml:3:10: webhooks[0].url: "ftp://x" is not an http:// or https:// URL`,
				`junction.yaml:4:12: webhooks[0].match: "regex" is not one of exact, prefix, wildcard`,
				`junction.yaml:5:12: webhooks[0].realm: "nowhere" is not a realm of this config (realms[].name)`,
				`junction.yaml:6:13: webhooks[0].authid: "joe" needs its ticket (key ticket)`,
			},
		},
		{
			name: "bad callee",
			yaml: lines("callees:", "  - url: http://", "    timeout: 0s"),
			want: []string{
				`junction.yaml:2:5: callees[0].procedure: a procedure is required`,
				`junction.yaml:2:10: callees[0].url: "http://" is not an http:// or https:// URL`,
				`junction.yaml:3:14: callees[0].timeout: must be more than 0, got 0s`,
			},
		},
		{
			name: "listener is a string",
			yaml: lines("listeners:", "  - 127.0.0.1:8080"),
			want: []string{`junction.yaml:2:5: listeners[0]: expected a mapping of address, websocket_path, websocket, rawsocket, tls, allowed_origins, trusted_proxies, proxy_protocol, engine, compression, max_pending_connections, cookie, longpoll, bridge, got "127.0.0.1:8080"`},
		},
		{
			name: "limits is a list",
			yaml: lines("limits:", "  - max_message_size: 1MiB"),
			want: []string{`junction.yaml:2:3: limits: expected a mapping of max_message_size, max_pre_welcome_message_size, max_partial_bytes, outbound_queue, slow_consumer, hello_timeout, handshake_timeout, ping_interval, ping_timeout, rawsocket_pings, idle_timeout, shutdown_timeout, max_subscriptions_per_session, max_registrations_per_session, max_calls_in_flight_per_session, got a list`},
		},
		{
			name: "bool is a string",
			yaml: lines("listeners:", "  - address: :8080", "    websocket: yes"),
			want: []string{`junction.yaml:3:16: listeners[0].websocket: "yes" is not a boolean (use true or false)`},
		},
		{
			name: "bool is a list",
			yaml: lines("realms:", "  - name: a", "    anonymous: [true]"),
			want: []string{`junction.yaml:3:16: realms[0].anonymous: expected a single value, got a list`},
		},
		{
			name: "string is a mapping",
			yaml: lines("log:", "  level: {debug: true}"),
			want: []string{`junction.yaml:2:10: log.level: expected a single value, got a mapping`},
		},
		{
			name: "value left empty",
			yaml: lines("listeners:", "  - address: :8080", "    engine:"),
			want: []string{`junction.yaml:3:12: listeners[0].engine: no value given (write one, or remove the key to get the default)`},
		},
		{
			name: "allowed_origins is a string",
			yaml: lines("listeners:", "  - address: :8080", "    allowed_origins: https://a.example.com"),
			want: []string{`junction.yaml:3:22: listeners[0].allowed_origins: expected a list, got "https://a.example.com"`},
		},
		{
			name: "tls is a string",
			yaml: lines("listeners:", "  - address: :8443", "    tls: on"),
			want: []string{`junction.yaml:3:10: listeners[0].tls: expected a mapping of cert, key, client_auth, client_ca, got "on"`},
		},

		// YAML syntax.
		{
			name: "tab indentation",
			yaml: "log:\n\tlevel: debug\n",
			want: []string{`junction.yaml:2: found character that cannot start any token (YAML does not allow tabs for indentation; use spaces)`},
		},
		{
			name: "bad indentation",
			yaml: lines("log:", "  level: debug", " format: json"),
			want: []string{`junction.yaml:3: did not find expected key`},
		},
		{
			name: "mapping value on first line",
			yaml: lines("log: level: debug"),
			want: []string{`junction.yaml:1: mapping values are not allowed in this context`},
		},
		{
			name: "unclosed quote",
			yaml: lines("log:", "  level: 'debug", "  format: json"),
			want: []string{`junction.yaml:2: found unexpected end of stream`},
		},
		{
			name: "unknown alias",
			yaml: lines("log:", "  level: *lvl"),
			want: []string{`junction.yaml:2: unknown anchor 'lvl' referenced`},
		},
		{
			name: "two documents",
			yaml: lines("log:", "  level: debug", "---", "log:", "  level: info"),
			want: []string{`junction.yaml:3:1: a second YAML document starts here; a config file holds one document (remove the ---)`},
		},

		// Listeners.
		{
			name: "no listeners",
			yaml: lines("listeners: []"),
			want: []string{`junction.yaml:1:12: listeners: at least one listener is required`},
		},
		{
			name: "listener without address",
			yaml: lines("listeners:", "  - engine: auto"),
			want: []string{`junction.yaml:2:5: listeners[0].address: an address is required, like 127.0.0.1:8080 or unix:/run/junction/junction.sock`},
		},
		{
			name: "address without port",
			yaml: lines("listeners:", "  - address: 127.0.0.1"),
			want: []string{`junction.yaml:2:14: listeners[0].address: "127.0.0.1" is not a valid address: missing port in address (use host:port, like 127.0.0.1:8080 or [::1]:8080, or unix:/path/to.sock)`},
		},
		{
			name: "IPv6 without brackets",
			yaml: lines("listeners:", "  - address: ::1:8080"),
			want: []string{`junction.yaml:2:14: listeners[0].address: "::1:8080" is not a valid address: too many colons in address (use host:port, like 127.0.0.1:8080 or [::1]:8080, or unix:/path/to.sock)`},
		},
		{
			name: "port out of range",
			yaml: lines("listeners:", "  - address: 127.0.0.1:80800"),
			want: []string{`junction.yaml:2:14: listeners[0].address: port "80800" in "127.0.0.1:80800" is not a number from 0 to 65535`},
		},
		{
			name: "port is a name",
			yaml: lines("listeners:", "  - address: localhost:http"),
			want: []string{`junction.yaml:2:14: listeners[0].address: port "http" in "localhost:http" is not a number from 0 to 65535`},
		},
		{
			name: "bad host",
			yaml: lines("listeners:", "  - address: 'my host:8080'"),
			want: []string{`junction.yaml:2:14: listeners[0].address: host "my host" in "my host:8080" is not an IP address or host name`},
		},
		{
			name: "unix without path",
			yaml: lines("listeners:", "  - address: 'unix:'"),
			want: []string{`junction.yaml:2:14: listeners[0].address: "unix:" has no socket path; write unix:/path/to.sock`},
		},
		{
			name: "unix path too long",
			yaml: lines("listeners:", "  - address: unix:/"+strings.Repeat("x", 120)),
			want: []string{`junction.yaml:2:14: listeners[0].address: unix socket path is 121 bytes long; the system allows at most ` + map[bool]string{true: "107", false: "103"}[runtime.GOOS == "linux"]},
		},
		{
			name: "duplicate address",
			yaml: lines(
				"listeners:",
				"  - address: 127.0.0.1:8080",
				"  - address: 127.0.0.1:9090",
				"  - address: 127.0.0.1:8080",
			),
			want: []string{`junction.yaml:4:14: listeners[2].address: "127.0.0.1:8080" is already used at line 2`},
		},
		{
			name: "same address written differently",
			yaml: lines("listeners:", "  - address: '[::ffff:127.0.0.1]:8080'", "  - address: 127.0.0.1:8080"),
			want: []string{`junction.yaml:3:14: listeners[1].address: "127.0.0.1:8080" is the same address as "[::ffff:127.0.0.1]:8080" at line 2`},
		},
		{
			name: "wildcard overlaps",
			yaml: lines("listeners:", "  - address: 127.0.0.1:8080", "  - address: 0.0.0.0:8080"),
			want: []string{`junction.yaml:3:14: listeners[1].address: "0.0.0.0:8080" overlaps "127.0.0.1:8080" at line 2: a listener with an empty host, 0.0.0.0 or :: takes port 8080 on every address`},
		},
		{
			name: "specific after wildcard",
			yaml: lines("listeners:", "  - address: :8080", "  - address: 127.0.0.1:9090", "  - address: 127.0.0.1:8080"),
			want: []string{`junction.yaml:4:14: listeners[2].address: "127.0.0.1:8080" overlaps ":8080" at line 2: a listener with an empty host, 0.0.0.0 or :: takes port 8080 on every address`},
		},
		{
			name: "host names ignore case",
			yaml: lines("listeners:", "  - address: LocalHost:8080", "  - address: localhost.:8080"),
			want: []string{`junction.yaml:3:14: listeners[1].address: "localhost.:8080" is the same address as "LocalHost:8080" at line 2`},
		},
		{
			name: "two wildcards",
			yaml: lines("listeners:", "  - address: :8080", "  - address: '[::]:8080'"),
			want: []string{`junction.yaml:3:14: listeners[1].address: "[::]:8080" is the same address as ":8080" at line 2`},
		},
		{
			name: "duplicate unix socket",
			yaml: lines("listeners:", "  - address: unix:/run/j.sock", "  - address: unix:/run/./j.sock"),
			want: []string{`junction.yaml:3:14: listeners[1].address: "unix:/run/./j.sock" is the same address as "unix:/run/j.sock" at line 2`},
		},
		{
			name: "websocket_path without slash",
			yaml: lines("listeners:", "  - address: :8080", "    websocket_path: ws"),
			want: []string{`junction.yaml:3:21: listeners[0].websocket_path: "ws" must start with "/"`},
		},
		{
			name: "websocket_path with query",
			yaml: lines("listeners:", "  - address: :8080", "    websocket_path: /ws?x=1"),
			want: []string{`junction.yaml:3:21: listeners[0].websocket_path: "/ws?x=1" is not a plain URL path (no spaces, "?" or "#")`},
		},
		{
			name: "no transport",
			yaml: lines("listeners:", "  - address: :8080", "    websocket: false", "    rawsocket: false"),
			want: []string{`junction.yaml:3:16: listeners[0]: websocket and rawsocket are both false; enable at least one`},
		},
		{
			name: "engine",
			yaml: lines("listeners:", "  - address: :8080", "    engine: fast"),
			want: []string{`junction.yaml:3:13: listeners[0].engine: "fast" is not one of auto, epoll, goroutine`},
		},
		{
			name: "compression",
			yaml: lines("listeners:", "  - address: :8080", "    compression: gzip"),
			want: []string{`junction.yaml:3:18: listeners[0].compression: "gzip" is not one of none, deflate`},
		},
		{
			name: "compression without websocket",
			yaml: lines("listeners:", "  - address: :8080", "    websocket: false", "    compression: deflate"),
			want: []string{`junction.yaml:4:18: listeners[0].compression: "deflate" compresses WebSocket messages, and websocket is false; remove compression or enable websocket`},
		},
		{
			name: "compression left empty",
			yaml: lines("listeners:", "  - address: :8080", "    compression:"),
			want: []string{`junction.yaml:3:17: listeners[0].compression: no value given (write one, or remove the key to get the default)`},
		},

		// TLS.
		{
			name: "tls cert missing",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: /nope.pem", "      key: {{dir}}/akey.pem"),
			want: []string{`junction.yaml:4:13: listeners[0].tls.cert: open /nope.pem: no such file or directory`},
		},
		{
			name: "tls key missing",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: {{dir}}/acert.pem", "      key: {{dir}}/nokey.pem"),
			want: []string{`junction.yaml:5:12: listeners[0].tls.key: open {{dir}}/nokey.pem: no such file or directory`},
		},
		{
			name: "tls without key",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: {{dir}}/acert.pem"),
			want: []string{`junction.yaml:4:7: listeners[0].tls.key: a private key file is required`},
		},
		{
			name: "tls empty",
			yaml: lines("listeners:", "  - address: :8443", "    tls: {}"),
			want: []string{
				`junction.yaml:3:10: listeners[0].tls.cert: a certificate file is required`,
				`junction.yaml:3:10: listeners[0].tls.key: a private key file is required`,
			},
		},
		{
			name: "tls key of another cert",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: {{dir}}/acert.pem", "      key: {{dir}}/bkey.pem"),
			want: []string{`junction.yaml:5:12: listeners[0].tls.key: loading key pair {{dir}}/acert.pem and {{dir}}/bkey.pem: tls: private key does not match public key`},
		},
		{
			name: "tls cert and key swapped",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: {{dir}}/akey.pem", "      key: {{dir}}/acert.pem"),
			want: []string{`junction.yaml:4:13: listeners[0].tls.cert: loading key pair {{dir}}/akey.pem and {{dir}}/acert.pem: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched`},
		},
		{
			name: "tls cert is a directory",
			yaml: lines("listeners:", "  - address: :8443", "    tls:", "      cert: {{dir}}", "      key: {{dir}}/akey.pem"),
			want: []string{`junction.yaml:4:13: listeners[0].tls.cert: {{dir}} is not a regular file`},
		},
		{
			name: "tls on unix socket",
			yaml: lines("listeners:", "  - address: unix:/run/j.sock", "    tls:", "      cert: {{dir}}/acert.pem", "      key: {{dir}}/akey.pem"),
			want: []string{`junction.yaml:4:7: listeners[0].tls: TLS is not supported on unix: listeners; remove tls or listen on TCP`},
		},

		// Allowed origins.
		{
			name: "origins",
			yaml: lines(
				"listeners:",
				"  - address: :8080",
				"    allowed_origins:",
				"      - https://app.example.com/",
				"      - https://app.example.com:443",
				"      - https://App.example.com",
				"      - https://app.*.com",
				"      - app.example.com",
				"      - https://app.example.com/chat",
				"      - '*'",
				"      - https://*.example.com:8443",
				"      - http://[::1]:8080",
			),
			want: []string{
				`junction.yaml:4:9: listeners[0].allowed_origins[0]: "https://app.example.com/" ends with "/"; browsers send origins without it, write "https://app.example.com"`,
				`junction.yaml:5:9: listeners[0].allowed_origins[1]: "https://app.example.com:443" names the default port; browsers leave it out, write "https://app.example.com"`,
				`junction.yaml:6:9: listeners[0].allowed_origins[2]: "https://App.example.com" has upper-case letters; browsers send origins in lower case, write "https://app.example.com"`,
				`junction.yaml:7:9: listeners[0].allowed_origins[3]: "https://app.*.com": a wildcard must be the whole first label of the host, like https://*.example.com`,
				`junction.yaml:8:9: listeners[0].allowed_origins[4]: "app.example.com" is not an origin (use "*" or scheme://host[:port], like https://app.example.com or https://*.example.com)`,
				`junction.yaml:9:9: listeners[0].allowed_origins[5]: "https://app.example.com/chat" has a path, query or fragment; an origin is only scheme://host[:port]`,
			},
		},

		// Trusted proxies.
		{
			name: "trusted proxies",
			yaml: lines(
				"listeners:",
				"  - address: :8080",
				"    trusted_proxies:",
				"      - 10.0.0.0/8",
				"      - 192.0.2.1",
				"      - 'unix:'",
				"      - 2001:db8::/32",
				"      - proxy.example.com",
				"      - 10.0.0.0/40",
				"      - 10.0.0.1:80",
			),
			want: []string{
				`junction.yaml:8:9: listeners[0].trusted_proxies[4]: "proxy.example.com" is not an IP address, a network (address/bits, such as 10.0.0.0/8) or unix:`,
				`junction.yaml:9:9: listeners[0].trusted_proxies[5]: "10.0.0.0/40" is not an IP address, a network (address/bits, such as 10.0.0.0/8) or unix:`,
				`junction.yaml:10:9: listeners[0].trusted_proxies[6]: "10.0.0.1:80" is not an IP address, a network (address/bits, such as 10.0.0.0/8) or unix:`,
			},
		},
		{
			name: "proxy protocol without trusted proxies",
			yaml: lines("listeners:", "  - address: :8080", "    proxy_protocol: true"),
			want: []string{`junction.yaml:3:21: listeners[0].proxy_protocol: the PROXY protocol needs trusted_proxies: the load balancers whose headers are believed (a header from anywhere else is read and ignored)`},
		},

		// Realms.
		{
			name: "duplicate realm",
			yaml: lines(
				"listeners:",
				"  - address: 127.0.0.1:8080",
				"realms:",
				"  - name: realm1",
				"    anonymous: true",
				"  - name: com.example",
				"",
				"",
				"  - name: realm1",
			),
			want: []string{`junction.yaml:9:11: realms[2].name: "realm1" is already defined at line 4`},
		},
		{
			name: "bad realm names",
			yaml: lines(
				"realms:",
				"  - name: my realm",
				"  - name: 'com.example#1'",
				"  - name: com..example",
				"  - name: .com.example",
				"  - name: com.example.",
				"  - name: wamp.meta",
				"  - name: ''",
				"  - anonymous: false",
			),
			want: []string{
				`junction.yaml:2:11: realms[0].name: "my realm" is not a valid WAMP URI: it contains whitespace`,
				`junction.yaml:3:11: realms[1].name: "com.example#1" is not a valid WAMP URI: it contains '#'`,
				`junction.yaml:4:11: realms[2].name: "com..example" is not a valid WAMP URI: it has an empty component ("..")`,
				`junction.yaml:5:11: realms[3].name: ".com.example" is not a valid WAMP URI: it starts with '.'`,
				`junction.yaml:6:11: realms[4].name: "com.example." is not a valid WAMP URI: it ends with '.'`,
				`junction.yaml:7:11: realms[5].name: "wamp.meta" is reserved: URIs starting with "wamp." belong to the WAMP protocol`,
				`junction.yaml:8:11: realms[6].name: a realm name is required`,
				`junction.yaml:9:5: realms[7].name: a realm name is required`,
			},
		},
		{
			name: "no realms",
			yaml: lines("realms: []"),
			want: []string{`junction.yaml:1:9: realms: at least one realm is required`},
		},
		{
			name: "realm settings",
			yaml: lines(
				"realms:",
				"  - name: realm1",
				"    meta_api: maybe",
				"    disclose_caller: sometimes",
				"    disclose_publisher: ''",
				"    trust_levels:",
				"      admin: high",
				"      user: -1",
				"      '': 1",
				"      bot: 9007199254740992",
				"      guest: 99999999999999999999",
			),
			want: []string{
				`junction.yaml:3:15: realms[0].meta_api: "maybe" is not a boolean (use true or false)`,
				`junction.yaml:4:22: realms[0].disclose_caller: "sometimes" is not one of on_request, always, never`,
				`junction.yaml:5:25: realms[0].disclose_publisher: "" is not one of on_request, always, never`,
				`junction.yaml:7:14: realms[0].trust_levels.admin: "high" is not a whole number`,
				`junction.yaml:8:13: realms[0].trust_levels.user: -1 is not a trust level (a whole number from 0 to 9007199254740991)`,
				`junction.yaml:9:11: realms[0].trust_levels.: an authrole must not be empty`,
				`junction.yaml:10:12: realms[0].trust_levels.bot: 9007199254740992 is not a trust level (a whole number from 0 to 9007199254740991)`,
				`junction.yaml:11:14: realms[0].trust_levels.guest: "99999999999999999999" is too large`,
			},
		},
		{
			name: "trust levels and history of the wrong type",
			yaml: lines(
				"store: {path: {{dir}}/h.db}",
				"realms:",
				"  - name: realm1",
				"    trust_levels: [admin]",
				"    history: {topic: a}",
				"  - name: realm2",
				"    history:",
				"      - a.b",
				"      - topic: [a]",
				"        limit: 1.5",
				"        match: {x: 1}",
				"        keep: 3",
			),
			want: []string{
				`junction.yaml:4:19: realms[0].trust_levels: expected a mapping of authrole: trust level, got a list`,
				`junction.yaml:5:14: realms[0].history: expected a list, got a mapping`,
				`junction.yaml:8:9: realms[1].history[0]: expected a mapping of topic, match, limit, max_bytes, got "a.b"`,
				`junction.yaml:9:16: realms[1].history[1].topic: expected a single value, got a list`,
				`junction.yaml:10:16: realms[1].history[1].limit: "1.5" is not a whole number`,
				`junction.yaml:11:16: realms[1].history[1].match: expected a single value, got a mapping`,
				`junction.yaml:12:9: unknown key "keep" in realms[1].history[1] (known: topic, match, limit, max_bytes)`,
			},
		},
		{
			name: "history rules",
			yaml: lines(
				"store:",
				"  path: {{dir}}/history.db",
				"realms:",
				"  - name: realm1",
				"    history:",
				"      - topic: com.example..x",
				"        limit: 10",
				"      - topic: com.example.",
				"        match: prefix",
				"        limit: 0",
				"      - topic: com..example",
				"        match: wildcard",
				"        limit: 10000001",
				"      - topic: com.example.",
				"        match: prefix",
				"        limit: 5",
				"      - match: glob",
				"        limit: 1",
				"      - topic: com.example.y",
				"      - topic: .",
				"        match: prefix",
				"        limit: 1",
				"  - name: strict",
				"    strict_uris: true",
				"    history:",
				"      - topic: com.Example",
				"        limit: 1",
				"      - topic: com..Example",
				"        match: wildcard",
				"        limit: 1",
			),
			want: []string{
				`junction.yaml:6:16: realms[0].history[0].topic: "com.example..x" is not a valid URI: components separated by '.', none empty, without whitespace or '#'`,
				`junction.yaml:10:16: realms[0].history[1].limit: 0 is out of range: a rule keeps 1 to 10000000 events`,
				`junction.yaml:13:16: realms[0].history[2].limit: 10000001 is out of range: a rule keeps 1 to 10000000 events`,
				`junction.yaml:14:16: realms[0].history[3].topic: a rule for "com.example." with match prefix is already defined at line 8`,
				`junction.yaml:17:9: realms[0].history[4].topic: a topic is required: the topic URI, or a pattern for prefix and wildcard matching`,
				`junction.yaml:17:16: realms[0].history[4].match: "glob" is not one of exact, prefix, wildcard`,
				`junction.yaml:19:9: realms[0].history[5].limit: a limit is required: the number of events the rule keeps, 1 to 10000000`,
				`junction.yaml:20:16: realms[0].history[6].topic: "." is not a valid prefix pattern: a URI, which may end with '.'`,
				`junction.yaml:26:16: realms[1].history[0].topic: "com.Example" is not a valid URI: components separated by '.', none empty, without whitespace or '#'; with strict_uris, components only of lower-case letters, digits and '_'`,
				`junction.yaml:28:16: realms[1].history[1].topic: "com..Example" is not a valid wildcard pattern: a URI whose components may be empty (the wildcards), like com.example..status; with strict_uris, components only of lower-case letters, digits and '_'`,
			},
		},
		{
			name: "history max_bytes",
			yaml: lines(
				"store: {path: {{dir}}/h.db}",
				"realms:",
				"  - name: realm1",
				"    history:",
				"      - {topic: a, limit: 10, max_bytes: 512}",
				"      - {topic: b, limit: 10, max_bytes: 1.5x}",
				"      - {topic: c, limit: 10, max_bytes: -1KiB}",
				"      - {topic: d, limit: 10, max_bytes: [1]}",
				"      - {topic: e, limit: 10, max_bytes: 1023}",
				"      - {topic: f, limit: 10, max_bytes: 0}",
				"      - {topic: g, limit: 10, max_bytes: 1KiB}",
			),
			want: []string{
				`junction.yaml:5:42: realms[0].history[0].max_bytes: 512 bytes is less than the minimum, 1KiB (0 for no bound)`,
				`junction.yaml:6:42: realms[0].history[1].max_bytes: "1.5x" is not a size (use bytes or a unit like 16MiB)`,
				`junction.yaml:7:42: realms[0].history[2].max_bytes: "-1KiB" is not a size (use bytes or a unit like 16MiB)`,
				`junction.yaml:8:42: realms[0].history[3].max_bytes: expected a single value, got a list`,
				`junction.yaml:9:42: realms[0].history[4].max_bytes: 1023 bytes is less than the minimum, 1KiB (0 for no bound)`,
			},
		},
		{
			name: "history without a store",
			yaml: lines(
				"realms:",
				"  - name: realm1",
				"    history:",
				"      - topic: com.example.log",
				"        limit: 100",
			),
			want: []string{`junction.yaml:4:7: realms[0].history: history rules need an event store: set store.path to the file that keeps the events`},
		},
		{
			name: "store",
			yaml: lines("store:", "  path: {{dir}}", "  file: x"),
			want: []string{
				`junction.yaml:2:9: store.path: {{dir}} is a directory; name the store file, like {{dir}}/junction.db`,
				`junction.yaml:3:3: unknown key "file" in store (known: path)`,
			},
		},
		{
			name: "store in a missing directory",
			yaml: lines("store:", "  path: {{dir}}/nope/history.db"),
			want: []string{`junction.yaml:2:9: store.path: the directory of the store file, {{dir}}/nope, cannot be used: stat {{dir}}/nope: no such file or directory`},
		},
		{
			name: "store in a file",
			yaml: lines("store:", "  path: {{dir}}/acert.pem/history.db"),
			want: []string{`junction.yaml:2:9: store.path: {{dir}}/acert.pem is not a directory, so the store file cannot be created in it`},
		},
		{
			name: "store is a list",
			yaml: lines("store: [a]"),
			want: []string{`junction.yaml:1:8: store: expected a mapping of path, got a list`},
		},

		// Limits.
		{
			name: "bad size",
			yaml: lines(
				"listeners:",
				"  - address: 127.0.0.1:8080",
				"realms:",
				"  - name: realm1",
				"log:",
				"  level: info",
				"",
				"",
				"",
				"",
				"limits:",
				"  max_message_size: 16XB",
			),
			want: []string{`junction.yaml:12:21: limits.max_message_size: "16XB" is not a size (use bytes or a unit like 16MiB)`},
		},
		{
			name: "negative size",
			yaml: lines("limits:", "  outbound_queue: -1"),
			want: []string{`junction.yaml:2:19: limits.outbound_queue: "-1" is not a size (use bytes or a unit like 16MiB)`},
		},
		{
			name: "huge size",
			yaml: lines("limits:", "  max_message_size: 99999999999TiB"),
			want: []string{`junction.yaml:2:21: limits.max_message_size: "99999999999TiB" is too large`},
		},
		{
			name: "size out of range",
			yaml: lines("limits:", "  max_message_size: 512", "  outbound_queue: 2GiB"),
			want: []string{
				`junction.yaml:2:21: limits.max_message_size: 512 bytes is less than the minimum, 1KiB`,
				`junction.yaml:3:19: limits.outbound_queue: 2GiB is more than the maximum, 1GiB`,
			},
		},
		{
			name: "pre-welcome size out of range",
			yaml: lines("limits:", "  max_pre_welcome_message_size: 2GiB"),
			want: []string{`junction.yaml:2:33: limits.max_pre_welcome_message_size: 2GiB is more than the maximum, 1GiB`},
		},
		{
			name: "message size over the default partial bytes",
			yaml: lines("limits:", "  max_message_size: 512MiB"),
			want: []string{`junction.yaml:2:21: limits.max_message_size: 512MiB is more than max_partial_bytes (256MiB, the default), so such a message could never arrive; raise max_partial_bytes`},
		},
		{
			name: "partial bytes under the message size",
			yaml: lines("limits:", "  max_partial_bytes: 1MiB"),
			want: []string{`junction.yaml:2:22: limits.max_partial_bytes: 1MiB is less than max_message_size (16MiB), so such a message could never arrive`},
		},
		{
			name: "outbound queue below minimum",
			yaml: lines("limits:", "  outbound_queue: 1KB"),
			want: []string{`junction.yaml:2:19: limits.outbound_queue: 1000 bytes is less than the minimum, 4KiB`},
		},
		{
			name: "slow consumer",
			yaml: lines("limits:", "  slow_consumer: block"),
			want: []string{`junction.yaml:2:18: limits.slow_consumer: "block" is not one of drop, disconnect`},
		},
		{
			name: "duration without unit",
			yaml: lines("limits:", "  hello_timeout: 10"),
			want: []string{`junction.yaml:2:18: limits.hello_timeout: "10" has no unit (write it like 10s or 10ms)`},
		},
		{
			name: "not a duration",
			yaml: lines("limits:", "  handshake_timeout: 1 day"),
			want: []string{`junction.yaml:2:22: limits.handshake_timeout: "1 day" is not a duration (use a number with a unit, like 10s, 500ms or 1m30s)`},
		},
		{
			name: "timeouts must be positive",
			yaml: lines("limits:", "  hello_timeout: 0s", "  handshake_timeout: -1s", "  idle_timeout: -5m", "  shutdown_timeout: -1s"),
			want: []string{
				`junction.yaml:2:18: limits.hello_timeout: must be more than 0, got 0s`,
				`junction.yaml:3:22: limits.handshake_timeout: must be more than 0, got -1s`,
				`junction.yaml:4:17: limits.idle_timeout: must be 0 (no idle timeout) or more, got -5m0s`,
				`junction.yaml:5:21: limits.shutdown_timeout: must be 0 (close every connection at once) or more, got -1s`,
			},
		},
		{
			name: "ping timeout not below interval",
			yaml: lines("limits:", "  ping_interval: 20s", "  ping_timeout: 20s"),
			want: []string{`junction.yaml:3:17: limits.ping_timeout: 20s must be less than ping_interval (20s)`},
		},
		{
			name: "ping interval below default timeout",
			yaml: lines("limits:", "  ping_interval: 5s"),
			want: []string{`junction.yaml:2:18: limits.ping_interval: 5s must be more than ping_timeout (10s, the default); raise it or lower ping_timeout`},
		},
		{
			name: "ping timeout zero with pings on",
			yaml: lines("limits:", "  ping_timeout: 0s"),
			want: []string{`junction.yaml:2:17: limits.ping_timeout: must be more than 0 when pings are on (ping_interval 30s), got 0s`},
		},
		{
			name: "negative ping interval",
			yaml: lines("limits:", "  ping_interval: -1s"),
			want: []string{`junction.yaml:2:18: limits.ping_interval: must be 0 (no pings) or more, got -1s`},
		},
		{
			name: "session limits",
			yaml: lines("limits:", "  max_subscriptions_per_session: 0", "  max_registrations_per_session: 10000001",
				"  max_calls_in_flight_per_session: many"),
			want: []string{
				`junction.yaml:2:34: limits.max_subscriptions_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`junction.yaml:3:34: limits.max_registrations_per_session: 10000001 is out of range: a session limit is 1 to 10000000`,
				`junction.yaml:4:36: limits.max_calls_in_flight_per_session: "many" is not a whole number`,
			},
		},

		// Log.
		{
			name: "log",
			yaml: lines("log:", "  level: verbose", "  format: xml"),
			want: []string{
				`junction.yaml:2:10: log.level: "verbose" is not one of debug, info, warn, error`,
				`junction.yaml:3:11: log.format: "xml" is not one of text, json`,
			},
		},

		// Cluster.
		{
			name: "cluster without a mode",
			yaml: lines("cluster:", "  name: bad.name"),
			want: []string{
				`junction.yaml:2:3: cluster: neither a route address for the embedded NATS server (--cluster) nor NATS URLs (--nats)`,
				`junction.yaml:2:9: cluster.name: cluster name "bad.name": only letters, digits, '_' and '-' (it is a NATS subject token)`,
			},
		},
		{
			name: "cluster values",
			yaml: lines("cluster:", "  listen: 127.0.0.1", "  join: [127.0.0.1:6222, 127.0.0.1:0]", "  heartbeat_interval: 3s"),
			want: []string{
				// node_timeout is not written: its problem is shown at the section.
				`junction.yaml:2:3: cluster.node_timeout: the node timeout (4s) must be at least twice the heartbeat interval (3s), which must be more than 0`,
				`junction.yaml:2:11: cluster.listen: route address "127.0.0.1": address 127.0.0.1: missing port in address`,
				`junction.yaml:3:26: cluster.join[1]: route address "127.0.0.1:0": the port must not be 0`,
			},
		},
		{
			name: "cluster store",
			yaml: lines("cluster:", "  nats: [nats://127.0.0.1:4222]", "  jetstream_dir: /var/lib/js", "  replicas: 7"),
			want: []string{
				`junction.yaml:3:18: cluster.jetstream_dir: only the embedded NATS server (cluster.listen) keeps JetStream data here; an existing NATS keeps its own`,
				`junction.yaml:4:13: cluster.replicas: replicas 7: JetStream keeps 1 to 5 copies of a stream (0 picks)`,
			},
		},
		{
			name: "cluster embedded and existing NATS",
			yaml: lines("cluster:", "  listen: 127.0.0.1:6222", "  nats: [http://nats:4222]"),
			want: []string{
				`junction.yaml:2:3: cluster: an embedded NATS server (--cluster) and an existing NATS (--nats) exclude each other`,
				`junction.yaml:3:10: cluster.nats[0]: NATS URL "http://nats:4222": must be nats://host:port (or tls://host:port)`,
			},
		},
		{
			name: "cluster route security",
			yaml: lines("cluster:", "  listen: 127.0.0.1:6222", "  tls:", "    cert: /nope.pem", "  credentials: /nope.creds", "  route_password: x"),
			want: []string{
				// The missing keys are shown at their section.
				`junction.yaml:4:5: cluster.tls.key: route TLS needs this node's private key`,
				`junction.yaml:4:5: cluster.tls.ca: route TLS needs the CA that issued the nodes' certificates: it is how a node tells a peer from a stranger`,
				`junction.yaml:4:11: cluster.tls.cert: open /nope.pem: no such file or directory`,
				`junction.yaml:5:16: cluster.credentials: a credentials file is for an existing NATS (nats); the embedded server's routes use tls or route_user and route_password`,
				`junction.yaml:6:19: cluster.route_password: route_password needs route_user`,
			},
		},
		{
			name: "cluster NATS security",
			yaml: lines("cluster:", "  nats: [tls://nats:4222]", "  tls:", "    ca: /nope-ca.pem", "    key: /nope.key", "  credentials: /nope.creds", "  route_user: u"),
			want: []string{
				`junction.yaml:4:5: cluster.tls.cert: a client key needs its certificate`,
				`junction.yaml:4:9: cluster.tls.ca: open /nope-ca.pem: no such file or directory`,
				`junction.yaml:5:10: cluster.tls.key: open /nope.key: no such file or directory`,
				`junction.yaml:6:16: cluster.credentials: open /nope.creds: no such file or directory`,
				`junction.yaml:7:15: cluster.route_user: route_user and route_password authorize the embedded server's routes (listen); an existing NATS takes user:password in its URL or a credentials file`,
			},
		},

		// Many problems at once, reported in file order, each once.
		{
			name: "all problems at once",
			yaml: lines(
				"log:",
				"  level: loud",
				"limits:",
				"  max_message_size: huge",
				"  ping_timeout: 1m",
				"listeners:",
				"  - address: 127.0.0.1",
				"    engine: fast",
				"    websocket: nope",
				"  - address: [1, 2]",
				"realms:",
				"  - name: a b",
			),
			want: []string{
				`junction.yaml:2:10: log.level: "loud" is not one of debug, info, warn, error`,
				`junction.yaml:4:21: limits.max_message_size: "huge" is not a size (use bytes or a unit like 16MiB)`,
				`junction.yaml:5:17: limits.ping_timeout: 1m0s must be less than ping_interval (30s)`,
				`junction.yaml:7:14: listeners[0].address: "127.0.0.1" is not a valid address: missing port in address (use host:port, like 127.0.0.1:8080 or [::1]:8080, or unix:/path/to.sock)`,
				`junction.yaml:8:13: listeners[0].engine: "fast" is not one of auto, epoll, goroutine`,
				`junction.yaml:9:16: listeners[0].websocket: "nope" is not a boolean (use true or false)`,
				`junction.yaml:10:14: listeners[1].address: expected a single value, got a list`,
				`junction.yaml:12:11: realms[0].name: "a b" is not a valid WAMP URI: it contains whitespace`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.ReplaceAll(tt.yaml, "{{dir}}", dir)
			cfg, err := Parse("junction.yaml", []byte(data))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with its error")
			}
			want := strings.ReplaceAll(strings.Join(tt.want, "\n"), "{{dir}}", dir)
			if got := err.Error(); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestParseValid checks configs that must load, and what they load to.
func TestParseValid(t *testing.T) {
	def := Default()
	tests := []struct {
		name string
		yaml string
		want func(c *Config) // changes from Default
	}{
		{name: "empty file", yaml: ""},
		{name: "only comments", yaml: lines("# nothing here", "  # still nothing")},
		{name: "empty document", yaml: lines("---")},
		{name: "null document", yaml: lines("~")},
		{name: "trailing empty document", yaml: lines("log:", "  level: warn", "---"), want: func(c *Config) { c.Log.Level = "warn" }},
		{name: "empty sections keep defaults", yaml: lines("listeners:", "realms:", "limits:", "log:")},
		{
			name: "one limit, others default",
			yaml: lines("limits:", "  max_message_size: 1MB"),
			want: func(c *Config) { c.Limits.MaxMessageSize = 1_000_000 },
		},
		{
			name: "memory limits",
			yaml: lines("limits:", "  max_message_size: 1GiB", "  max_partial_bytes: 2GiB", "  max_pre_welcome_message_size: 8KiB"),
			want: func(c *Config) {
				c.Limits.MaxMessageSize, c.Limits.MaxPartialBytes, c.Limits.MaxPreWelcomeMessageSize = 1<<30, 2<<30, 8<<10
			},
		},
		{
			name: "a listener starts from listener defaults",
			yaml: lines("listeners:", "  - address: unix:/run/junction.sock"),
			want: func(c *Config) { c.Listeners = []Listener{defaultListener("unix:/run/junction.sock")} },
		},
		{
			name: "a realm starts from realm defaults",
			yaml: lines("realms:", "  - name: com.example.chat"),
			want: func(c *Config) { c.Realms = []Realm{defaultRealm("com.example.chat")} },
		},
		{
			name: "realm settings",
			yaml: lines(
				"store: {path: /tmp/junction-test-history.db}",
				"realms:",
				"  - name: r",
				"    meta_api: FALSE",
				"    disclose_caller: never",
				"    trust_levels: {admin: 7, 'dotted.role': 0}",
				"    history: &h",
				"      - {topic: com.a..c, match: wildcard, limit: 10000000}",
				"  - name: s",
				"    trust_levels:",
				"    history: *h",
				"  - name: t",
				"    trust_levels: {}",
				"    history: []",
			),
			want: func(c *Config) {
				h := []HistoryRule{{Topic: "com.a..c", Match: "wildcard", Limit: 10_000_000}}
				r, s, t := defaultRealm("r"), defaultRealm("s"), defaultRealm("t")
				r.MetaAPI, r.DiscloseCaller = false, "never"
				r.TrustLevels = map[string]int{"admin": 7, "dotted.role": 0}
				r.History, s.History = h, h
				t.TrustLevels, t.History = map[string]int{}, []HistoryRule{}
				c.Realms = []Realm{r, s, t}
				c.Store.Path = "/tmp/junction-test-history.db"
			},
		},
		{
			name: "pings off ignores ping_timeout",
			yaml: lines("limits:", "  ping_interval: 0", "  ping_timeout: 1h"),
			want: func(c *Config) { c.Limits.PingInterval, c.Limits.PingTimeout = 0, time.Hour },
		},
		{
			name: "booleans in any case, quoted or not",
			yaml: lines("realms:", "  - name: r", "    anonymous: FALSE", "    strict_uris: 'true'"),
			want: func(c *Config) {
				rl := defaultRealm("r")
				rl.StrictURIs, rl.Anonymous = true, false
				c.Realms = []Realm{rl}
			},
		},
		{
			name: "aliases",
			yaml: lines(
				"listeners:",
				"  - address: 127.0.0.1:8080",
				"    allowed_origins: &origins [https://a.example.com, 'https://*.b.example.com']",
				"  - address: '[::1]:8080'",
				"    allowed_origins: *origins",
			),
			want: func(c *Config) {
				o := []string{"https://a.example.com", "https://*.b.example.com"}
				a, b := defaultListener("127.0.0.1:8080"), defaultListener("[::1]:8080")
				a.AllowedOrigins, b.AllowedOrigins = o, o
				c.Listeners = []Listener{a, b}
			},
		},
		{
			name: "distinct hosts on one port, and port 0 twice",
			yaml: lines(
				"listeners:",
				"  - address: 127.0.0.1:8080",
				"  - address: '[::1]:8080'",
				"  - address: localhost:0",
				"  - address: localhost:0",
			),
			want: func(c *Config) {
				c.Listeners = []Listener{
					defaultListener("127.0.0.1:8080"), defaultListener("[::1]:8080"),
					defaultListener("localhost:0"), defaultListener("localhost:0"),
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("junction.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			if tt.want != nil {
				tt.want(want)
			}
			// The default listener's bridge is for realm1, kept only
			// where the config has realm1.
			if !slices.ContainsFunc(want.Realms, func(r Realm) bool { return r.Name == "realm1" }) {
				for i := range want.Listeners {
					want.Listeners[i].Bridge = nil
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	if !reflect.DeepEqual(def, Default()) {
		t.Errorf("Default changed: the tests must not share its slices")
	}
}

// TestDefault pins the documented defaults.
func TestDefault(t *testing.T) {
	want := &Config{
		Listeners: []Listener{{
			Address:       "127.0.0.1:8080",
			WebSocketPath: "/ws",
			WebSocket:     true,
			RawSocket:     true,
			Engine:        "auto",
			Compression:   "none",

			MaxPendingConnections: 10000,
			LongPoll: LongPoll{Enabled: true, Path: "/lp", RequestTimeout: 10 * time.Second, SessionTimeout: 30 * time.Second,
				MaxPerAddress: 32, MaxTransports: 10000},
			Bridge: &Bridge{Realm: "realm1", PublishPath: "/publish", CallPath: "/call", CallTimeout: time.Minute, SignatureWindow: 5 * time.Minute},
		}},
		Realms: []Realm{{Name: "realm1", StrictURIs: false, Anonymous: true, MetaAPI: true,
			DiscloseCaller: "on_request", DisclosePublisher: "on_request"}},
		Limits: Limits{
			MaxMessageSize:           16 << 20,
			MaxPreWelcomeMessageSize: 64 << 10,
			MaxPartialBytes:          256 << 20,
			OutboundQueue:            4 << 20,
			SlowConsumer:             "drop",
			HelloTimeout:             10 * time.Second,
			HandshakeTimeout:         5 * time.Second,
			PingInterval:             30 * time.Second,
			PingTimeout:              10 * time.Second,
			IdleTimeout:              0,
			ShutdownTimeout:          5 * time.Second,

			MaxSubscriptionsPerSession: 10000,
			MaxRegistrationsPerSession: 1000,
			MaxCallsInFlightPerSession: 1000,
		},
		Log:   Log{Level: "info", Format: "text"},
		Admin: Admin{Metrics: true, WebView: true, Throttle: Throttle{Free: 3, MaxDelay: 5 * time.Second}},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v\nwant %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	a, b := Default(), Default()
	a.Listeners[0].Address = "changed"
	if b.Listeners[0].Address == "changed" {
		t.Error("Default() results share memory")
	}
}

// TestFullConfig sets every key to a non-default value and checks that it
// lands in the right field. Relative TLS paths are relative to the file.
func TestFullConfig(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir, "")
	data := lines(
		"listeners:",
		"  - address: 0.0.0.0:8443",
		"    websocket_path: /wamp",
		"    websocket: true",
		"    rawsocket: false",
		"    tls:",
		"      cert: cert.pem",
		"      key: "+keyFile,
		"    allowed_origins:",
		"      - https://app.example.com",
		"      - https://*.example.com",
		"    engine: goroutine",
		"    compression: deflate",
		"    max_pending_connections: 2000",
		"    longpoll:",
		"      path: /wamp-lp",
		"      request_timeout: 5s",
		"      session_timeout: 1m",
		"      max_per_address: 4",
		"      max_transports: 100",
		"      allow_address_change: true",
		"    bridge:",
		"      realm: com.example.public",
		"      publish_path: /http/publish",
		"      call_timeout: 5s",
		"      signature_window: 1m",
		"      keys:",
		"        - {key: svc-key, secret: 0123456789abcdef, authid: svc}",
		"  - address: unix:junction.sock",
		"    websocket: false",
		"    engine: auto",
		"    longpoll:",
		"      enabled: false",
		"realms:",
		"  - name: com.example.chat",
		"    strict_uris: true",
		"    anonymous: false",
		"    meta_api: false",
		"    disclose_caller: always",
		"    disclose_publisher: never",
		"    trust_levels:",
		"      admin: 3",
		"      anonymous: 0",
		"    history:",
		"      - topic: com.example.chat.room.",
		"        match: prefix",
		"        limit: 1000",
		"        max_bytes: 64MiB",
		"      - topic: com.example.chat.news",
		"        limit: 10",
		"  - name: com.example.public",
		"store:",
		"  path: history.db",
		"limits:",
		"  max_message_size: 1MiB",
		"  outbound_queue: 262144",
		"  slow_consumer: disconnect",
		"  hello_timeout: 3s",
		"  handshake_timeout: 2s",
		"  ping_interval: 1m",
		"  ping_timeout: 15s",
		"  idle_timeout: 1h30m",
		"  shutdown_timeout: 0s",
		"  max_subscriptions_per_session: 50000",
		"  max_registrations_per_session: 20",
		"  max_calls_in_flight_per_session: 1",
		"log:",
		"  level: debug",
		"  format: json",
		"webhooks:",
		"  - realm: com.example.chat",
		"    topic: com.example.chat.room.",
		"    match: prefix",
		"    url: https://hooks.example.com/chat",
		"    secret: hook-secret",
		"    queue: 50",
		"    timeout: 3s",
		"    retries: 0",
		"callees:",
		"  - procedure: com.example.chat.translate",
		"    realm: com.example.chat",
		"    url: http://127.0.0.1:9000/translate",
		"    timeout: 2s",
		"    concurrency: 4",
	)
	name := filepath.Join(dir, "junction.yaml")
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(name)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		Listeners: []Listener{
			{
				Address:        "0.0.0.0:8443",
				WebSocketPath:  "/wamp",
				WebSocket:      true,
				RawSocket:      false,
				TLS:            &TLS{CertFile: certFile, KeyFile: keyFile, ClientAuth: "none"},
				AllowedOrigins: []string{"https://app.example.com", "https://*.example.com"},
				Engine:         "goroutine",
				Compression:    "deflate",

				MaxPendingConnections: 2000,
				LongPoll: LongPoll{Enabled: true, Path: "/wamp-lp", RequestTimeout: 5 * time.Second, SessionTimeout: time.Minute,
					MaxPerAddress: 4, MaxTransports: 100, AllowAddressChange: true},
				Bridge: &Bridge{Realm: "com.example.public", PublishPath: "/http/publish", CallPath: "/call", CallTimeout: 5 * time.Second,
					SignatureWindow: time.Minute, Keys: []BridgeKey{{Key: "svc-key", Secret: "0123456789abcdef", AuthID: "svc"}}},
			},
			{
				Address:       "unix:" + filepath.Join(dir, "junction.sock"),
				WebSocketPath: "/ws",
				WebSocket:     false,
				RawSocket:     true,
				Engine:        "auto",
				Compression:   "none",

				MaxPendingConnections: 10000,
				LongPoll: LongPoll{Enabled: false, Path: "/lp", RequestTimeout: 10 * time.Second, SessionTimeout: 30 * time.Second,
					MaxPerAddress: 32, MaxTransports: 10000},
			},
		},
		Realms: []Realm{
			{
				Name: "com.example.chat", StrictURIs: true, Anonymous: false, MetaAPI: false,
				DiscloseCaller: "always", DisclosePublisher: "never",
				TrustLevels: map[string]int{"admin": 3, "anonymous": 0},
				History: []HistoryRule{
					{Topic: "com.example.chat.room.", Match: "prefix", Limit: 1000, MaxBytes: 64 << 20},
					{Topic: "com.example.chat.news", Match: "exact", Limit: 10},
				},
			},
			defaultRealm("com.example.public"),
		},
		Store: Store{Path: filepath.Join(dir, "history.db")},
		Limits: Limits{
			MaxMessageSize:           1 << 20,
			MaxPreWelcomeMessageSize: 64 << 10,
			MaxPartialBytes:          256 << 20,
			OutboundQueue:            256 << 10,
			SlowConsumer:             "disconnect",
			HelloTimeout:             3 * time.Second,
			HandshakeTimeout:         2 * time.Second,
			PingInterval:             time.Minute,
			PingTimeout:              15 * time.Second,
			IdleTimeout:              90 * time.Minute,
			ShutdownTimeout:          0,

			MaxSubscriptionsPerSession: 50000,
			MaxRegistrationsPerSession: 20,
			MaxCallsInFlightPerSession: 1,
		},
		Log: Log{Level: "debug", Format: "json"},
		Webhooks: []Webhook{{Realm: "com.example.chat", Topic: "com.example.chat.room.", Match: "prefix", URL: "https://hooks.example.com/chat",
			Secret: "hook-secret", Queue: 50, Timeout: 3 * time.Second, Retries: 0}},
		Callees: []Callee{{Realm: "com.example.chat", Procedure: "com.example.chat.translate", Match: "exact",
			URL: "http://127.0.0.1:9000/translate", Timeout: 2 * time.Second, Concurrency: 4}},
		Admin: defaultAdmin(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
		for i := range min(len(got.Listeners), len(want.Listeners)) {
			t.Logf("listener %d: got %+v tls %+v, want %+v tls %+v", i, got.Listeners[i], got.Listeners[i].TLS, want.Listeners[i], want.Listeners[i].TLS)
		}
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	_, err := Load(missing)
	if want := "reading config file: open " + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Load(missing) = %v, want %s", err, want)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(lines("log:", "  level: loud")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if want := bad + `:2:10: log.level: "loud" is not one of debug, info, warn, error`; err == nil || err.Error() != want {
		t.Errorf("Load(bad) = %v, want %s", err, want)
	}
}

// TestValidate checks a Config built in code: the same checks as Parse, with
// key paths but no file or line.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{name: "default", change: func(c *Config) {}},
		{
			name:   "zero listener",
			change: func(c *Config) { c.Listeners = []Listener{{Address: ":8080"}} },
			want: []string{
				`listeners[0].websocket_path: "" must start with "/"`,
				`listeners[0]: websocket and rawsocket are both false; enable at least one`,
				`listeners[0].compression: "" is not one of none, deflate`,
				`listeners[0].engine: "" is not one of auto, epoll, goroutine`,
			},
		},
		{
			name: "duplicates",
			change: func(c *Config) {
				c.Listeners = append(c.Listeners, c.Listeners[0])
				c.Realms = append(c.Realms, c.Realms[0])
			},
			want: []string{
				`listeners[1].address: "127.0.0.1:8080" is already used by listeners[0]`,
				`realms[1].name: "realm1" is already defined by realms[0]`,
			},
		},
		{
			name: "limits",
			change: func(c *Config) {
				c.Limits = Limits{}
				c.Log = Log{}
			},
			want: []string{
				`limits.max_message_size: 0 bytes is less than the minimum, 1KiB`,
				`limits.max_pre_welcome_message_size: 0 bytes is less than the minimum, 1KiB`,
				`limits.max_partial_bytes: 0 bytes is less than the minimum, 1KiB`,
				`limits.outbound_queue: 0 bytes is less than the minimum, 4KiB`,
				`limits.slow_consumer: "" is not one of drop, disconnect`,
				`limits.hello_timeout: must be more than 0, got 0s`,
				`limits.handshake_timeout: must be more than 0, got 0s`,
				`limits.max_subscriptions_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`limits.max_registrations_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`limits.max_calls_in_flight_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`log.level: "" is not one of debug, info, warn, error`,
				`log.format: "" is not one of text, json`,
			},
		},
		{
			name: "realm settings",
			change: func(c *Config) {
				c.Realms[0].DiscloseCaller = ""
				c.Realms[0].TrustLevels = map[string]int{"b": -1, "a": 1, "": 0}
				c.Realms[0].History = []HistoryRule{{Topic: "a.b", Match: "exact", Limit: 5}, {Topic: "a.b", Match: "exact"}, {Topic: "a.", Match: "prefix", Limit: 1, MaxBytes: -1}}
			},
			want: []string{
				`realms[0].disclose_caller: "" is not one of on_request, always, never`,
				`realms[0].trust_levels.: an authrole must not be empty`,
				`realms[0].trust_levels.b: -1 is not a trust level (a whole number from 0 to 9007199254740991)`,
				`realms[0].history: history rules need an event store: set store.path to the file that keeps the events`,
				`realms[0].history[1].topic: a rule for "a.b" with match exact is already defined by realms[0].history[0]`,
				`realms[0].history[1].limit: a limit is required: the number of events the rule keeps, 1 to 10000000`,
				`realms[0].history[2].max_bytes: -1 bytes is less than the minimum, 1KiB (0 for no bound)`,
			},
		},
		{
			name:   "store is a directory",
			change: func(c *Config) { c.Store.Path = os.TempDir() },
			want:   []string{`store.path: ` + os.TempDir() + ` is a directory; name the store file, like ` + filepath.Join(os.TempDir(), "junction.db")},
		},
		{
			name:   "tls file missing",
			change: func(c *Config) { c.Listeners[0].TLS = &TLS{CertFile: "/nope.pem", KeyFile: "/nope.key"} },
			want: []string{
				`listeners[0].tls.cert: open /nope.pem: no such file or directory`,
				`listeners[0].tls.key: open /nope.key: no such file or directory`,
			},
		},
		{
			name:   "nothing",
			change: func(c *Config) { *c = Config{} },
			want: []string{
				`listeners: at least one listener is required`,
				`realms: at least one realm is required`,
				`limits.max_message_size: 0 bytes is less than the minimum, 1KiB`,
				`limits.max_pre_welcome_message_size: 0 bytes is less than the minimum, 1KiB`,
				`limits.max_partial_bytes: 0 bytes is less than the minimum, 1KiB`,
				`limits.outbound_queue: 0 bytes is less than the minimum, 4KiB`,
				`limits.slow_consumer: "" is not one of drop, disconnect`,
				`limits.hello_timeout: must be more than 0, got 0s`,
				`limits.handshake_timeout: must be more than 0, got 0s`,
				`limits.max_subscriptions_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`limits.max_registrations_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`limits.max_calls_in_flight_per_session: 0 is out of range: a session limit is 1 to 10000000`,
				`log.level: "" is not one of debug, info, warn, error`,
				`log.format: "" is not one of text, json`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Errorf("Validate:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	var nilConfig *Config
	if err := nilConfig.Validate(); err == nil {
		t.Error("nil Config validated")
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir, "")
	data := lines(
		"listeners:",
		"  - address: 127.0.0.1:8443",
		"    tls:",
		"      cert: "+certFile,
		"      key: "+keyFile,
	)
	cfg, err := Parse("junction.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Listeners[0].TLS; got == nil || got.CertFile != certFile || got.KeyFile != keyFile {
		t.Errorf("TLS = %+v, want cert %s key %s", got, certFile, keyFile)
	}

	// A relative name given to Parse is relative to the directory of name.
	cfg, err = Parse(filepath.Join(dir, "junction.yaml"), []byte(lines(
		"listeners:",
		"  - address: 127.0.0.1:8443",
		"    tls: {cert: cert.pem, key: key.pem}",
	)))
	if err != nil {
		t.Fatalf("Parse with relative names: %v", err)
	}
	if got := cfg.Listeners[0].TLS; got.CertFile != certFile || got.KeyFile != keyFile {
		t.Errorf("relative TLS = %+v, want cert %s key %s", got, certFile, keyFile)
	}

	// tls: with no value means no TLS.
	cfg, err = Parse("junction.yaml", []byte(lines("listeners:", "  - address: 127.0.0.1:8443", "    tls:")))
	if err != nil {
		t.Fatalf("Parse with empty tls: %v", err)
	}
	if cfg.Listeners[0].TLS != nil {
		t.Errorf("empty tls gave %+v, want nil", cfg.Listeners[0].TLS)
	}

	// A FIFO would block a plain read; it is refused instead.
	if runtime.GOOS != "windows" {
		fifo := filepath.Join(dir, "fifo")
		if err := mkfifo(fifo); err == nil {
			_, err := Parse("junction.yaml", []byte(lines(
				"listeners:",
				"  - address: 127.0.0.1:8443",
				"    tls: {cert: "+fifo+", key: "+keyFile+"}",
			)))
			if want := fifo + " is not a regular file"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("FIFO cert: %v, want %q", err, want)
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"1024", 1024, nil},
		{"16MiB", 16 << 20, nil},
		{"16 MiB", 16 << 20, nil},
		{"16mib", 16 << 20, nil},
		{"512KiB", 512 << 10, nil},
		{"1GiB", 1 << 30, nil},
		{"2TiB", 2 << 40, nil},
		{"100B", 100, nil},
		{"1KB", 1000, nil},
		{"1MB", 1_000_000, nil},
		{"1GB", 1_000_000_000, nil},
		{" 7 ", 7, nil},
		{"", 0, errNotSize},
		{"MiB", 0, errNotSize},
		{"16XB", 0, errNotSize},
		{"16M", 0, errNotSize},
		{"1.5MiB", 0, errNotSize},
		{"-1", 0, errNotSize},
		{"+1", 0, errNotSize},
		{"0x10", 0, errNotSize},
		{"1e6", 0, errNotSize},
		{"16MiBs", 0, errNotSize},
		{"9223372036854775807", 1<<63 - 1, nil},
		{"9223372036854775808", 0, errSizeTooLarge},
		{"8388608TiB", 0, errSizeTooLarge},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if got != tt.want || err != tt.err {
			t.Errorf("parseSize(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 bytes"},
		{512, "512 bytes"},
		{1024, "1KiB"},
		{1536, "1536 bytes"},
		{4 << 20, "4MiB"},
		{3 << 30, "3GiB"},
		{1_000_000, "1000000 bytes"},
	}
	for _, tt := range tests {
		if got := formatSize(tt.in); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"10s", 10 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"0", 0, ""},
		{" 2s ", 2 * time.Second, ""},
		{"-1s", -time.Second, ""},
		{"10", 0, `"10" has no unit (write it like 10s or 10ms)`},
		{"1.5", 0, `"1.5" has no unit (write it like 1.5s or 1.5ms)`},
		{"1d", 0, `"1d" is not a duration (use a number with a unit, like 10s, 500ms or 1m30s)`},
		{"ten seconds", 0, `"ten seconds" is not a duration (use a number with a unit, like 10s, 500ms or 1m30s)`},
		{"", 0, `"" is not a duration (use a number with a unit, like 10s, 500ms or 1m30s)`},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("parseDuration(%q) = %v, %q; want %v, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

// TestExample checks that example.yaml loads and that README.md shows it
// verbatim and documents every key.
func TestExample(t *testing.T) {
	cfg, err := Load("example.yaml")
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if len(cfg.Listeners) < 2 || len(cfg.Realms) < 2 {
		t.Errorf("example.yaml should show several listeners and realms, got %+v", cfg)
	}
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append(append([]byte("```yaml\n"), example...), "```"...)) {
		t.Error("README.md does not contain example.yaml verbatim in a ```yaml block")
	}
	for _, keys := range [][]string{topKeys, listenerKeys, longpollKeys, bridgeKeys, bridgeKeyKeys, webhookKeys, calleeKeys, tlsKeys, realmKeys, historyKeys, storeKeys, limitsKeys, logKeys, clusterKeys, clusterTLSKeys} {
		for _, k := range keys {
			if !regexp.MustCompile("(?m)^\\| `[a-z_.\\[\\]]*" + regexp.QuoteMeta(k) + "`").Match(readme) {
				t.Errorf("README.md has no table row for key %q", k)
			}
		}
	}
}

// TestREADMEErrors checks that the error example in README.md is what
// Parse really says about the config shown with it.
func TestREADMEErrors(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)This `junction.yaml`:\n\n```yaml\n(.*?)```\n\nis refused with:\n\n```\n(.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no error example")
	}
	_, err = Parse("junction.yaml", m[1])
	if err == nil {
		t.Fatal("the README's bad config parses")
	}
	if got, want := err.Error(), string(m[2]); got != want {
		t.Errorf("README.md shows:\n%s\nParse says:\n%s", want, got)
	}
}

// FuzzParse feeds arbitrary bytes to Parse: it must not panic, every error
// line must name the file, and a config it accepts must pass Validate.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("example.yaml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"",
		"listeners:\n  - address: :8080\n    allowed_origins: &o ['*']\n  - address: unix:/x\n    allowed_origins: *o\n",
		"realms:\n  - name: a\n  - name: a\n",
		"limits: {max_message_size: 16MiB, ping_interval: 0, idle_timeout: 1h}\n",
		"log: &l {level: *l}\n",
		"a: &a [*a, *a]\nlisteners: *a\n",
		"listeners:\n  - address: :8443\n    tls: {cert: /nope, key: /nope}\n",
		"log:\n\tlevel: x\n---\nb: 1\n",
		"? [a]\n: b\n<<: {x: 1}\n",
		"store: {path: h.db}\nrealms:\n  - name: a\n    trust_levels: {x: 1, '': -1}\n    history: [{topic: a., match: prefix, limit: 5}, {topic: a}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Error("Parse returned a config with its error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml:") {
					t.Errorf("error line does not name the file: %q", line)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Parse accepted a config that Validate refuses: %v", err)
		}
	})
}

// TestSyntaxErrorLineInLargeFile checks the line search on a file much
// longer than a typical config.
func TestSyntaxErrorLineInLargeFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("log:\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "  # comment %d\n", i)
	}
	b.WriteString("  level: info\n format: json\n")
	_, err := Parse("big.yaml", []byte(b.String()))
	if want := "big.yaml:3003: did not find expected key"; err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
}

// TestEpollServesTLS: a TLS listener may ask for the epoll engine.
func TestEpollServesTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "srv")
	yaml := fmt.Sprintf("listeners:\n  - address: 127.0.0.1:8443\n    engine: epoll\n    tls:\n      cert: %s\n      key: %s\n", cert, key)
	cfg, err := Parse(filepath.Join(dir, "junction.yaml"), []byte(yaml))
	if runtime.GOOS != "linux" {
		return
	}
	if err != nil || cfg.Listeners[0].Engine != "epoll" || cfg.Listeners[0].TLS == nil {
		t.Fatalf("got %+v, %v", cfg, err)
	}
}

func TestCluster(t *testing.T) {
	cfg, err := Parse("/etc/junction/junction.yaml", []byte(lines("cluster:", "  node: n1", "  listen: 127.0.0.1:6221",
		"  join: [127.0.0.1:6222, 127.0.0.1:6223]", "  node_timeout: 10s", "  jetstream_dir: data/js", "  replicas: 3")))
	if err != nil {
		t.Fatal(err)
	}
	want := Cluster{Name: "junction", Node: "n1", Listen: "127.0.0.1:6221", Join: []string{"127.0.0.1:6222", "127.0.0.1:6223"},
		HeartbeatInterval: time.Second, NodeTimeout: 10 * time.Second, JetStreamDir: "/etc/junction/data/js", Replicas: 3}
	if cfg.Cluster == nil || !reflect.DeepEqual(*cfg.Cluster, want) {
		t.Fatalf("cluster = %+v, want %+v", cfg.Cluster, want)
	}
	if cfg, err = Parse("junction.yaml", []byte("log:\n  level: info\n")); err != nil || cfg.Cluster != nil {
		t.Fatalf("without a cluster section: %+v, %v; want no cluster", cfg.Cluster, err)
	}
}

// TestClusterSecurity: the cluster section's TLS files are relative to
// the config file, checked at load, and passed on to package cluster.
func TestClusterSecurity(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	node, err := ca.Node("node1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := node.WriteFiles(dir, "node1-"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JUNCTION_TEST_ROUTE_PASSWORD", "s3cret")
	file := filepath.Join(dir, "junction.yaml")
	if err := os.WriteFile(file, []byte(lines("cluster:", "  listen: 127.0.0.1:6221", "  tls:", "    cert: node1-cert.pem",
		"    key: node1-key.pem", "    ca: ca.pem", "  route_user: route", "  route_password: ${JUNCTION_TEST_ROUTE_PASSWORD}")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	nc := cfg.Cluster.NodeConfig()
	if nc.TLS == nil || nc.TLS.CertFile != filepath.Join(dir, "node1-cert.pem") || nc.TLS.KeyFile != filepath.Join(dir, "node1-key.pem") ||
		nc.TLS.CAFile != filepath.Join(dir, "ca.pem") || nc.RouteUser != "route" || nc.RoutePassword != "s3cret" {
		t.Fatalf("node config %+v (TLS %+v)", nc, nc.TLS)
	}
}
