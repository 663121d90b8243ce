package tlsrec

import (
	"bytes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// Record sizes (RFC 8446, section 5; RFC 5246, section 6.2).
const (
	// HeaderLen is the length of a record header.
	HeaderLen = 5
	// MaxPlaintext is the most application data one record carries.
	MaxPlaintext = 1 << 14
	// MaxRecord is the longest record Open accepts, header included:
	// TLS 1.2 allows 2048 bytes of expansion (TLS 1.3 only 256).
	MaxRecord = HeaderLen + MaxPlaintext + 2048

	maxCiphertext13 = MaxPlaintext + 256
	maxCiphertext12 = MaxPlaintext + 2048
	tagLen          = 16
	explicitNonce   = 8 // TLS 1.2 AES-GCM's per-record nonce
	// maxSealOverhead is the most Seal adds to a record's data: header,
	// explicit nonce or inner content type, tag.
	maxSealOverhead = HeaderLen + explicitNonce + tagLen

	// keyUpdateAfter is how many records a TLS 1.3 write key protects
	// before Seal replaces it with a KeyUpdate: RFC 8446, section 5.5,
	// puts AES-GCM's safety margin at 2^24.5 full records per key.
	keyUpdateAfter = 1 << 24

	// maxUseless bounds the records in a row that carry no application
	// data (empty records, ignored warnings, KeyUpdates): a peer cannot
	// keep the reader busy with them (crypto/tls allows 16 too).
	maxUseless = 16
)

// Content types (RFC 8446, section 5.1).
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
)

// Handshake message types the record layer meets after the handshake.
const (
	msgKeyUpdate = 24
)

// Conn is the record layer of one TLS connection after its handshake: the
// keys and sequence numbers of both directions and nothing else (no
// buffer: Open works in the caller's buffer, Seal appends to the
// caller's).
//
// Open (the read side) and Seal, SealAlert (the write side) may run on
// different goroutines at once; each side must be called by one goroutine
// at a time, and the caller keeps the records of Seal and SealAlert in the
// order they were made (under its output lock).
type Conn struct {
	vers  uint16
	suite *suite
	in    half // the peer's records; owned by the reader
	out   half // ours; owned by the writer

	// updateOut is set by the reader when the peer asked for a KeyUpdate
	// (update_requested); the next Seal answers it.
	updateOut atomic.Bool

	// Reader state.
	err     error   // sticky: the first failure or close_notify
	useless uint8   // records in a row without application data
	hsLen   uint8   // bytes of a fragmented handshake message in hs
	hs      [5]byte // a post-handshake message (KeyUpdate is 5 bytes) split over records
}

// half is one direction: its key, IV and next sequence number, and for
// TLS 1.3 the traffic secret the next KeyUpdate derives from. The AEAD
// (some 700 bytes with AES-GCM's tables) is made from the key when first
// needed and dropped by Release while the connection is idle.
type half struct {
	aead      cipher.AEAD // nil until needed
	iv        [12]byte    // TLS 1.3: the IV; TLS 1.2: the fixed IV (first ivLen bytes)
	seq       uint64
	key       [32]byte
	secret    [48]byte // TLS 1.3 only: the traffic secret (hashLen bytes)
	secretLen uint8
	// Scratch for the AEAD's nonce and additional data: arrays on the
	// stack would escape through the cipher.AEAD interface (an allocation
	// per record).
	nb [12]byte
	ad [13]byte
}

// cipher returns the direction's AEAD, making it if need be.
func (h *half) cipher(s *suite) (cipher.AEAD, error) {
	if h.aead == nil {
		a, err := s.aead(h.key[:s.keyLen])
		if err != nil {
			return nil, alertf(alertInternalError, "making the record cipher: %v", err)
		}
		h.aead = a
	}
	return h.aead, nil
}

