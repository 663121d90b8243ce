package tlsrec

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// Config is a server's TLS configuration made ready for handshakes whose
// records this package carries on: TLS 1.2 and newer, AEAD suites with
// forward secrecy, and a per-connection key log through which the
// handshake hands over its traffic secrets.
type Config struct {
	tmpl *tls.Config // the caller's config, restricted
	base *tls.Config // handed to tls.Server: only GetConfigForClient
	user func(*tls.ClientHelloInfo) (*tls.Config, error)
	orig *tls.Config // the caller's config, whose session ticket keys tickets use
}

// NewConfig prepares cfg (which it does not modify) for Handshake. It
// fails if cfg allows nothing the record layer carries (TLS 1.1 and older
// only, or only non-AEAD TLS 1.2 suites).
func NewConfig(cfg *tls.Config) (*Config, error) {
	tmpl, err := restrict(cfg)
	if err != nil {
		return nil, err
	}
	c := &Config{tmpl: tmpl, user: cfg.GetConfigForClient, orig: cfg}
	c.base = &tls.Config{GetConfigForClient: c.configFor}
	return c, nil
}

// restrict returns a copy of cfg limited to what the record layer carries.
func restrict(cfg *tls.Config) (*tls.Config, error) {
	r := cfg.Clone()
	r.GetConfigForClient = nil
	if r.MaxVersion != 0 && r.MaxVersion < tls.VersionTLS12 {
		return nil, fmt.Errorf("tlsrec: MaxVersion %s: the record layer carries TLS 1.2 and 1.3 only", tls.VersionName(r.MaxVersion))
	}
	r.MinVersion = max(r.MinVersion, tls.VersionTLS12)
	var ok []uint16
	for i := range suites {
		s := &suites[i]
		if s.version == tls.VersionTLS12 && (cfg.CipherSuites == nil || slices.Contains(cfg.CipherSuites, s.id)) {
			ok = append(ok, s.id)
		}
	}
	if len(ok) == 0 {
		if r.MaxVersion == tls.VersionTLS12 {
			return nil, errors.New("tlsrec: CipherSuites has no TLS 1.2 ECDHE suite with AES-GCM or ChaCha20-Poly1305, and TLS 1.3 is off")
		}
		r.MinVersion = tls.VersionTLS13
	}
	r.CipherSuites = ok
	return r, nil
}

// configFor is the GetConfigForClient of every handshake: a clone of the
// configuration whose key log goes to this connection only. Session
// tickets stay encrypted with the keys of the caller's configuration
// (which rotate), not with a clone's own.
func (c *Config) configFor(hi *tls.ClientHelloInfo) (*tls.Config, error) {
	h, ok := hi.Conn.(*handshakeConn)
	if !ok {
		return nil, errors.New("tlsrec: handshake over a connection tlsrec did not make")
	}
	tmpl, orig := c.tmpl, c.orig
	if c.user != nil {
		uc, err := c.user(hi)
		if err != nil {
			return nil, err
		}
		if uc != nil {
			if tmpl, err = restrict(uc); err != nil {
				return nil, err
			}
			orig = uc
		}
	}
	cfg := tmpl.Clone()
	h.userKeyLog = cfg.KeyLogWriter
	cfg.KeyLogWriter = (*keyLogger)(h)
	if cfg.WrapSession == nil && cfg.UnwrapSession == nil {
		cfg.WrapSession, cfg.UnwrapSession = orig.EncryptTicket, orig.DecryptTicket
	}
	// A resumed TLS 1.2 handshake logs no master secret (crypto/tls logs
	// it only when it computes one), so the record layer could not take
	// over: no TLS 1.2 tickets. crypto/tls picks the first version in
	// the client's list that the config allows.
	if negotiated(hi.SupportedVersions, cfg) != tls.VersionTLS13 {
		cfg.SessionTicketsDisabled = true
	}
	return cfg, nil
}

// negotiated is the version crypto/tls's server picks from the client's
// list.
func negotiated(client []uint16, cfg *tls.Config) uint16 {
	hi := cfg.MaxVersion
	if hi == 0 {
		hi = tls.VersionTLS13
	}
	for _, v := range client {
		if v >= cfg.MinVersion && v <= hi {
			return v
		}
	}
	return 0
}

// Result is what Handshake hands to the record layer's user.
type Result struct {
	Conn *Conn
	// State is crypto/tls's view of the connection: peer certificates,
	// tls-unique, and the exporter behind ExportKeyingMaterial (which
	// holds the exporter secret, not the tls.Conn).
	State tls.ConnectionState
	// Leftover is what the handshake read beyond its last record: the
	// client's first records, for Conn.Open.
	Leftover []byte
}

