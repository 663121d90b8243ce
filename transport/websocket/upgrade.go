package websocket

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/wamp/codec"
)

// DefaultPath is the WAMP endpoint's path when Upgrader.Path is empty.
const DefaultPath = "/ws"

// DefaultMaxRequestSize bounds the HTTP upgrade request when
// Upgrader.MaxRequestSize is zero.
const DefaultMaxRequestSize = 64 << 10

// Upgrader is the server side of the WAMP WebSocket opening handshake. Its
// zero value serves DefaultPath to any origin. It is safe for concurrent use.
type Upgrader struct {
	// Path is the request path of the WAMP endpoint ("" means DefaultPath);
	// a request for another path gets 404 Not Found. The query is ignored.
	Path string
	// Origins decides which Origin headers are accepted; a refused origin
	// gets 403 Forbidden. A request without an Origin header (a client that
	// is not a browser) is accepted. Nil accepts any origin.
	Origins *OriginPolicy
	// MaxRequestSize bounds the bytes read for the upgrade request, headers
	// included; zero means DefaultMaxRequestSize. A request over it is
	// answered 431 Request Header Fields Too Large. (gobwas/ws accumulates a
	// header line of any length in memory; this is what bounds it.)
	MaxRequestSize int
	// Cookie, when set, is the authentication cookie Accept reads
	// from the request and, when the request has none (or one this router
	// could not have set), sets in the response.
	Cookie *Cookie
	// Deflate accepts a client's permessage-deflate offer (RFC 7692), with
	// server_no_context_takeover and client_no_context_takeover (see
	// MinDeflateSize and Inflate for what that means). Off, offers are
	// ignored and the client talks uncompressed.
	Deflate bool
	// ForwardedFor keeps the request's X-Forwarded-For header lines in
	// Upgraded.ForwardedFor, for a server behind reverse proxies to tell
	// who the client is; off, they are not looked at.
	ForwardedFor bool
}

// Upgraded is what an upgrade settled.
type Upgraded struct {
	// Codec is the serializer of the chosen subprotocol.
	Codec codec.Codec
	// Cookie is the authentication cookie (Upgrader.Cookie), zero when
	// cookies are off.
	Cookie UpgradedCookie
	// Deflate is true when permessage-deflate was negotiated: the
	// connection's Reader takes compressed messages and the router may
	// compress what it sends.
	Deflate bool
	// ForwardedFor are the request's X-Forwarded-For header lines, in
	// order (Upgrader.ForwardedFor).
	ForwardedFor []string
}

// UpgradedCookie is the authentication cookie of an upgraded connection.
type UpgradedCookie struct {
	// Value is the cookie's value; "" when cookies are off.
	Value string
	// Issued is true when the upgrade set Value because the client sent
	// none (or one the Signer did not make). Only a login on such a
	// connection may be remembered under the value: a value someone
	// planted in a browser, even one this router signed, is then never
	// tied to the victim's login (session fixation).
	Issued bool
}

// Cookie describes the authentication cookie of the upgrade.
type Cookie struct {
	// Name is the cookie's name.
	Name string
	// Attributes follow the value in Set-Cookie, such as
	// "; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict; Secure".
	Attributes string
	// Signer makes the values set in responses and is the only judge of
	// the values clients send: one it did not make is replaced. Required.
	Signer *CookieSigner
}

// cookieValue returns the value of cookie name in a Cookie header, "" if
// absent.
func cookieValue(header []byte, name string) string {
	for _, part := range bytes.Split(header, []byte(";")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(part), []byte("="))
		if ok && string(k) == name {
			return string(bytes.Trim(v, `"`))
		}
	}
	return ""
}

// ErrRequestTooLarge is the error of an upgrade request refused (431
// Request Header Fields Too Large) because its request line and headers
// are over Upgrader.MaxRequestSize.
var ErrRequestTooLarge = ws.RejectConnectionError(ws.RejectionStatus(http.StatusRequestHeaderFieldsTooLarge),
	ws.RejectionReason("websocket handshake: request too large"))