// newConn13 makes the record layer of a TLS 1.3 connection from its
// application traffic secrets; outSeq is the number of records the server
// already sent under its secret (NewSessionTickets).
func newConn13(s *suite, clientSecret, serverSecret []byte, outSeq uint64) (*Conn, error) {
	c := &Conn{vers: tls.VersionTLS13, suite: s}
	if err := c.in.set13(s, clientSecret); err != nil {
		return nil, err
	}
	if err := c.out.set13(s, serverSecret); err != nil {
		return nil, err
	}
	c.out.seq = outSeq
	return c, nil
}

// newConn12 makes the record layer of a TLS 1.2 connection from its
// master secret and hello randoms. Both directions start at sequence
// number 1: each side's Finished was record 0 under the new keys.
func newConn12(s *suite, master, clientRandom, serverRandom []byte) (*Conn, error) {
	kb, ck, sk, civ, siv := s.keys12(master, clientRandom, serverRandom)
	c := &Conn{
		vers:  tls.VersionTLS12,
		suite: s,
		in:    half{iv: civ, seq: 1},
		out:   half{iv: siv, seq: 1},
	}
	copy(c.in.key[:], ck)
	copy(c.out.key[:], sk)
	clear(kb)
	return c, nil
}

// set13 installs a TLS 1.3 traffic secret, sequence number 0.
func (h *half) set13(s *suite, secret []byte) error {
	if len(secret) != s.hashLen() {
		return fmt.Errorf("tlsrec: traffic secret of %d bytes for a %d-byte hash", len(secret), s.hashLen())
	}
	key, iv := s.trafficKeys(secret)
	h.aead, h.iv, h.seq = nil, iv, 0
	copy(h.key[:], key)
	clear(key)
	h.secretLen = uint8(copy(h.secret[:], secret))
	return nil
}

// update replaces a TLS 1.3 traffic secret with the next one (KeyUpdate).
func (h *half) update(s *suite) error {
	next := s.nextSecret(h.secret[:h.secretLen])
	err := h.set13(s, next)
	clear(next)
	return err
}

// nonce is the record nonce for the current sequence number: the IV XOR
// the sequence number (TLS 1.3 and ChaCha20-Poly1305 in TLS 1.2; RFC 8446,
// section 5.3, RFC 7905).
func (h *half) nonce() [12]byte {
	n := h.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], h.seq)
	for i := range s {
		n[4+i] ^= s[i]
	}
	return n
}

// Version is the connection's TLS version (tls.VersionTLS12 or 13).
func (c *Conn) Version() uint16 { return c.vers }

// CipherSuite is the connection's cipher suite.
func (c *Conn) CipherSuite() uint16 { return c.suite.id }

// Opened says what Open did with a buffer.
type Opened struct {
	// N is the length of the application data Open left at the start of
	// the buffer.
	N int
	// Used is the length of the complete records Open consumed; the
	// buffer's bytes after Used begin a record that is not complete.
	Used int
	// Need is how many more bytes the incomplete record needs at least (0
	// when the buffer ends on a record boundary): the whole record once
	// its header is in, otherwise the rest of the header.
	Need int
	// KeyUpdate says that the peer asked for a KeyUpdate: the caller should
	// call Seal (with no data, if it has none) so that the answer goes out.
	KeyUpdate bool
}

// ErrCloseNotify is Open's error when the peer closed the connection with
// a close_notify alert: application data before it is in the result.
var ErrCloseNotify = errors.New("tlsrec: the peer sent close_notify")

