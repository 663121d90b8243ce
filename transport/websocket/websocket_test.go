package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/wamp/codec"
)

// clientFrame builds a masked client frame.
func clientFrame(op ws.OpCode, fin bool, payload string) []byte {
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(payload))}
	p := []byte(payload)
	ws.Cipher(p, h.Mask, 0)
	return append(AppendHeader(nil, h), p...)
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []ws.Header{
		{Fin: true, OpCode: ws.OpText, Length: 0},
		{Fin: true, OpCode: ws.OpBinary, Length: 125},
		{Fin: false, OpCode: ws.OpText, Length: 126, Masked: true, Mask: [4]byte{9, 8, 7, 6}},
		{Fin: true, OpCode: ws.OpContinuation, Length: 0xffff},
		{Fin: true, OpCode: ws.OpBinary, Length: 0x10000, Rsv: 4},
		{Fin: true, OpCode: ws.OpPing, Length: 1 << 40, Masked: true},
	} {
		var want bytes.Buffer
		if err := ws.WriteHeader(&want, h); err != nil {
			t.Fatal(err)
		}
		got := AppendHeader(nil, h)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("AppendHeader(%+v) = %x, ws.WriteHeader %x", h, got, want.Bytes())
		}
		back, n, err := ParseHeader(got)
		if err != nil || n != len(got) || back != h {
			t.Fatalf("ParseHeader(%x) = %+v, %d, %v; want %+v", got, back, n, err, h)
		}
		for i := range len(got) {
			if _, n, _ := ParseHeader(got[:i]); n != 0 {
				t.Fatalf("header from a %d-byte prefix", i)
			}
		}
	}
}

func TestBeginEndFrame(t *testing.T) {
	for _, size := range []int{0, 1, 125, 126, 1000, 0xffff, 0x10000, 100000} {
		payload := bytes.Repeat([]byte{'x'}, size)
		b := []byte("prefix")
		b, start := BeginFrame(b)
		b = append(b, payload...)
		if PayloadLen(b, start) != size {
			t.Fatalf("PayloadLen = %d, want %d", PayloadLen(b, start), size)
		}
		b = EndFrame(b, start, ws.OpBinary)
		want := append([]byte("prefix"), AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(size)})...)
		want = append(want, payload...)
		if !bytes.Equal(b, want) {
			t.Fatalf("size %d: frame differs", size)
		}
	}
}

func TestAppendClose(t *testing.T) {
	b := AppendClose(nil, ws.StatusMessageTooBig, strings.Repeat("é", 100))
	h, n, err := ParseHeader(b)
	if err != nil || h.OpCode != ws.OpClose || h.Length > ws.MaxControlFramePayloadSize || n+int(h.Length) != len(b) {
		t.Fatalf("header %+v, %v", h, err)
	}
	ev, err := closeEvent(b[n:])
	if err != nil || ev.Code != ws.StatusMessageTooBig {
		t.Fatalf("close event %+v, %v", ev, err)
	}
	if b := AppendClose(nil, 0, "x"); !bytes.Equal(b, []byte{0x88, 0}) {
		t.Fatalf("empty close = %x", b)
	}
}

