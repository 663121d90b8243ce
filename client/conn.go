package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// framer carries WAMP messages over one connection: it puts a frame header
// in front of each outgoing message and reads incoming messages, answering
// transport-level pings itself.
type framer interface {
	// room is the space a frame header needs in front of a message.
	room() int
	// seal frames the message in b[room():], writing the header at the end
	// of b[:room()], and returns the offset where the frame starts.
	seal(b []byte) int
	// next reads the next WAMP message. Control frames that need an answer
	// are answered through ctl, which queues a complete frame.
	next(ctl func(frame []byte)) ([]byte, error)
	// closeFrame is written, if not nil, before the connection is closed.
	closeFrame() []byte
}

// link is a connected, handshaken transport.
type link struct {
	conn   net.Conn
	fr     framer
	maxOut int // largest message the router accepts; 0 when it does not say
	kind   string
}

// aLongTimeAgo is a deadline in the past: it makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

// guard runs fn with conn's deadline tied to ctx: when ctx is done, blocked
// I/O on conn returns and guard reports ctx's error.
func guard(ctx context.Context, conn net.Conn, fn func() error) error {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	err := fn()
	if !stop() {
		if err == nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	conn.SetDeadline(time.Time{})
	return err
}

// dialLink connects to rawURL and does the transport handshake.
func dialLink(ctx context.Context, rawURL string, c codec.Codec, o *Options) (*link, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("router URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "ws", "wss":
		return dialWebSocket(ctx, rawURL, u, c, o)
	case "rs", "rss", "unix":
	case "tcp":
		u.Scheme = "rs"
	case "tls":
		u.Scheme = "rss"
	default:
		return nil, fmt.Errorf("router URL %q: scheme %q is not ws, wss, rs (tcp), rss (tls) or unix", rawURL, u.Scheme)
	}

	var conn net.Conn
	d := o.dialer()
	if u.Scheme == "unix" {
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		conn, err = d.DialContext(ctx, "unix", path)
	} else {
		if u.Port() == "" {
			return nil, fmt.Errorf("router URL %q: a RawSocket URL needs a port", rawURL)
		}
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", rawURL, err)
	}
	if u.Scheme == "rss" {
		cfg := o.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", rawURL, err)
		}
		conn = tc
	}
	maxIn := rawsocket.AnnouncedLength(o.maxMessage())
	if maxIn < o.maxMessage() && maxIn < rawsocket.MaxLength {
		maxIn *= 2 // announce at least what was asked for
	}
	var maxOut int
	err = guard(ctx, conn, func() error {
		var err error
		maxOut, err = rawsocketHandshake(conn, c.Format(), maxIn)
		return err
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rawsocket handshake with %s: %w", rawURL, err)
	}
	fr := &rawsocketFramer{r: bufio.NewReaderSize(conn, o.readBuffer()), maxIn: maxIn}
	kind := "rawsocket"
	return &link{conn: conn, fr: fr, maxOut: maxOut, kind: kind}, nil
}

func dialWebSocket(ctx context.Context, rawURL string, u *url.URL, c codec.Codec, o *Options) (*link, error) {
	d := ws.Dialer{
		ReadBufferSize: o.readBuffer(),
		Protocols:      []string{c.Subprotocol()},
		NetDial:        o.dialer().DialContext,
		TLSConfig:      o.TLSConfig,
	}
	var (
		jarURL *url.URL
		set    []*http.Cookie
	)
	if o.CookieJar != nil {
		jarURL = cookieURL(u)
		if h := cookieHeader(o.CookieJar.Cookies(jarURL)); h != "" {
			d.Header = ws.HandshakeHeaderHTTP(http.Header{"Cookie": {h}})
		}
		d.OnHeader = func(key, value []byte) error {
			if strings.EqualFold(string(key), "Set-Cookie") {
				if sc, err := http.ParseSetCookie(string(value)); err == nil {
					set = append(set, sc)
				}
			}
			return nil
		}
	}
	conn, br, hs, err := d.Dial(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket handshake with %s: %w", rawURL, err)
	}
	if len(set) > 0 {
		o.CookieJar.SetCookies(jarURL, set)
	}
	if hs.Protocol != c.Subprotocol() {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake with %s: the router did not accept subprotocol %s", rawURL, c.Subprotocol())
	}
	if br == nil {
		br = bufio.NewReaderSize(conn, o.readBuffer())
	}
	op := ws.OpText
	if c.Binary() {
		op = ws.OpBinary
	}
	return &link{conn: conn, fr: &wsFramer{r: br, maxIn: o.maxMessage(), op: op}, kind: "websocket"}, nil
}

// cookieURL is the http:// or https:// URL a cookie jar knows a ws:// or
// wss:// URL by (net/http/cookiejar keeps cookies for HTTP URLs only, and
// sends Secure cookies over https only).
func cookieURL(u *url.URL) *url.URL {
	h := *u
	h.Scheme = "http"
	if u.Scheme == "wss" {
		h.Scheme = "https"
	}
	h.User = nil
	h.Fragment, h.RawFragment = "", ""
	return &h
}

// cookieHeader is the value of a Cookie request header, "" for none.
func cookieHeader(cs []*http.Cookie) string {
	var b strings.Builder
	for _, c := range cs {
		v := (&http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted}).String()
		if v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v)
	}
	return b.String()
}

// RawSocket: the handshake and frame layout come from package
// transport/rawsocket, which the router's side uses too.