// Open decrypts the complete records at the start of buf in place and
// moves the application data they carry to the start of buf, records
// after records: Opened.N bytes of it. It handles the records that carry
// no application data (alerts, KeyUpdate) itself. buf is the caller's to
// keep; Open holds on to nothing.
//
// On an error the connection is over: an *AlertError says which alert to
// send before closing (SealAlert); ErrCloseNotify is the peer's clean
// close; the application data before the failing record is still in the
// result. Later calls return the same error.
func (c *Conn) Open(buf []byte) (Opened, error) {
	var r Opened
	if c.err != nil {
		return r, c.err
	}
	for {
		rest := buf[r.Used:]
		if len(rest) < HeaderLen {
			if len(rest) > 0 {
				r.Need = HeaderLen - len(rest)
			}
			return r, nil
		}
		typ, vers, n := rest[0], binary.BigEndian.Uint16(rest[1:3]), int(binary.BigEndian.Uint16(rest[3:5]))
		if err := c.checkHeader(typ, vers, n); err != nil {
			return r, c.fail(err)
		}
		if len(rest) < HeaderLen+n {
			r.Need = HeaderLen + n - len(rest)
			return r, nil
		}
		data, inner, err := c.decrypt(rest[:HeaderLen+n])
		if err != nil {
			return r, c.fail(err)
		}
		r.Used += HeaderLen + n
		switch inner {
		case typeApplicationData:
			if c.hsLen > 0 {
				return r, c.fail(alertf(alertUnexpectedMessage, "application data inside a fragmented handshake message"))
			}
			if len(data) == 0 {
				if err := c.uselessRecord(); err != nil {
					return r, c.fail(err)
				}
				continue
			}
			c.useless = 0
			r.N += copy(buf[r.N:], data)
		case typeAlert:
			if err := c.alert(data); err != nil {
				c.err = err
				return r, err
			}
		case typeHandshake:
			update, err := c.handshakeMessage(data)
			if err != nil {
				return r, c.fail(err)
			}
			r.KeyUpdate = r.KeyUpdate || update
		default:
			return r, c.fail(alertf(alertUnexpectedMessage, "record of content type %d after the handshake", inner))
		}
	}
}

// checkHeader validates a record header before its body is in, so that a
// bad or oversized record is refused without waiting for it.
func (c *Conn) checkHeader(typ byte, vers uint16, n int) error {
	if vers != tls.VersionTLS12 { // TLS 1.3 records say 1.2 too
		return alertf(alertProtocolVersion, "record with version %#04x", vers)
	}
	if c.vers == tls.VersionTLS13 {
		if typ != typeApplicationData {
			return alertf(alertUnexpectedMessage, "unprotected record of content type %d after the TLS 1.3 handshake", typ)
		}
		if n > maxCiphertext13 {
			return alertf(alertRecordOverflow, "record of %d bytes", n)
		}
		if n < tagLen+1 {
			return alertf(alertDecodeError, "record of %d bytes is shorter than its tag", n)
		}
		return nil
	}
	switch typ {
	case typeApplicationData, typeAlert, typeHandshake:
	default:
		return alertf(alertUnexpectedMessage, "record of content type %d after the TLS 1.2 handshake", typ)
	}
	if n > maxCiphertext12 {
		return alertf(alertRecordOverflow, "record of %d bytes", n)
	}
	min := tagLen
	if !c.suite.chacha {
		min += explicitNonce
	}
	if n < min {
		return alertf(alertBadRecordMAC, "record of %d bytes is shorter than its nonce and tag", n)
	}
	return nil
}

// decrypt opens one complete record in place and returns its content and
// content type.
func (c *Conn) decrypt(rec []byte) ([]byte, byte, error) {
	return open(c.vers, c.suite, &c.in, rec)
}