// ErrNoKeys is Handshake's error when crypto/tls completed a handshake
// but did not log the secrets the record layer needs.
var ErrNoKeys = errors.New("tlsrec: the handshake left no traffic secrets")

// Handshake runs the server side of a TLS handshake on raw with
// crypto/tls, until deadline (none if zero), and returns the record layer
// that carries the connection on. The tls.Conn is dropped: crypto/tls is
// given the client's bytes one record at a time, so it holds none when the
// handshake ends, and raw is not closed (on a failure neither: the caller
// closes it).
func (c *Config) Handshake(raw net.Conn, deadline time.Time) (*Result, error) {
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("tlsrec: setting the handshake deadline: %w", err)
	}
	h := &handshakeConn{Conn: raw, buf: make([]byte, handshakeBuf)}
	defer h.wipe()
	tc := tls.Server(h, c.base)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("tlsrec: clearing the handshake deadline: %w", err)
	}
	if h.err != nil {
		return nil, h.err
	}
	cs := tc.ConnectionState()
	s := suiteByID(cs.CipherSuite, cs.Version)
	if s == nil {
		return nil, fmt.Errorf("tlsrec: the handshake chose %s with %s, which the record layer does not carry", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	}
	var conn *Conn
	var err error
	switch cs.Version {
	case tls.VersionTLS13:
		if h.clientTraffic == nil || h.serverTraffic == nil {
			return nil, ErrNoKeys
		}
		conn, err = newConn13(s, h.clientTraffic, h.serverTraffic, h.tickets)
	case tls.VersionTLS12:
		if h.master == nil || !h.haveServerRandom {
			return nil, ErrNoKeys
		}
		if conn, err = newConn12(s, h.master, h.clientRandom, h.serverRandom[:]); err == nil {
			err = h.checkFinished12(conn)
		}
	}
	if err != nil {
		return nil, err
	}
	r := &Result{Conn: conn, State: cs}
	if h.r < h.w {
		r.Leftover = bytes.Clone(h.buf[h.r:h.w])
	}
	return r, nil
}

// handshakeBuf is the handshake's read buffer.
const handshakeBuf = 4096

// handshakeConn is the net.Conn crypto/tls runs the handshake over. It
// gives crypto/tls the client's bytes without ever going past the record
// crypto/tls is reading, keeps what it read beyond, and watches what the
// server writes (the ServerHello's random, TLS 1.3 records written under
// the application secret, the TLS 1.2 Finished). Its key log receives the
// connection's secrets.
type handshakeConn struct {
	net.Conn
	buf     []byte
	r, w    int // buf[r:w] is read and not yet given to crypto/tls
	recLeft int // bytes of the current record not yet given

	userKeyLog io.Writer

	// From the key log.
	clientTraffic, serverTraffic []byte // TLS 1.3
	master, clientRandom         []byte // TLS 1.2

	// From what the server wrote.
	out              []byte // a record that spans writes
	wroteHello       bool   // the first handshake record (ServerHello) went by
	haveServerRandom bool
	serverRandom     [32]byte
	suite            *suite // from the ServerHello
	wroteCCS         bool
	finished12       []byte // TLS 1.2: our first record after ChangeCipherSpec
	app13            *half  // TLS 1.3: the server's application key, to count the records written under it
	tickets          uint64 // TLS 1.3: records written under the application key (NewSessionTicket)
	err              error
}

// Read gives crypto/tls the bytes of one record at most.
func (h *handshakeConn) Read(p []byte) (int, error) {
	if h.recLeft == 0 {
		for h.w-h.r < HeaderLen {
			if err := h.fill(); err != nil {
				return 0, err
			}
		}
		h.recLeft = HeaderLen + int(binary.BigEndian.Uint16(h.buf[h.r+3:]))
	}
	if h.r == h.w {
		if err := h.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p[:min(len(p), h.recLeft)], h.buf[h.r:h.w])
	h.r += n
	h.recLeft -= n
	return n, nil
}