func TestReader(t *testing.T) {
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	type want struct {
		kind    EventKind
		payload string
		code    ws.StatusCode
	}
	tests := []struct {
		name   string
		in     []byte
		max    int64
		expect ws.OpCode
		events []want
		err    ws.StatusCode
	}{
		{
			name:   "text message",
			in:     clientFrame(ws.OpText, true, `[1,"realm1",{}]`),
			events: []want{{kind: EventMessage, payload: `[1,"realm1",{}]`}},
		},
		{
			name: "fragments with a ping between",
			in: cat(
				clientFrame(ws.OpText, false, "[1,"),
				clientFrame(ws.OpPing, true, "p"),
				clientFrame(ws.OpContinuation, false, `"realm1"`),
				clientFrame(ws.OpContinuation, true, ",{}]"),
			),
			events: []want{
				{kind: EventPing, payload: "p"},
				{kind: EventMessage, payload: `[1,"realm1",{}]`},
			},
		},
		{
			name:   "close with code",
			in:     clientFrame(ws.OpClose, true, "\x03\xe8bye"),
			events: []want{{kind: EventClose, payload: "bye", code: 1000}},
		},
		{
			name:   "empty close",
			in:     clientFrame(ws.OpClose, true, ""),
			events: []want{{kind: EventClose}},
		},
		{
			name:   "close code 1013 (registered with IANA)",
			in:     clientFrame(ws.OpClose, true, "\x03\xf5"),
			events: []want{{kind: EventClose, code: 1013}},
		},
		{
			name: "unmasked",
			in:   AppendControl(nil, ws.OpPing, nil),
			err:  ws.StatusProtocolError,
		},
		{
			name: "reserved bits",
			in:   append([]byte{0xc1}, clientFrame(ws.OpText, true, "x")[1:]...),
			err:  ws.StatusProtocolError,
		},
		{
			name: "reserved opcode",
			in:   clientFrame(3, true, "x"),
			err:  ws.StatusProtocolError,
		},
		{
			name: "continuation without a start",
			in:   clientFrame(ws.OpContinuation, true, "x"),
			err:  ws.StatusProtocolError,
		},
		{
			name: "new message inside a fragmented one",
			in:   cat(clientFrame(ws.OpText, false, "x"), clientFrame(ws.OpText, true, "y")),
			err:  ws.StatusProtocolError,
		},
		{
			name: "fragmented ping",
			in:   clientFrame(ws.OpPing, false, "x"),
			err:  ws.StatusProtocolError,
		},
		{
			name: "too big in one frame",
			in:   clientFrame(ws.OpBinary, true, "12345"),
			max:  4,
			err:  ws.StatusMessageTooBig,
		},
		{
			name: "too big across fragments",
			in:   cat(clientFrame(ws.OpBinary, false, "123"), clientFrame(ws.OpContinuation, true, "45")),
			max:  4,
			err:  ws.StatusMessageTooBig,
		},
		{
			name:   "binary on a text session",
			in:     clientFrame(ws.OpBinary, true, "x"),
			expect: ws.OpText,
			err:    ws.StatusUnsupportedData,
		},
		{
			name:   "text on a binary session",
			in:     clientFrame(ws.OpText, true, "x"),
			expect: ws.OpBinary,
			err:    ws.StatusUnsupportedData,
		},
		{
			name: "invalid UTF-8 across fragments",
			in:   cat(clientFrame(ws.OpText, false, "\xce"), clientFrame(ws.OpContinuation, true, "\xff")),
			err:  ws.StatusInvalidFramePayloadData,
		},
		{
			name:   "UTF-8 split across fragments",
			in:     cat(clientFrame(ws.OpText, false, "\xce"), clientFrame(ws.OpContinuation, true, "\xbb")),
			events: []want{{kind: EventMessage, payload: "λ"}},
		},
		{
			name: "close code 1005 may not be sent",
			in:   clientFrame(ws.OpClose, true, "\x03\xed"),
			err:  ws.StatusProtocolError,
		},
		{
			name: "close with one octet",
			in:   clientFrame(ws.OpClose, true, "\x03"),
			err:  ws.StatusProtocolError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reader{MaxMessageSize: tt.max, Expect: tt.expect}
			b := tt.in
			var got []want
			for len(b) > 0 {
				ev, n, err := r.Next(b)
				if err != nil {
					var ce *CloseError
					if !errors.As(err, &ce) {
						t.Fatalf("error %v is not a CloseError", err)
					}
					if ce.Code != tt.err {
						t.Fatalf("close code %d (%v), want %d", ce.Code, err, tt.err)
					}
					return
				}
				if n == 0 {
					t.Fatalf("needs %d bytes, has %d", ev.Need, len(b))
				}
				if ev.Kind != EventNone {
					got = append(got, want{ev.Kind, string(ev.Payload), ev.Code})
				}
				b = b[n:]
			}
			if tt.err != 0 {
				t.Fatalf("no error, want close code %d", tt.err)
			}
			if len(got) != len(tt.events) {
				t.Fatalf("events %+v, want %+v", got, tt.events)
			}
			for i := range got {
				if got[i] != tt.events[i] {
					t.Fatalf("event %d: %+v, want %+v", i, got[i], tt.events[i])
				}
			}
		})
	}
}