// open opens one complete record rec with h in place and returns its
// content and content type.
func open(vers uint16, s *suite, h *half, rec []byte) ([]byte, byte, error) {
	if h.seq == ^uint64(0) {
		return nil, 0, alertf(alertInternalError, "read sequence number exhausted")
	}
	aead, err := h.cipher(s)
	if err != nil {
		return nil, 0, err
	}
	payload := rec[HeaderLen:]
	if vers == tls.VersionTLS13 {
		h.nb = h.nonce()
		plain, err := aead.Open(payload[:0], h.nb[:], payload, rec[:HeaderLen])
		if err != nil {
			return nil, 0, alertf(alertBadRecordMAC, "record %d does not authenticate", h.seq)
		}
		h.seq++
		// The content type is the last non-zero byte; zeros after it are
		// padding (RFC 8446, section 5.4).
		i := len(plain) - 1
		for i >= 0 && plain[i] == 0 {
			i--
		}
		if i < 0 {
			return nil, 0, alertf(alertUnexpectedMessage, "record without a content type")
		}
		if len(plain) > MaxPlaintext+1 {
			return nil, 0, alertf(alertRecordOverflow, "record of %d bytes of plaintext", len(plain))
		}
		return plain[:i], plain[i], nil
	}
	ct := payload
	if s.chacha {
		h.nb = h.nonce()
	} else {
		copy(h.nb[:4], h.iv[:4])
		copy(h.nb[4:], payload[:explicitNonce])
		ct = payload[explicitNonce:]
	}
	binary.BigEndian.PutUint64(h.ad[:8], h.seq)
	h.ad[8] = rec[0]
	h.ad[9], h.ad[10] = rec[1], rec[2]
	binary.BigEndian.PutUint16(h.ad[11:], uint16(len(ct)-tagLen))
	plain, err := aead.Open(ct[:0], h.nb[:], ct, h.ad[:])
	if err != nil {
		return nil, 0, alertf(alertBadRecordMAC, "record %d does not authenticate", h.seq)
	}
	h.seq++
	if len(plain) > MaxPlaintext {
		return nil, 0, alertf(alertRecordOverflow, "record of %d bytes of plaintext", len(plain))
	}
	return plain, rec[0], nil
}

// uselessRecord counts a record without application data.
func (c *Conn) uselessRecord() error {
	c.useless++
	if c.useless > maxUseless {
		return alertf(alertUnexpectedMessage, "more than %d records in a row without application data", maxUseless)
	}
	return nil
}

// alert handles a received alert (RFC 8446, section 6; RFC 5246, section
// 7.2): close_notify ends the connection cleanly, user_canceled and TLS
// 1.2's warnings are dropped, anything else ends it with the peer's
// alert.
func (c *Conn) alert(data []byte) error {
	if len(data) != 2 {
		return c.fail(alertf(alertDecodeError, "alert of %d bytes", len(data)))
	}
	if c.hsLen > 0 {
		return c.fail(alertf(alertUnexpectedMessage, "alert inside a fragmented handshake message"))
	}
	level, desc := data[0], Alert(data[1])
	if desc == AlertCloseNotify {
		return ErrCloseNotify
	}
	if desc == alertUserCanceled || (c.vers == tls.VersionTLS12 && level == alertLevelWarning) {
		if err := c.uselessRecord(); err != nil {
			return c.fail(err)
		}
		return nil
	}
	return &AlertError{Alert: desc, Remote: true, Msg: "the peer sent " + desc.String()}
}

// handshakeMessage handles handshake data after the handshake: TLS 1.3's
// KeyUpdate (it may arrive in fragments); anything else is refused (no
// renegotiation, no post-handshake authentication: the server never asks
// for it; NewSessionTicket only comes from servers). It reports whether the
// peer asked for our KeyUpdate.
func (c *Conn) handshakeMessage(data []byte) (bool, error) {
	if len(data) == 0 {
		return false, alertf(alertUnexpectedMessage, "empty handshake record")
	}
	if c.vers != tls.VersionTLS13 {
		return false, alertf(AlertNoRenegotiation, "handshake message after the TLS 1.2 handshake (renegotiation)")
	}
	if err := c.uselessRecord(); err != nil {
		return false, err
	}
	for len(data) > 0 {
		n := copy(c.hs[c.hsLen:], data)
		c.hsLen += uint8(n)
		data = data[n:]
		if c.hs[0] != msgKeyUpdate {
			return false, alertf(alertUnexpectedMessage, "handshake message of type %d after the handshake", c.hs[0])
		}
		if c.hsLen >= 4 && (c.hs[1] != 0 || c.hs[2] != 0 || c.hs[3] != 1) {
			return false, alertf(alertDecodeError, "KeyUpdate of %d bytes", int(c.hs[1])<<16|int(c.hs[2])<<8|int(c.hs[3]))
		}
		if c.hsLen < 5 {
			continue // the rest is in the next record
		}
		req := c.hs[4]
		c.hsLen = 0
		if req > 1 {
			return false, alertf(alertIllegalParameter, "KeyUpdate request %d", req)
		}
		// A KeyUpdate changes keys: it must end its record (RFC 8446,
		// section 5.1).
		if len(data) > 0 {
			return false, alertf(alertUnexpectedMessage, "record goes on after a KeyUpdate")
		}
		if err := c.in.update(c.suite); err != nil {
			return false, alertf(alertInternalError, "updating the read key: %v", err)
		}
		if req == 1 {
			c.updateOut.Store(true)
			return true, nil
		}
	}
	return false, nil
}

