package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is what the record layer needs of a cipher suite: its AEAD, key
// and IV lengths and its hash (TLS 1.3 key schedule, TLS 1.2 PRF).
type suite struct {
	id      uint16
	keyLen  int
	ivLen   int  // TLS 1.3: 12; TLS 1.2: the fixed IV (4 for AES-GCM, 12 for ChaCha20-Poly1305)
	chacha  bool // ChaCha20-Poly1305, else AES-GCM
	sha384  bool // SHA-384, else SHA-256
	version uint16
}

// suites lists the cipher suites the record layer carries: every TLS 1.3
// suite, and the TLS 1.2 suites with forward secrecy (ECDHE) and an AEAD.
// CBC and RC4 suites, static RSA key exchange, TLS 1.1 and older are not
// here, so the Config refuses them before the handshake.
var suites = []suite{
	{id: tls.TLS_AES_128_GCM_SHA256, keyLen: 16, ivLen: 12, version: tls.VersionTLS13},
	{id: tls.TLS_AES_256_GCM_SHA384, keyLen: 32, ivLen: 12, sha384: true, version: tls.VersionTLS13},
	{id: tls.TLS_CHACHA20_POLY1305_SHA256, keyLen: 32, ivLen: 12, chacha: true, version: tls.VersionTLS13},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, keyLen: 16, ivLen: 4, version: tls.VersionTLS12},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, keyLen: 16, ivLen: 4, version: tls.VersionTLS12},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, keyLen: 32, ivLen: 4, sha384: true, version: tls.VersionTLS12},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, keyLen: 32, ivLen: 4, sha384: true, version: tls.VersionTLS12},
	{id: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, keyLen: 32, ivLen: 12, chacha: true, version: tls.VersionTLS12},
	{id: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, keyLen: 32, ivLen: 12, chacha: true, version: tls.VersionTLS12},
}

// suiteByID returns the suite id of TLS version vers, or nil if the record
// layer does not carry it.
func suiteByID(id, vers uint16) *suite {
	for i := range suites {
		if suites[i].id == id && suites[i].version == vers {
			return &suites[i]
		}
	}
	return nil
}

func (s *suite) hash() func() hash.Hash {
	if s.sha384 {
		return sha512.New384
	}
	return sha256.New
}

func (s *suite) hashLen() int {
	if s.sha384 {
		return sha512.Size384
	}
	return sha256.Size
}

// aead makes the suite's AEAD for key.
func (s *suite) aead(key []byte) (cipher.AEAD, error) {
	if s.chacha {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// expandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446, section 7.1) with
// an empty context, the only one the traffic keys and KeyUpdate use.
func (s *suite) expandLabel(secret []byte, label string, n int) []byte {
	const prefix = "tls13 "
	info := make([]byte, 0, 4+len(prefix)+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(prefix)+len(label)))
	info = append(info, prefix...)
	info = append(info, label...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(s.hash(), secret, string(info), n)
	if err != nil {
		// Only a length over 255 hash blocks fails; ours are at most 48 bytes.
		panic("tlsrec: HKDF-Expand-Label: " + err.Error())
	}
	return out
}

// trafficKeys derives the key and IV of a TLS 1.3 traffic secret.
func (s *suite) trafficKeys(secret []byte) (key []byte, iv [12]byte) {
	copy(iv[:], s.expandLabel(secret, "iv", 12))
	return s.expandLabel(secret, "key", s.keyLen), iv
}

// nextSecret is the traffic secret after a KeyUpdate (RFC 8446, section
// 7.2).
func (s *suite) nextSecret(secret []byte) []byte {
	return s.expandLabel(secret, "traffic upd", s.hashLen())
}

// prf12 is the TLS 1.2 PRF (RFC 5246, section 5) with the suite's hash:
// P_hash(secret, label + seed), n bytes.
func (s *suite) prf12(secret []byte, label string, seed []byte, n int) []byte {
	h := s.hash()
	labelSeed := append([]byte(label), seed...)
	out := make([]byte, 0, n+s.hashLen())
	mac := hmac.New(h, secret)
	mac.Write(labelSeed)
	a := mac.Sum(nil) // A(1)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// keys12 derives the TLS 1.2 client and server write keys and IVs from
// the master secret (RFC 5246, section 6.3; AEAD suites have no MAC
// keys). The caller clears kb.
func (s *suite) keys12(master, clientRandom, serverRandom []byte) (kb, clientKey, serverKey []byte, clientIV, serverIV [12]byte) {
	seed := append(append([]byte(nil), serverRandom...), clientRandom...)
	kb = s.prf12(master, "key expansion", seed, 2*s.keyLen+2*s.ivLen)
	copy(clientIV[:], kb[2*s.keyLen:2*s.keyLen+s.ivLen])
	copy(serverIV[:], kb[2*s.keyLen+s.ivLen:])
	return kb, kb[:s.keyLen], kb[s.keyLen : 2*s.keyLen], clientIV, serverIV
}