// rawsocketHandshake sends the client's 4 octets, reads the router's and
// returns the largest message the router accepts.
func rawsocketHandshake(conn net.Conn, f wamp.Format, maxIn int) (int, error) {
	req := rawsocket.AppendHandshake(make([]byte, 0, rawsocket.HandshakeSize),
		rawsocket.Handshake{MaxLength: maxIn, Serializer: f})
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	var reply [rawsocket.HandshakeSize]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		return 0, err
	}
	h, err := rawsocket.ParseReply(reply[:])
	if err != nil {
		return 0, err
	}
	if h.Serializer != f {
		return 0, fmt.Errorf("router answered with serializer %d, not %d", h.Serializer, f)
	}
	return h.MaxLength, nil
}

// rawsocketFramer is RawSocket's 4-octet length prefix.
type rawsocketFramer struct {
	r     *bufio.Reader
	maxIn int
	hdr   [rawsocket.HeaderSize]byte
}

func (*rawsocketFramer) room() int { return rawsocket.HeaderSize }

func (*rawsocketFramer) seal(b []byte) int {
	rawsocket.AppendHeader(b[:0], rawsocket.TypeMessage, len(b)-rawsocket.HeaderSize)
	return 0
}

func (f *rawsocketFramer) next(ctl func([]byte)) ([]byte, error) {
	for {
		if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
			return nil, err
		}
		h, err := rawsocket.ParseHeader(f.hdr[:])
		if err != nil {
			return nil, err
		}
		if h.Length > f.maxIn {
			return nil, fmt.Errorf("%w: %d bytes, %d announced", rawsocket.ErrTooLong, h.Length, f.maxIn)
		}
		switch h.Type {
		case rawsocket.TypeMessage:
			buf := make([]byte, h.Length)
			if _, err := io.ReadFull(f.r, buf); err != nil {
				return nil, err
			}
			return buf, nil
		case rawsocket.TypePing:
			pong := rawsocket.AppendHeader(make([]byte, 0, rawsocket.HeaderSize+h.Length), rawsocket.TypePong, h.Length)
			pong = pong[:cap(pong)]
			if _, err := io.ReadFull(f.r, pong[rawsocket.HeaderSize:]); err != nil {
				return nil, err
			}
			ctl(pong)
		default: // PONG
			if _, err := f.r.Discard(h.Length); err != nil {
				return nil, err
			}
		}
	}
}

func (*rawsocketFramer) closeFrame() []byte { return nil }

// wsFramer is WebSocket framing for a client: frames it sends are masked,
// frames it receives are not.
type wsFramer struct {
	r     *bufio.Reader
	maxIn int
	op    ws.OpCode
	hbuf  [ws.MaxHeaderSize]byte
}

func (*wsFramer) room() int { return ws.MaxHeaderSize }

func (f *wsFramer) seal(b []byte) int {
	return putWSHeader(b, f.op, ws.MaxHeaderSize)
}

// putWSHeader masks the payload in b[room:] and writes a final frame's
// header just before it, returning where the header starts.
func putWSHeader(b []byte, op ws.OpCode, room int) int {
	payload := b[room:]
	n := len(payload)
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	ws.Cipher(payload, mask, 0)
	size := 2 + 4
	switch {
	case n > 0xffff:
		size += 8
	case n > 125:
		size += 2
	}
	start := room - size
	h := b[start:room]
	h[0] = 0x80 | byte(op)
	switch {
	case n > 0xffff:
		h[1] = 0x80 | 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	case n > 125:
		h[1] = 0x80 | 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h[1] = 0x80 | byte(n)
	}
	copy(h[size-4:], mask[:])
	return start
}

// wsControl builds a masked control frame.
func wsControl(op ws.OpCode, payload []byte) []byte {
	room := 6
	b := make([]byte, room+len(payload))
	copy(b[room:], payload)
	return b[putWSHeader(b, op, room):]
}

// errWSClosed is returned when the router sends a close frame.
type errWSClosed struct {
	code   ws.StatusCode
	reason string
}

func (e errWSClosed) Error() string {
	if e.reason == "" {
		return fmt.Sprintf("websocket closed by the router (%d)", e.code)
	}
	return fmt.Sprintf("websocket closed by the router (%d %s)", e.code, e.reason)
}

func (f *wsFramer) next(ctl func([]byte)) ([]byte, error) {
	var msg []byte
	fragmented := false
	for {
		h, err := ws.ReadHeaderBuffer(f.r, f.hbuf[:])
		if err != nil {
			return nil, err
		}
		if h.Rsv != 0 {
			return nil, errors.New("websocket: reserved bits set (no extension was negotiated)")
		}
		if h.Length > int64(f.maxIn) || int64(len(msg))+h.Length > int64(f.maxIn) {
			return nil, fmt.Errorf("websocket: message larger than %d bytes", f.maxIn)
		}
		if h.OpCode.IsControl() && (h.Length > 125 || !h.Fin) {
			return nil, errors.New("websocket: control frame fragmented or longer than 125 bytes")
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(f.r, payload); err != nil {
			return nil, err
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			ctl(wsControl(ws.OpPong, payload))
		case ws.OpPong:
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(payload)
			ctl(wsControl(ws.OpClose, payload[:min(len(payload), 2)]))
			return nil, errWSClosed{code: code, reason: reason}
		case ws.OpText, ws.OpBinary:
			if fragmented {
				return nil, errors.New("websocket: new message before the last one's final fragment")
			}
			if h.Fin {
				return payload, nil
			}
			msg, fragmented = payload, true
		case ws.OpContinuation:
			if !fragmented {
				return nil, errors.New("websocket: continuation frame without a message")
			}
			msg = append(msg, payload...)
			if h.Fin {
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("websocket: reserved opcode %d", h.OpCode)
		}
	}
}

func (f *wsFramer) closeFrame() []byte {
	return wsControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
}

// isClosedConn reports errors that mean the connection simply ended.
func isClosedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection reset")
}