func TestReaderNeedsMore(t *testing.T) {
	in := clientFrame(ws.OpText, true, strings.Repeat("a", 300))
	var r Reader
	for i := range len(in) {
		buf := append([]byte(nil), in[:i]...)
		ev, n, err := r.Next(buf)
		if err != nil || n != 0 {
			t.Fatalf("prefix %d: n = %d, err = %v", i, n, err)
		}
		if ev.Need <= i || ev.Need > len(in) {
			t.Fatalf("prefix %d: need %d", i, ev.Need)
		}
	}
}

func TestReaderAllocatesNothing(t *testing.T) {
	frame := clientFrame(ws.OpText, true, `[16,1,{},"topic"]`)
	buf := make([]byte, len(frame))
	r := Reader{MaxMessageSize: 1 << 20, Expect: ws.OpText}
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, frame)
		if _, _, err := r.Next(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message", allocs)
	}
}

func TestOriginPolicy(t *testing.T) {
	p, err := NewOriginPolicy([]string{"https://app.example.com", "https://*.example.org", "http://*.local:8080"})
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://app.example.com":       true,
		"HTTPS://APP.EXAMPLE.COM":       true,
		"http://app.example.com":        false,
		"https://app.example.com:8443":  false,
		"https://a.example.org":         true,
		"https://a.b.example.org":       true,
		"https://example.org":           false,
		"https://.example.org":          false,
		"https://evil.com/.example.org": false,
		"https://a.example.org:1":       false,
		"http://x.local:8080":           true,
		"http://x.local":                false,
		"null":                          false,
		// The default port is the same as none.
		"https://app.example.com:443":  true,
		"HTTPS://App.Example.COM:443":  true,
		"https://app.example.com:4430": false,
		"http://app.example.com:443":   false,
		"https://a.b.example.org:443":  true,
		"https://example.org:443":      false,
		"http://x.local:80":            false,
	} {
		if got := p.Allow(origin); got != want {
			t.Errorf("Allow(%q) = %v, want %v", origin, got, want)
		}
	}
	// Patterns that name the default port allow the origins browsers
	// send, which never do.
	p, err = NewOriginPolicy([]string{"https://App.example.com:443", "http://*.example.org:80", "wss://w.example.com:443", "ws://[::1]:80"})
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://app.example.com":      true,
		"https://app.example.com:443":  true,
		"https://app.example.com:8443": false,
		"http://a.example.org":         true,
		"http://a.example.org:80":      true,
		"http://a.example.org:8080":    false,
		"http://example.org":           false,
		"wss://w.example.com":          true,
		"ws://[::1]":                   true,
		"ws://[::1]:80":                true,
		"ws://[::1]:8080":              false,
	} {
		if got := p.Allow(origin); got != want {
			t.Errorf("with default ports in the patterns: Allow(%q) = %v, want %v", origin, got, want)
		}
	}
	if p, _ := NewOriginPolicy(nil); !p.Allow("https://any.where") {
		t.Error("an empty policy refuses")
	}
	if p, _ := NewOriginPolicy([]string{"*"}); !p.Allow("https://any.where") {
		t.Error(`"*" refuses`)
	}
	for _, bad := range []string{"example.com", "https://a.*.com", "https://*example.com", "https://x.com/path", "https://*.*.com"} {
		if _, err := NewOriginPolicy([]string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

// handshake runs Upgrader u against a gobwas/ws client over a pipe.
func handshake(t *testing.T, u *Upgrader, path string, protocols []string, header ws.HandshakeHeader) (codec.Codec, string, error) {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	type result struct {
		c   codec.Codec
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := u.Upgrade(srv)
		srv.Close()
		done <- result{c, err}
	}()
	d := ws.Dialer{Protocols: protocols, Header: header}
	u2, err := url.Parse("ws://test" + path)
	if err != nil {
		t.Fatal(err)
	}
	_, hs, cerr := d.Upgrade(cli, u2)
	r := <-done
	if (cerr == nil) != (r.err == nil) {
		t.Fatalf("client says %v, server says %v", cerr, r.err)
	}
	return r.c, hs.Protocol, r.err
}

func TestUpgrade(t *testing.T) {
	origins, err := NewOriginPolicy([]string{"https://*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	u := &Upgrader{Origins: origins}
	status := func(err error) int {
		var rej *ws.ConnectionRejectedError
		if errors.As(err, &rej) {
			return rej.StatusCode()
		}
		return 0
	}

	c, proto, err := handshake(t, u, "/ws", []string{"wamp.2.cbor.batched", "wamp.2.msgpack", "wamp.2.json"}, nil)
	if err != nil || c != codec.MsgPack || proto != "wamp.2.msgpack" {
		t.Fatalf("got %v %q %v, want msgpack", c, proto, err)
	}
	if _, _, err := handshake(t, u, "/other", []string{"wamp.2.json"}, nil); status(err) != 404 {
		t.Fatalf("wrong path: %v", err)
	}
	if _, _, err := handshake(t, u, "/ws", []string{"mqtt"}, nil); status(err) != 400 || !strings.Contains(err.Error(), "wamp.2.json") {
		t.Fatalf("unsupported subprotocol: %v", err)
	}
	if _, _, err := handshake(t, u, "/ws", nil, nil); status(err) != 400 || !strings.Contains(err.Error(), "no WAMP subprotocol") {
		t.Fatalf("no subprotocol: %v", err)
	}
	bad := ws.HandshakeHeaderString("Origin: https://evil.com\r\n")
	if _, _, err := handshake(t, u, "/ws", []string{"wamp.2.json"}, bad); status(err) != 403 {
		t.Fatalf("bad origin: %v", err)
	}
	// A request over the limit is answered 431 while the client may still
	// be sending it (no pipe here: a net.Pipe client would never read).
	huge := "GET /ws HTTP/1.1\r\nHost: test\r\nCookie: " + strings.Repeat("c", DefaultMaxRequestSize) + "\r\n\r\n"
	var out bytes.Buffer
	_, err = u.Accept(struct {
		io.Reader
		io.Writer
	}{strings.NewReader(huge), &out})
	if !errors.Is(err, ErrRequestTooLarge) || status(err) != 431 {
		t.Fatalf("huge request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(&out), nil)
	if err != nil {
		t.Fatalf("huge request: answer %q: %v", out.String(), err)
	}
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 431 || !resp.Close || err != nil || !strings.Contains(string(body), fmt.Sprint(DefaultMaxRequestSize)) {
		t.Fatalf("huge request: answer %d (close: %v) %q, %v", resp.StatusCode, resp.Close, body, err)
	}
	good := ws.HandshakeHeaderString("Origin: https://app.example.com\r\n")
	if c, _, err := handshake(t, u, "/ws?x=1", []string{"wamp.2.json"}, good); err != nil || c != codec.JSON {
		t.Fatalf("good origin: %v %v", c, err)
	}
}

// TestAcceptKey: the Sec-WebSocket-Key is judged as gobwas/ws reads the
// request (the last one counts, names are case-insensitive, values
// trimmed), whether the head comes in one read or byte by byte; bytes
// after the head (the client's first frames) are not read as headers.
func TestAcceptKey(t *testing.T) {
	const good, bad = "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=A"
	head := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"
	tests := []struct {
		name, headers, after string
		ok                   bool
	}{
		{"good", "Sec-WebSocket-Key: " + good + "\r\n", "", true},
		{"bad", "Sec-WebSocket-Key: " + bad + "\r\n", "", false},
		{"lower case, tabs", "sec-websocket-key:\t" + bad + "\t\r\n", "", false},
		{"bare LF", "Sec-WebSocket-Key: " + bad + "\n", "", false},
		{"last one counts", "Sec-WebSocket-Key: " + bad + "\r\nSec-WebSocket-Key: " + good + "\r\n", "", true},
		{"last bad one counts", "Sec-WebSocket-Key: " + good + "\r\nSec-WebSocket-Key: " + bad + "\r\n", "", false},
		{"long line", "Sec-WebSocket-Key:" + strings.Repeat(" ", 200) + good + "\r\n", "", true},
		{"after the head", "Sec-WebSocket-Key: " + good + "\r\n", "Sec-WebSocket-Key: " + bad + "\r\n", true},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			req := head + tt.headers + "\r\n" + tt.after
			var r io.Reader = strings.NewReader(req)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			var out bytes.Buffer
			_, err := (&Upgrader{}).Accept(struct {
				io.Reader
				io.Writer
			}{r, &out})
			if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrBadKey) {
				t.Errorf("%s (one byte at a time: %v): %v, %q", tt.name, oneByte, err, out.String())
			}
		}
	}
}