// fail makes err the reader's sticky error.
func (c *Conn) fail(err error) error {
	c.err = err
	return err
}

// ReleaseRead drops the read direction's AEAD until the next Open: an
// idle connection then holds its keys (some 250 bytes) instead of AES-GCM
// tables. The reader calls it.
func (c *Conn) ReleaseRead() { c.in.aead = nil }

// ReleaseWrite drops the write direction's AEAD until the next Seal. The
// writer calls it.
func (c *Conn) ReleaseWrite() { c.out.aead = nil }

// HoldsReadCipher reports whether the read direction holds its AEAD now
// (made by Open, dropped by ReleaseRead). The reader calls it.
func (c *Conn) HoldsReadCipher() bool { return c.in.aead != nil }

// HoldsWriteCipher reports whether the write direction holds its AEAD now
// (made by Seal, dropped by ReleaseWrite). The writer calls it.
func (c *Conn) HoldsWriteCipher() bool { return c.out.aead != nil }

// Overhead is the most Seal adds to n bytes of data.
func Overhead(n int) int {
	recs := (n + MaxPlaintext - 1) / MaxPlaintext
	return max(recs, 1)*maxSealOverhead + 2*maxSealOverhead // + a KeyUpdate
}

// Seal appends to dst the records that carry data (MaxPlaintext bytes
// each at most) and returns the extended slice. A KeyUpdate goes first
// when the peer asked for one or the write key has protected
// keyUpdateAfter records; Seal with empty data sends only that.
func (c *Conn) Seal(dst, data []byte) ([]byte, error) {
	if c.vers == tls.VersionTLS13 && (c.updateOut.Load() || c.out.seq >= keyUpdateAfter) {
		c.updateOut.Store(false)
		var err error
		if dst, err = c.seal(dst, typeHandshake, []byte{msgKeyUpdate, 0, 0, 1, 0}); err != nil { // update_not_requested
			return dst, err
		}
		if err := c.out.update(c.suite); err != nil {
			return dst, fmt.Errorf("tlsrec: updating the write key: %w", err)
		}
	}
	for len(data) > 0 {
		n := min(len(data), MaxPlaintext)
		var err error
		if dst, err = c.seal(dst, typeApplicationData, data[:n]); err != nil {
			return dst, err
		}
		data = data[n:]
	}
	return dst, nil
}

// SealAlert appends the record of alert a: close_notify (a warning in TLS
// 1.2) or a fatal alert. The connection's writing is over after it.
func (c *Conn) SealAlert(dst []byte, a Alert) []byte {
	level := byte(alertLevelError)
	if a == AlertCloseNotify || a == AlertNoRenegotiation {
		level = alertLevelWarning
	}
	out, err := c.seal(dst, typeAlert, []byte{level, byte(a)})
	if err != nil {
		return dst // the sequence number is exhausted: no alert can be sent
	}
	return out
}

// layout returns the length of a record's header (with TLS 1.2
// AES-GCM's explicit nonce) and everything a record adds to its data.
func (c *Conn) layout() (hdr, overhead int) {
	switch {
	case c.vers == tls.VersionTLS13:
		return HeaderLen, HeaderLen + 1 + tagLen // + the inner content type
	case c.suite.chacha:
		return HeaderLen, HeaderLen + tagLen
	}
	return HeaderLen + explicitNonce, HeaderLen + explicitNonce + tagLen
}