// tooLargeResponse is the answer to a request over limit bytes, as
// net/http gives it: the client may still be sending its head, and the
// connection closes after the answer.
func tooLargeResponse(limit int) []byte {
	body := fmt.Sprintf("the request line and headers of a WebSocket upgrade must not exceed %d bytes\n", limit)
	return fmt.Appendf(nil, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// limitedReader fails with ErrRequestTooLarge after n bytes, and has key
// judge the Sec-WebSocket-Key of the request's head as it passes.
type limitedReader struct {
	r   io.Reader
	n   int
	key keyScanner
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, ErrRequestTooLarge
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	l.key.scan(p[:n])
	return n, err
}

// ErrBadKey is the error of an upgrade request refused (400) because its
// Sec-WebSocket-Key is not the base64 of 16 bytes.
var ErrBadKey = ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
	ws.RejectionReason("Sec-WebSocket-Key must be the base64 encoding of 16 bytes\n"))

// maxKeyLine is the longest part of a header line keyScanner keeps when
// the line comes in two reads: a Sec-WebSocket-Key line is 45 bytes.
const maxKeyLine = 64

// keyScanner finds the Sec-WebSocket-Key header in the bytes of a
// request's head and judges its value, as RFC 6455 section 4.2.1 asks:
// the base64 encoding of 16 bytes. gobwas/ws checks only its length (24),
// and does not show it to the Upgrader's callbacks. Lines are split and
// trimmed as gobwas/ws does, and the last key counts, as there; a line
// cut by a read and too long to be kept is judged by nobody here
// (gobwas/ws refuses a key that long).
type keyScanner struct {
	line [maxKeyLine]byte // the start of a line cut by a read
	n    int              // bytes in line
	long bool             // the line cut by a read did not fit
	done bool             // the head's blank line was seen
	bad  bool             // the last Sec-WebSocket-Key seen is not valid
}

func (k *keyScanner) scan(b []byte) {
	for len(b) > 0 && !k.done {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			k.keep(b)
			return
		}
		line := b[:i]
		if k.n > 0 || k.long {
			k.keep(line)
			line = k.line[:k.n]
		}
		k.judge(bytes.TrimSuffix(line, []byte("\r")))
		k.n, k.long = 0, false
		b = b[i+1:]
	}
}

// keep adds b to the line cut by a read.
func (k *keyScanner) keep(b []byte) {
	if k.long || k.n+len(b) > len(k.line) {
		k.long = true
		return
	}
	k.n += copy(k.line[k.n:], b)
}

// judge looks at one whole line of the head, its end cut.
func (k *keyScanner) judge(line []byte) {
	switch {
	case len(line) == 0 && !k.long:
		k.done = true
		return
	case k.long:
		// Only its start was kept; a key in it is not judged.
		if name, _, ok := bytes.Cut(k.line[:k.n], []byte(":")); ok && isKeyHeader(name) {
			k.bad = false
		}
		return
	}
	if t := trimSpace(line); len(t) == 0 || t[0]|0x20 != 's' {
		return // not the key: most lines end here
	}
	if name, value, ok := bytes.Cut(line, []byte(":")); ok && isKeyHeader(name) {
		k.bad = !validKey(trimSpace(value))
	}
}

func isKeyHeader(name []byte) bool {
	const key = "Sec-WebSocket-Key"
	return len(name) >= len(key) && bytes.EqualFold(trimSpace(name), []byte(key))
}

// trimSpace trims spaces and tabs, as gobwas/ws trims header names and
// values.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validKey reports whether key is the base64 encoding of 16 bytes.
func validKey(key []byte) bool {
	const nonce = 16
	var b [18]byte // Decode needs room for the 24 characters' 18 bytes
	if len(key) != base64.StdEncoding.EncodedLen(nonce) {
		return false
	}
	n, err := base64.StdEncoding.Strict().Decode(b[:], key)
	return err == nil && n == nonce
}

// subprotocols lists what the router speaks, for error messages.
var subprotocols = func() string {
	names := make([]string, len(codec.All))
	for i, c := range codec.All {
		names[i] = c.Subprotocol()
	}
	return strings.Join(names, ", ")
}()

// Errors of an upgrade refused (400) for its subprotocols.
var (
	ErrNoSubprotocol = ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
		ws.RejectionReason("no WAMP subprotocol offered: Sec-WebSocket-Protocol must name one of "+subprotocols+"\n"))
	ErrUnsupportedSubprotocol = ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
		ws.RejectionReason("none of the offered subprotocols is supported; this router speaks "+subprotocols+"\n"))
)

// ErrRequestBody is the error of an upgrade request refused (400) because
// it announces a body.
var ErrRequestBody = ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
	ws.RejectionReason("a WebSocket upgrade request has no body (Content-Length or Transfer-Encoding)\n"))

// hasBody reports whether the request header key: value announces a
// body: a Content-Length other than 0, or any Transfer-Encoding. An
// upgrade request has none, and what follows its head is read as the
// client's first frames; so a body, which an HTTP intermediary forwards
// as the request's content and nothing more, would reach the session as
// frames the client never sent as such (request smuggling). Such a
// request is refused rather than its body skipped.
func hasBody(key, value []byte) bool {
	switch string(key) {
	case "Content-Length":
		return string(value) != "0"
	case "Transfer-Encoding":
		return true
	}
	return false
}

