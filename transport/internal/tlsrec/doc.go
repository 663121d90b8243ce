// Package tlsrec is the TLS record layer of the epoll engine: after
// crypto/tls has run a server handshake, a [Conn] protects and checks the
// connection's records in the caller's buffers, so that an idle TLS
// connection holds no goroutine and no buffer, only its keys (a few
// hundred bytes; see TestConnSize).
//
// # Handshake
//
// [Config.Handshake] runs crypto/tls's server handshake (certificates,
// client certificates, ALPN, session tickets: all of crypto/tls) over a
// net.Conn wrapper that gives crypto/tls the client's bytes one record at a
// time, never past the record it is reading: when the handshake ends,
// crypto/tls holds no application data, and what the wrapper read beyond
// is Result.Leftover. The traffic secrets come from a key log private to
// the connection (a per-handshake clone of the configuration, made in
// GetConfigForClient); TLS 1.2 keys are derived from the master secret and
// the randoms with the suite's PRF and checked against the Finished
// crypto/tls wrote. The tls.Conn is then dropped; Result.State keeps what
// authentication needs (peer certificates, tls-unique, the exporter).
//
// Only what the record layer carries is negotiated: TLS 1.2 and 1.3; TLS
// 1.3's three suites; TLS 1.2's ECDHE suites with AES-GCM or
// ChaCha20-Poly1305. TLS 1.3 session tickets stay on (records crypto/tls
// writes under the application key during the handshake, its
// NewSessionTicket, are counted, so the sequence number starts after
// them); TLS 1.2 tickets are off, because a resumed TLS 1.2 handshake
// gives no master secret to the key log.
//
// # Records
//
// [Conn.Open] decrypts complete records in place and leaves their
// application data at the start of the buffer; it says how many bytes it
// used and how many more the partial record at the end needs. Alerts,
// close_notify and TLS 1.3 KeyUpdate are handled there; renegotiation and
// every other post-handshake message end the connection with an alert.
// [Conn.Seal] appends records of at most 16 KiB; it answers a KeyUpdate
// the peer asked for, and updates the write key on its own every 2^24
// records (RFC 8446, section 5.5). [Conn.SealAlert] appends an alert
// (close_notify on a clean close).
//
// Open and Seal may run at once on different goroutines (the reader owns
// the read keys, the writer the write keys); each is called by one
// goroutine at a time.
package tlsrec
