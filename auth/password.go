package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordHash is the stored form of a password that travels to the router
// in the clear (a ticket): a salted Argon2id or PBKDF2-SHA256 hash, written
// in the PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//	$pbkdf2-sha256$i=600000$<salt>$<hash>
//
// where salt and hash are base64 without padding (standard alphabet).
type PasswordHash struct {
	KDF        string // "argon2id" or "pbkdf2-sha256"
	Iterations uint32 // t for Argon2id, i for PBKDF2
	Memory     uint32 // KiB, Argon2id only
	Threads    uint8  // Argon2id only
	Salt       []byte
	Hash       []byte
}

// Default cost parameters of HashPassword: OWASP's recommendations
// (Argon2id m=19 MiB, t=2, p=1; PBKDF2-HMAC-SHA256 600,000 iterations).
const (
	DefaultArgon2Memory     = 19 * 1024
	DefaultArgon2Iterations = 2
	DefaultPBKDF2Iterations = 600_000
)

// Bounds on the cost parameters a stored hash may ask for, so that a typo
// in the config cannot make every login take minutes or gigabytes.
const (
	maxArgon2Memory = 4 << 20 // KiB: 4 GiB
	maxIterations   = 100_000_000
)

// HashPassword hashes password with a new random salt and the default
// costs: kdf is "argon2id" (the default when "") or "pbkdf2-sha256".
func HashPassword(password, kdf string) (*PasswordHash, error) {
	return NewPasswordHash(password, kdf, 0, 0)
}

// NewPasswordHash hashes password with a new random salt and the given
// costs (iterations; memory in KiB for Argon2id); zero takes the default.
func NewPasswordHash(password, kdf string, iterations, memory uint32) (*PasswordHash, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	h := &PasswordHash{KDF: kdf, Salt: salt, Iterations: iterations, Memory: memory}
	switch kdf {
	case "", "argon2id":
		h.KDF, h.Threads = "argon2id", 1
		if h.Iterations == 0 {
			h.Iterations = DefaultArgon2Iterations
		}
		if h.Memory == 0 {
			h.Memory = DefaultArgon2Memory
		}
	case "pbkdf2-sha256":
		h.Memory = 0
		if h.Iterations == 0 {
			h.Iterations = DefaultPBKDF2Iterations
		}
	default:
		return nil, fmt.Errorf("hashing a password: unknown kdf %q (argon2id, pbkdf2-sha256)", kdf)
	}
	if h.Iterations > maxIterations || h.Memory > maxArgon2Memory || h.KDF == "argon2id" && h.Memory < 8 {
		return nil, fmt.Errorf("hashing a password: cost out of range")
	}
	var err error
	h.Hash, err = h.derive([]byte(password))
	return h, err
}

// derive hashes password with h's parameters, as long as h's hash (a PHC
// string may hold 16 bytes or more), 32 bytes for a new one.
func (h *PasswordHash) derive(password []byte) ([]byte, error) {
	n := len(h.Hash)
	if n == 0 {
		n = 32
	}
	switch h.KDF {
	case "argon2id":
		return argon2.IDKey(password, h.Salt, h.Iterations, h.Memory, h.Threads, uint32(n)), nil
	case "pbkdf2-sha256":
		return pbkdf2.Key(sha256.New, string(password), h.Salt, int(h.Iterations), n)
	}
	return nil, fmt.Errorf("unknown kdf %q", h.KDF)
}

// Verify reports whether password hashes to h, comparing in constant time.
// It costs what the hash's parameters say (tens of milliseconds with the
// defaults) and computes at once: the router runs it off the connection's
// goroutine, through a KDFLimiter that bounds how many run at once and
// keeps one address from taking them all.
func (h *PasswordHash) Verify(password string) bool {
	got, err := h.derive([]byte(password))
	return err == nil && subtle.ConstantTimeCompare(got, h.Hash) == 1
}

var b64 = base64.RawStdEncoding

// String returns the PHC string.
func (h *PasswordHash) String() string {
	switch h.KDF {
	case "argon2id":
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", h.Memory, h.Iterations, h.Threads, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Hash))
	default:
		return fmt.Sprintf("$%s$i=%d$%s$%s", h.KDF, h.Iterations, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Hash))
	}
}

// ParsePasswordHash reads a PHC string written by String (or by another
// tool using the same format). The error says what is wrong with it.
func ParsePasswordHash(s string) (*PasswordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) < 2 || parts[0] != "" {
		return nil, fmt.Errorf("not a password hash: it must start with $argon2id$ or $pbkdf2-sha256$ (make one with `junction passwd`)")
	}
	h := &PasswordHash{KDF: parts[1]}
	var params, salt, hash string
	switch {
	case h.KDF == "argon2id" && len(parts) == 6:
		if parts[2] != "v=19" {
			return nil, fmt.Errorf("argon2id hash: version %q is not supported (v=19)", parts[2])
		}
		params, salt, hash = parts[3], parts[4], parts[5]
	case h.KDF == "pbkdf2-sha256" && len(parts) == 5:
		params, salt, hash = parts[2], parts[3], parts[4]
	case h.KDF == "argon2id" || h.KDF == "pbkdf2-sha256":
		return nil, fmt.Errorf("%s hash: wrong number of $-separated fields", h.KDF)
	default:
		return nil, fmt.Errorf("password hash: unknown algorithm %q (argon2id, pbkdf2-sha256)", h.KDF)
	}
	for _, kv := range strings.Split(params, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s hash: parameter %q is not name=number", h.KDF, kv)
		}
		switch {
		case k == "m" && h.KDF == "argon2id":
			h.Memory = uint32(n)
		case k == "t" && h.KDF == "argon2id", k == "i" && h.KDF == "pbkdf2-sha256":
			h.Iterations = uint32(n)
		case k == "p" && h.KDF == "argon2id":
			if n == 0 || n > 255 {
				return nil, fmt.Errorf("argon2id hash: p=%d is out of range 1-255", n)
			}
			h.Threads = uint8(n)
		default:
			return nil, fmt.Errorf("%s hash: unknown parameter %q", h.KDF, k)
		}
	}
	var err error
	if h.Salt, err = b64.DecodeString(strings.TrimRight(salt, "=")); err != nil || len(h.Salt) < 8 {
		return nil, fmt.Errorf("%s hash: the salt must be at least 8 bytes in base64", h.KDF)
	}
	if h.Hash, err = b64.DecodeString(strings.TrimRight(hash, "=")); err != nil || len(h.Hash) < 16 || len(h.Hash) > 64 {
		return nil, fmt.Errorf("%s hash: the hash must be 16 to 64 bytes in base64", h.KDF)
	}
	switch {
	case h.Iterations == 0 || h.Iterations > maxIterations:
		return nil, fmt.Errorf("%s hash: the iteration count must be from 1 to %d", h.KDF, maxIterations)
	case h.KDF == "argon2id" && (h.Memory < 8*uint32(max(h.Threads, 1)) || h.Memory > maxArgon2Memory):
		return nil, fmt.Errorf("argon2id hash: m=%d KiB is out of range (8*p to %d)", h.Memory, maxArgon2Memory)
	case h.KDF == "argon2id" && h.Threads == 0:
		return nil, fmt.Errorf("argon2id hash: p is missing")
	}
	return h, nil
}