// SealInPlace turns buf[start:], data the caller appended, into records
// in place (MaxPlaintext bytes of data each at most), and returns the
// extended slice: the output path appends its frames to its buffer and
// seals them there, without a copy elsewhere. Like Seal, it sends a
// KeyUpdate first when one is due.
func (c *Conn) SealInPlace(buf []byte, start int) ([]byte, error) {
	if c.vers == tls.VersionTLS13 && (c.updateOut.Load() || c.out.seq >= keyUpdateAfter) {
		return c.Seal(buf[:start], bytes.Clone(buf[start:])) // rare: the KeyUpdate goes first
	}
	n := len(buf) - start
	if n == 0 {
		return buf, nil
	}
	hdr, ov := c.layout()
	recs := (n + MaxPlaintext - 1) / MaxPlaintext
	buf = slices.Grow(buf, recs*ov)[:start+n+recs*ov]
	// Spread the data to where the records will carry it, the last first
	// (each moves towards the end, past the data still to move).
	for i := recs - 1; i >= 0; i-- {
		src := start + i*MaxPlaintext
		l := min(MaxPlaintext, n-i*MaxPlaintext)
		dst := start + i*(MaxPlaintext+ov) + hdr
		copy(buf[dst:dst+l], buf[src:src+l])
	}
	for i := range recs {
		pos := start + i*(MaxPlaintext+ov)
		l := min(MaxPlaintext, n-i*MaxPlaintext)
		if err := c.sealAt(buf[pos:pos+l+ov], typeApplicationData, l); err != nil {
			return buf[:start], err
		}
	}
	return buf, nil
}

// seal appends one record of content type typ.
func (c *Conn) seal(dst []byte, typ byte, data []byte) ([]byte, error) {
	hdr, ov := c.layout()
	pos := len(dst)
	dst = slices.Grow(dst, len(data)+ov)[:pos+hdr]
	dst = append(dst, data...)
	dst = dst[:pos+len(data)+ov]
	if err := c.sealAt(dst[pos:], typ, len(data)); err != nil {
		return dst[:pos], err
	}
	return dst, nil
}

// sealAt seals the record rec, whose n bytes of data of content type typ
// are in place after the header (and explicit nonce); rec has room for the
// rest.
func (c *Conn) sealAt(rec []byte, typ byte, n int) error {
	h := &c.out
	if h.seq == ^uint64(0) {
		return errors.New("tlsrec: write sequence number exhausted")
	}
	aead, err := h.cipher(c.suite)
	if err != nil {
		return err
	}
	rec[1], rec[2] = 3, 3
	binary.BigEndian.PutUint16(rec[3:HeaderLen], uint16(len(rec)-HeaderLen))
	if c.vers == tls.VersionTLS13 {
		rec[0] = typeApplicationData
		rec[HeaderLen+n] = typ
		h.nb = h.nonce()
		aead.Seal(rec[HeaderLen:HeaderLen], h.nb[:], rec[HeaderLen:HeaderLen+n+1], rec[:HeaderLen])
		h.seq++
		return nil
	}
	rec[0] = typ
	hdr := HeaderLen
	if c.suite.chacha {
		h.nb = h.nonce()
	} else {
		// The explicit nonce is the sequence number, as crypto/tls sends
		// it: unique per key without any state.
		copy(h.nb[:4], h.iv[:4])
		binary.BigEndian.PutUint64(h.nb[4:], h.seq)
		copy(rec[HeaderLen:], h.nb[4:])
		hdr += explicitNonce
	}
	binary.BigEndian.PutUint64(h.ad[:8], h.seq)
	h.ad[8], h.ad[9], h.ad[10] = typ, 3, 3
	binary.BigEndian.PutUint16(h.ad[11:], uint16(n))
	aead.Seal(rec[hdr:hdr], h.nb[:], rec[hdr:hdr+n], h.ad[:])
	h.seq++
	return nil
}