// fill reads more from the connection.
func (h *handshakeConn) fill() error {
	if h.r > 0 {
		h.w = copy(h.buf, h.buf[h.r:h.w])
		h.r = 0
	}
	n, err := h.Conn.Read(h.buf[h.w:])
	h.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Write sends what crypto/tls writes and watches its records.
func (h *handshakeConn) Write(p []byte) (int, error) {
	n, err := h.Conn.Write(p)
	h.watch(p[:n])
	return n, err
}

// Close closes the connection: crypto/tls does when a handshake context
// ends (Handshake uses a deadline instead).
func (h *handshakeConn) Close() error { return h.Conn.Close() }

// watch splits what the server wrote into records.
func (h *handshakeConn) watch(p []byte) {
	for len(p) > 0 {
		if len(h.out) > 0 || len(p) < HeaderLen || len(p) < HeaderLen+int(binary.BigEndian.Uint16(p[3:5])) {
			// A record split over writes (crypto/tls writes whole ones,
			// but nothing promises it).
			h.out = append(h.out, p...)
			p = nil
			for len(h.out) >= HeaderLen && len(h.out) >= HeaderLen+int(binary.BigEndian.Uint16(h.out[3:5])) {
				n := HeaderLen + int(binary.BigEndian.Uint16(h.out[3:5]))
				h.record(h.out[:n])
				h.out = h.out[n:]
			}
			if len(h.out) == 0 {
				h.out = nil
			}
			return
		}
		n := HeaderLen + int(binary.BigEndian.Uint16(p[3:5]))
		h.record(p[:n])
		p = p[n:]
	}
}

// record looks at one record the server wrote.
func (h *handshakeConn) record(rec []byte) {
	switch typ, body := rec[0], rec[HeaderLen:]; {
	case typ == typeHandshake && !h.wroteHello:
		// The ServerHello (or TLS 1.3's HelloRetryRequest, which carries
		// the same suite): type(1) length(3) version(2) random(32)
		// session_id<0..32> cipher_suite(2).
		h.wroteHello = true
		if len(body) < 39 || body[0] != 2 {
			h.err = errors.New("tlsrec: the server's first handshake record is not a ServerHello")
			return
		}
		copy(h.serverRandom[:], body[6:38])
		h.haveServerRandom = true
		if sid := int(body[38]); len(body) >= 39+sid+2 {
			id := binary.BigEndian.Uint16(body[39+sid:])
			if h.suite = suiteByID(id, tls.VersionTLS13); h.suite == nil {
				h.suite = suiteByID(id, tls.VersionTLS12)
			}
		}
	case typ == typeChangeCipherSpec:
		h.wroteCCS = true
	case typ == typeHandshake && h.wroteCCS && h.finished12 == nil:
		h.finished12 = bytes.Clone(rec)
	case typ == typeApplicationData && h.serverTraffic != nil && h.suite != nil && h.err == nil:
		// TLS 1.3: a record under the handshake key (our Finished, written
		// after the application secret was logged) or under the
		// application key (a NewSessionTicket): only the latter opens.
		if h.app13 == nil {
			h.app13 = new(half)
			if err := h.app13.set13(h.suite, h.serverTraffic); err != nil {
				h.err = err
				return
			}
		}
		if len(rec) < HeaderLen+tagLen+1 {
			return
		}
		if _, inner, err := open(tls.VersionTLS13, h.suite, h.app13, bytes.Clone(rec)); err == nil {
			if inner != typeHandshake {
				h.err = fmt.Errorf("tlsrec: crypto/tls wrote a record of type %d during the handshake", inner)
			}
			h.tickets++
		}
	}
}

// checkFinished12 makes sure the TLS 1.2 keys are the ones crypto/tls
// used: our Finished, record 0 under the server key, must open with them.
func (h *handshakeConn) checkFinished12(c *Conn) error {
	rec := h.finished12
	if rec == nil || len(rec) < HeaderLen+explicitNonce+tagLen {
		return errors.New("tlsrec: the server's TLS 1.2 Finished went unseen")
	}
	out := c.out
	out.seq = 0
	data, typ, err := open(tls.VersionTLS12, c.suite, &out, rec)
	if err != nil || typ != typeHandshake || len(data) < 4 || data[0] != 20 {
		return errors.New("tlsrec: the derived TLS 1.2 keys do not open the server's Finished")
	}
	return nil
}

// keyLogger is the handshake's KeyLogWriter: crypto/tls writes one line
// per secret, "LABEL <client random> <secret>" in hex (NSS key log format).
type keyLogger handshakeConn

func (k *keyLogger) Write(line []byte) (int, error) {
	if k.userKeyLog != nil {
		k.userKeyLog.Write(line) // the caller's own key log, for debugging
	}
	f := bytes.Fields(line)
	if len(f) != 3 {
		return 0, fmt.Errorf("tlsrec: key log line of %d fields", len(f))
	}
	random, err1 := hex.DecodeString(string(f[1]))
	secret, err2 := hex.DecodeString(string(f[2]))
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("tlsrec: key log line: %w", err)
	}
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		k.clientTraffic = secret
	case "SERVER_TRAFFIC_SECRET_0":
		k.serverTraffic = secret
	case "CLIENT_RANDOM":
		k.master, k.clientRandom = secret, random
	default:
		clear(secret) // handshake secrets: crypto/tls needs them, not us
	}
	return len(line), nil
}

// wipe clears the secrets the handshake left here.
func (h *handshakeConn) wipe() {
	clear(h.clientTraffic)
	clear(h.serverTraffic)
	clear(h.master)
	if h.app13 != nil {
		*h.app13 = half{}
	}
}
