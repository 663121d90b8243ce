package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ioTimeout bounds every read a test client makes.
const ioTimeout = 5 * time.Second

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func newRouter(t *testing.T) *router.Router {
	t.Helper()
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// testServer is a Server serving on a real socket.
type testServer struct {
	*Server
	ln      net.Listener
	network string
	addr    string
	// prelude is written first on every connection the test dials: a
	// PROXY protocol header (forwarded_test.go).
	prelude []byte
}

// engines lists the engines this system has.
func engines() []string {
	if epollSupported {
		return []string{EngineGoroutine, EngineEpoll}
	}
	return []string{EngineGoroutine}
}

// forEngines runs test once for each engine, as a subtest named after it:
// for tests of one engine's machinery or of TLS itself. Tests of what a
// connection does run in every mode (forModes).
func forEngines(t *testing.T, test func(t *testing.T, engine string)) {
	for _, e := range engines() {
		t.Run(e, func(t *testing.T) { test(t, e) })
	}
}

// mode is one way the test server carries connections: an engine, over
// plain TCP (or a Unix socket) or over TLS. The epoll engine's TLS has a
// record layer of its own (tlsrec) under the same framing code, and the
// goroutine engine's is crypto/tls under a net.Conn: what a connection
// does must not depend on either.
type mode struct {
	engine string
	tls    bool
}

// String names the mode's subtest: "epoll", "epoll-tls" (one level, so
// that -run 'TestX/-tls' picks the TLS modes and nothing of the others).
func (m mode) String() string {
	if m.tls {
		return m.engine + "-tls"
	}
	return m.engine
}

// modes lists every engine, plain and over TLS.
func modes() []mode {
	var ms []mode
	for _, tls := range []bool{false, true} {
		for _, e := range engines() {
			ms = append(ms, mode{engine: e, tls: tls})
		}
	}
	return ms
}

// forModes runs test once for each mode, as a subtest named after it.
func forModes(t *testing.T, test func(t *testing.T, m mode)) {
	for _, m := range modes() {
		t.Run(m.String(), func(t *testing.T) { test(t, m) })
	}
}

// tlsConfig is the server's TLSConfig in mode m: serverTLS over TLS, nil
// on plain connections.
func (m mode) tlsConfig() *tls.Config {
	if m.tls {
		return serverTLS
	}
	return nil
}

// start is startServer in mode m. Over TLS the Server gets serverTLS
// before cfg runs (cfg may replace it), and the test's dialers (dial,
// dialWS, dialRS, httpClient) speak TLS since the Server has a TLSConfig.
func (m mode) start(t *testing.T, cfg func(*Server)) *testServer {
	t.Helper()
	return startServer(t, m.engine, func(s *Server) {
		s.TLSConfig = m.tlsConfig()
		if cfg != nil {
			cfg(s)
		}
	})
}

// tcpConn is the TCP connection under a test client's connection, TLS or
// not, for its socket options.
func tcpConn(t testing.TB, c net.Conn) *net.TCPConn {
	t.Helper()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a TCP connection", c)
	}
	return tcp
}

// startServer serves a Server with the given engine, configured by cfg, on
// 127.0.0.1 (or on ln) and closes it when the test ends, checking that no
// goroutine is left.
func startServer(t *testing.T, engine string, cfg func(*Server)) *testServer {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, engine, cfg)
}

func serveOn(t *testing.T, ln net.Listener, engine string, cfg func(*Server)) *testServer {
	t.Helper()
	before := goleak.IgnoreCurrent()
	s := &Server{Router: newRouter(t), Logger: testLogger(), Engine: engine}
	if cfg != nil {
		cfg(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// ErrServerClosed: the test was over before Serve began (its
		// subtests filtered out by -run, say).
		if err := <-done; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		goleak.VerifyNone(t, before)
	})
	return &testServer{Server: s, ln: ln, network: ln.Addr().Network(), addr: ln.Addr().String()}
}