// Upgrade reads the client's HTTP upgrade request from rw and answers it:
// 101 Switching Protocols with the first subprotocol in the client's list
// that the router speaks, or an error status with a plain-text body that
// says why (404 wrong path, 403 origin refused, 400 no WAMP subprotocol, a
// request with a body or a malformed one, 431 a request over
// MaxRequestSize, 405, 426 and the like for what gobwas/ws refuses). It
// returns the codec of the chosen subprotocol. An error (a
// *ws.ConnectionRejectedError when the request was answered with an error
// status) means the caller closes the connection. The 431 is answered with
// the rest of the request unread (ErrRequestTooLarge): the caller reads
// what the client still sends before it closes, or the reset that closing
// causes may destroy the answer. Deadlines are the caller's business.
//
// rw is read through a buffer: bytes the client sends after its request and
// before the response (which RFC 6455, section 4.1, rules out by having
// clients wait for the response) are lost unless rw's reads end with the
// request's head, as the transports' do.
func (u *Upgrader) Upgrade(rw io.ReadWriter) (codec.Codec, error) {
	up, err := u.Accept(rw)
	return up.Codec, err
}

// Accept is Upgrade, returning all the upgrade settled: the codec, the
// authentication cookie (Upgrader.Cookie: the one the client sent, or a
// new one set in the response) and whether permessage-deflate was
// negotiated (Upgrader.Deflate).
func (u *Upgrader) Accept(rw io.ReadWriter) (Upgraded, error) {
	var cookie string
	var forwarded []string
	issued := false
	path := u.Path
	if path == "" {
		path = DefaultPath
	}
	var (
		chosen  codec.Codec
		offered bool
		deflate deflateNegotiator
		lr      limitedReader
	)
	up := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if !bytes.Equal(RequestPath(uri), []byte(path)) {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound),
					ws.RejectionReason(fmt.Sprintf("no WAMP endpoint at %s; WebSocket clients connect to %s\n", RequestPath(uri), path)))
			}
			return nil
		},
		OnHeader: func(key, value []byte) error {
			if hasBody(key, value) {
				return ErrRequestBody
			}
			if u.Cookie != nil && cookie == "" && string(key) == "Cookie" {
				if v := cookieValue(value, u.Cookie.Name); u.Cookie.Signer.Valid(v) {
					cookie = v
				}
			}
			if u.ForwardedFor && len(key) == len("X-Forwarded-For") && bytes.EqualFold(key, []byte("X-Forwarded-For")) {
				forwarded = append(forwarded, string(value))
			}
			if u.Origins != nil && string(key) == "Origin" && !u.Origins.Allow(string(value)) {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusForbidden),
					ws.RejectionReason(fmt.Sprintf("origin %q is not allowed\n", value)))
			}
			return nil
		},
		Protocol: func(p []byte) bool {
			offered = true
			for _, c := range codec.All {
				if string(p) == c.Subprotocol() {
					chosen = c
					return true
				}
			}
			return false
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			switch {
			case lr.key.bad:
				return nil, ErrBadKey
			case chosen != nil && u.Cookie != nil && cookie == "":
				cookie, issued = u.Cookie.Signer.New(), true
				return ws.HandshakeHeaderString("Set-Cookie: " + u.Cookie.Name + "=" + cookie + u.Cookie.Attributes + "\r\n"), nil
			case chosen != nil:
				return nil, nil
			case offered:
				return nil, ErrUnsupportedSubprotocol
			}
			return nil, ErrNoSubprotocol
		},
	}
	if u.Deflate {
		up.Negotiate = deflate.negotiate
	}
	limit := u.MaxRequestSize
	if limit <= 0 {
		limit = DefaultMaxRequestSize
	}
	lr.r, lr.n = rw, limit
	if _, err := up.Upgrade(struct {
		io.Reader
		io.Writer
	}{&lr, rw}); err != nil {
		if errors.Is(err, ErrRequestTooLarge) {
			// gobwas/ws gives up on a read error without an answer: this
			// one is ours to give.
			if _, werr := rw.Write(tooLargeResponse(limit)); werr != nil {
				err = fmt.Errorf("%w (writing the answer: %w)", err, werr)
			}
		}
		return Upgraded{}, err
	}
	return Upgraded{Codec: chosen, Cookie: UpgradedCookie{Value: cookie, Issued: issued}, Deflate: deflate.accepted, ForwardedFor: forwarded}, nil
}

// RequestPath returns the path of an HTTP request target: origin form
// ("/ws?x") or absolute form ("http://host/ws?x"). It is what Upgrader
// compares with its Path, and what package transport routes plain HTTP
// requests by.
func RequestPath(uri []byte) []byte {
	if i := bytes.Index(uri, []byte("://")); i >= 0 {
		rest := uri[i+3:]
		j := bytes.IndexByte(rest, '/')
		if j < 0 {
			return []byte("/")
		}
		uri = rest[j:]
	}
	if i := bytes.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	return uri
}