func (ts *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := ts.dialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ts.TLSConfig != nil {
		c = tls.Client(c, clientTLS)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialContext dials the server and, when the test set one, writes the
// PROXY header a load balancer would (prelude) before anything else.
func (ts *testServer) dialContext(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, ts.network, ts.addr)
	if err != nil || ts.prelude == nil {
		return c, err
	}
	if _, err := c.Write(ts.prelude); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readHead reads from conn (within ioTimeout) until the end of an HTTP
// response's head, and returns what it read, more perhaps, with the
// error that ended it early.
func readHead(conn net.Conn) ([]byte, error) {
	conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// client is what the tests need of a WAMP test client, either protocol.
type client interface {
	send(m wamp.Message)
	// recv returns the next message, answering pings on the way.
	recv() wamp.Message
	// closed reads until the server closes the connection and returns the
	// messages that came first; for WebSocket, also the close code.
	closed() ([]wamp.Message, ws.StatusCode)
	netConn() net.Conn
}

// wsClient is a WebSocket client on gobwas/ws's low-level API.
type wsClient struct {
	t     *testing.T
	conn  net.Conn
	r     io.Reader
	codec codec.Codec
	// pongs receives the payloads of pongs and pings seen by recv when set.
	pings [][]byte
	// deflate: permessage-deflate was negotiated; send compresses every
	// message, and compressed counts the messages that came compressed.
	deflate    bool
	compressed int
}

func (ts *testServer) dialWS(t *testing.T, protocol string) *wsClient {
	t.Helper()
	c, err := ts.tryWS(t, protocol, ts.wsPath(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ts *testServer) wsPath() string {
	if ts.WebSocketPath != "" {
		return ts.WebSocketPath
	}
	return "/ws"
}

// tryWS dials a WebSocket with the subprotocol offered (none when empty) and
// extra request headers.
func (ts *testServer) tryWS(t *testing.T, protocol, path string, header ws.HandshakeHeader) (*wsClient, error) {
	t.Helper()
	return ts.tryWSOffer(t, protocol, path, header, false)
}

// dialWSDeflate dials a WebSocket offering permessage-deflate (with
// gobwas/ws's wsflate, as a browser offers it: client_max_window_bits);
// the client's deflate field says whether the server accepted.
func (ts *testServer) dialWSDeflate(t *testing.T, protocol string) *wsClient {
	t.Helper()
	c, err := ts.tryWSOffer(t, protocol, ts.wsPath(), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ts *testServer) tryWSOffer(t *testing.T, protocol, path string, header ws.HandshakeHeader, deflate bool) (*wsClient, error) {
	t.Helper()
	d := ws.Dialer{
		Header:  header,
		Timeout: ioTimeout,
		NetDial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return ts.dialContext(ctx)
		},
	}
	if protocol != "" {
		d.Protocols = []string{protocol}
	}
	scheme := "ws"
	if ts.TLSConfig != nil {
		scheme = "wss"
		d.TLSConfig = clientTLS
	}
	if deflate {
		d.Extensions = []httphead.Option{wsflate.Parameters{ClientMaxWindowBits: 1}.Option()}
	}
	conn, br, hs, err := d.Dial(context.Background(), scheme+"://localhost"+path)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn, r: conn, codec: codec.BySubprotocol(hs.Protocol)}
	for _, o := range hs.Extensions {
		var p wsflate.Parameters
		if err := p.Parse(o); err != nil {
			t.Fatalf("the server answered %s: %v", o, err)
		}
		if !p.ServerNoContextTakeover || !p.ClientNoContextTakeover {
			t.Fatalf("permessage-deflate negotiated with %+v, want no context takeover either way", p)
		}
		c.deflate = true
	}
	if br != nil {
		c.r = br
	}
	if c.codec == nil {
		t.Fatalf("server chose subprotocol %q", hs.Protocol)
	}
	return c, nil
}

func (c *wsClient) netConn() net.Conn { return c.conn }

func (c *wsClient) writeFrame(op ws.OpCode, fin, masked bool, payload []byte) {
	c.t.Helper()
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))}
	p := append([]byte(nil), payload...)
	if masked {
		h.Masked, h.Mask = true, ws.NewMask()
		ws.Cipher(p, h.Mask, 0)
	}
	if _, err := c.conn.Write(append(websocket.AppendHeader(nil, h), p...)); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

func (c *wsClient) send(m wamp.Message) {
	c.t.Helper()
	b, err := c.codec.Encode(nil, m)
	if err != nil {
		c.t.Fatal(err)
	}
	op := ws.OpText
	if c.codec.Binary() {
		op = ws.OpBinary
	}
	if c.deflate {
		c.writeCompressed(op, b)
		return
	}
	c.writeFrame(op, true, true, b)
}

// writeCompressed sends p compressed (RSV1) with gobwas/ws's wsflate, in
// one frame.
func (c *wsClient) writeCompressed(op ws.OpCode, p []byte) {
	c.t.Helper()
	z, err := wsflate.DefaultHelper.Compress(p)
	if err != nil {
		c.t.Fatal(err)
	}
	h := ws.Header{Fin: true, OpCode: op, Rsv: ws.Rsv(true, false, false), Length: int64(len(z)), Masked: true, Mask: ws.NewMask()}
	ws.Cipher(z, h.Mask, 0)
	if _, err := c.conn.Write(append(websocket.AppendHeader(nil, h), z...)); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

func (c *wsClient) readFrame() (ws.Header, []byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err = io.ReadFull(c.r, p); err != nil {
		return h, p, err
	}
	if h.Rsv != 0 {
		if h.Rsv != ws.Rsv(true, false, false) || !c.deflate || h.OpCode.IsControl() || h.OpCode == ws.OpContinuation {
			return h, p, fmt.Errorf("server frame %v with RSV bits %03b (permessage-deflate negotiated: %v)", h.OpCode, h.Rsv, c.deflate)
		}
		if p, err = wsflate.DefaultHelper.Decompress(p); err != nil {
			return h, p, fmt.Errorf("decompressing a server message: %w", err)
		}
		h.Rsv, h.Length = 0, int64(len(p))
		c.compressed++
	}
	return h, p, nil
}

func (c *wsClient) recv() wamp.Message {
	c.t.Helper()
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("reading: %v", err)
		}
		switch h.OpCode {
		case ws.OpPing:
			c.pings = append(c.pings, p)
			c.writeFrame(ws.OpPong, true, true, p)
			continue
		case ws.OpPong:
			c.pings = append(c.pings, p)
			continue
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			c.t.Fatalf("unexpected close %d %q", code, reason)
		}
		if (h.OpCode == ws.OpBinary) != c.codec.Binary() || !h.Fin {
			c.t.Fatalf("message in a %v frame (fin %v) on a %s session", h.OpCode, h.Fin, c.codec.Subprotocol())
		}
		m, err := c.codec.Decode(p)
		if err != nil {
			c.t.Fatalf("decoding %q: %v", p, err)
		}
		return m
	}
}

func (c *wsClient) closed() ([]wamp.Message, ws.StatusCode) {
	c.t.Helper()
	var msgs []wamp.Message
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("waiting for the close frame: %v", err)
		}
		switch h.OpCode {
		case ws.OpText, ws.OpBinary:
			m, err := c.codec.Decode(p)
			if err != nil {
				c.t.Fatalf("decoding %q: %v", p, err)
			}
			msgs = append(msgs, m)
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			// Answer, then expect the server to close the TCP connection.
			c.writeFrame(ws.OpClose, true, true, p[:min(len(p), 2)])
			if _, _, err := c.readFrame(); err == nil {
				c.t.Fatal("frame after the close frame")
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				c.t.Fatalf("after the close frame: %v", err)
			}
			return msgs, code
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// rsClient is a RawSocket client on a raw connection.
type rsClient struct {
	t      *testing.T
	conn   net.Conn
	r      *bufio.Reader
	codec  codec.Codec
	router rawsocket.Handshake
	pings  [][]byte
}

func (ts *testServer) dialRS(t *testing.T, f wamp.Format) *rsClient {
	t.Helper()
	c, err := ts.tryRS(t, []byte{rawsocket.Magic, 0xf0 | byte(f), 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryRS sends a handshake request and returns the client or the error the
// reply carries.
func (ts *testServer) tryRS(t *testing.T, req []byte) (*rsClient, error) {
	t.Helper()
	conn := ts.dial(t)
	c := &rsClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	var reply [4]byte
	conn.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadFull(c.r, reply[:]); err != nil {
		return nil, err
	}
	h, err := rawsocket.ParseReply(reply[:])
	if err != nil {
		return nil, err
	}
	c.router = h
	c.codec = codec.ByFormat(h.Serializer)
	return c, nil
}

func (c *rsClient) netConn() net.Conn { return c.conn }

func (c *rsClient) writeFrame(t rawsocket.FrameType, payload []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(rawsocket.AppendFrame(nil, t, payload)); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

func (c *rsClient) send(m wamp.Message) {
	c.t.Helper()
	b, err := c.codec.Encode(nil, m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeFrame(rawsocket.TypeMessage, b)
}

func (c *rsClient) readFrame() (rawsocket.Header, []byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var hb [4]byte
	if _, err := io.ReadFull(c.r, hb[:]); err != nil {
		return rawsocket.Header{}, nil, err
	}
	h, err := rawsocket.ParseHeader(hb[:])
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.r, p)
	return h, p, err
}

func (c *rsClient) recv() wamp.Message {
	c.t.Helper()
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("reading: %v", err)
		}
		switch h.Type {
		case rawsocket.TypePing:
			c.pings = append(c.pings, p)
			c.writeFrame(rawsocket.TypePong, p)
			continue
		case rawsocket.TypePong:
			c.pings = append(c.pings, p)
			continue
		}
		m, err := c.codec.Decode(p)
		if err != nil {
			c.t.Fatalf("decoding %q: %v", p, err)
		}
		return m
	}
}

func (c *rsClient) closed() ([]wamp.Message, ws.StatusCode) {
	c.t.Helper()
	var msgs []wamp.Message
	for {
		h, p, err := c.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !isReset(err) {
				c.t.Fatalf("waiting for the end of the connection: %v", err)
			}
			return msgs, 0
		}
		if h.Type == rawsocket.TypeMessage {
			m, err := c.codec.Decode(p)
			if err != nil {
				c.t.Fatalf("decoding %q: %v", p, err)
			}
			msgs = append(msgs, m)
		}
	}
}

var clientRoles = wamp.Dict{"roles": wamp.Dict{
	"publisher": wamp.Dict{}, "subscriber": wamp.Dict{}, "caller": wamp.Dict{}, "callee": wamp.Dict{},
}}

// join says HELLO and expects WELCOME.
func join(t *testing.T, c client) wamp.ID {
	t.Helper()
	c.send(&wamp.Hello{Realm: "realm1", Details: clientRoles})
	m := c.recv()
	w, ok := m.(*wamp.Welcome)
	if !ok {
		t.Fatalf("got %s %+v, want WELCOME", m.Type(), m)
	}
	return w.Session
}

// expect receives the next message and checks its type.
func expect[M wamp.Message](t *testing.T, c client) M {
	t.Helper()
	m := c.recv()
	mm, ok := m.(M)
	if !ok {
		t.Fatalf("got %s %+v, want %T", m.Type(), m, mm)
	}
	return mm
}

// expectAbort checks that the connection ends with ABORT
// protocol_violation (whose message contains want) and, for WebSocket,
// close code code.
func expectAbort(t *testing.T, c client, want string, code ws.StatusCode) {
	t.Helper()
	msgs, got := c.closed()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages before the close, want one ABORT: %+v", len(msgs), msgs)
	}
	a, ok := msgs[0].(*wamp.Abort)
	if !ok || a.Reason != wamp.ErrProtocolViolation {
		t.Fatalf("got %+v, want ABORT protocol_violation", msgs[0])
	}
	if msg := wamp.String(a.Details, "message"); !containsFold(msg, want) {
		t.Fatalf("ABORT message %q does not mention %q", msg, want)
	}
	if _, ok := c.(*wsClient); ok && got != code {
		t.Fatalf("close code %d, want %d", got, code)
	}
}

func containsFold(s, sub string) bool {
	return len(sub) == 0 || indexFold(s, sub) >= 0
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func equalFoldASCII(a, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// roundTrip checks that c's session works: it publishes with
// acknowledgement and waits for PUBLISHED.
func roundTrip(t *testing.T, c client, req wamp.ID) {
	t.Helper()
	c.send(&wamp.Publish{Request: req, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.ping"})
	p := expect[*wamp.Published](t, c)
	if p.Request != req {
		t.Fatalf("PUBLISHED for request %d, want %d", p.Request, req)
	}
}

// clientTLS trusts the certificate of serverTLS, whose PEM is serverPEM
// (for clients in other processes).
var serverTLS, clientTLS, serverPEM = selfSigned()

func selfSigned() (*tls.Config, *tls.Config, []byte) {
	p, err := testcert.New()
	if err != nil {
		panic(err)
	}
	srv := &tls.Config{Certificates: []tls.Certificate{p.Cert}}
	cli := &tls.Config{RootCAs: p.Pool, ServerName: "localhost"}
	return srv, cli, p.CertPEM
}

// serverConn is the server's side of a connection, either engine.
type serverConn interface {
	router.Peer
	// setSendBuffer sets the socket's send buffer size.
	setSendBuffer(n int)
	isClosing() bool
	// queued returns the bytes queued and not yet written.
	queued() int
}

func (c *conn) setSendBuffer(n int) { c.raw.(*net.TCPConn).SetWriteBuffer(n) }

func (c *conn) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int(c.inflight.Load())
	if c.pending != nil {
		n += len(c.pending.b)
	}
	return n
}

// serverConn finds the server's side of the connection whose client end
// has address client, once it is attached to the router.
func (ts *testServer) serverConn(t testing.TB, client net.Addr) serverConn {
	t.Helper()
	var found serverConn
	eventually(t, "the server's side of "+client.String(), func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for c := range ts.conns {
			if c.remote == client.String() && c.attached() {
				found = c
			}
		}
		if found == nil {
			found = ts.engineConnLocked(client.String())
		}
		return found != nil
	})
	return found
}

// eventually polls cond for up to 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.True(t, 5*time.Second, what, cond)
}
