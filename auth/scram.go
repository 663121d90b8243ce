package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/junction-wamp/junction/wamp"
)

// WAMP-SCRAM key derivation functions, as CHALLENGE.Details.kdf names them.
const (
	// KDFArgon2id13 is Argon2id version 1.3 as the specification defines
	// it: SaltedPassword is the 32-byte Argon2id output.
	KDFArgon2id13 = "argon2id13"
	// KDFArgon2id13Autobahn is Argon2id as Autobahn|Python and Crossbar.io
	// use it: SaltedPassword is the Argon2id output in unpadded base64
	// text (what argon2-cffi's encoded hash ends with), the text being
	// the key. Credentials made for one do not work with the other.
	KDFArgon2id13Autobahn = "argon2id-13"
	// KDFPBKDF2 is PBKDF2-HMAC-SHA256.
	KDFPBKDF2 = "pbkdf2"
)

// Default WAMP-SCRAM cost parameters of NewSCRAMCredential: the client
// pays them at every login.
const (
	DefaultSCRAMArgon2Iterations = 2
	DefaultSCRAMArgon2Memory     = 19 * 1024 // KiB
	DefaultSCRAMPBKDF2Iterations = 600_000
)

// SCRAMCredential is what the router stores for a WAMP-SCRAM password:
// the salt, the KDF and its cost, and the StoredKey and ServerKey derived
// from the password. The password itself is not needed.
type SCRAMCredential struct {
	KDF        string // KDFArgon2id13, KDFArgon2id13Autobahn or KDFPBKDF2
	Iterations int
	Memory     int // KiB, Argon2id only
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// NewSCRAMCredential derives the credential for password with a new
// random 16-byte salt; zero iterations and memory take the defaults.
func NewSCRAMCredential(password, kdf string, iterations, memory int) (*SCRAMCredential, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	c := &SCRAMCredential{KDF: kdf, Iterations: iterations, Memory: memory, Salt: salt}
	switch kdf {
	case KDFArgon2id13, KDFArgon2id13Autobahn:
		if c.Iterations == 0 {
			c.Iterations = DefaultSCRAMArgon2Iterations
		}
		if c.Memory == 0 {
			c.Memory = DefaultSCRAMArgon2Memory
		}
	case KDFPBKDF2:
		if c.Iterations == 0 {
			c.Iterations = DefaultSCRAMPBKDF2Iterations
		}
		c.Memory = 0
	default:
		return nil, fmt.Errorf("WAMP-SCRAM: unknown kdf %q (%s, %s, %s)", kdf, KDFArgon2id13, KDFArgon2id13Autobahn, KDFPBKDF2)
	}
	sp, err := scramSaltedPassword(c.KDF, password, c.Salt, c.Iterations, c.Memory)
	if err != nil {
		return nil, err
	}
	c.StoredKey, c.ServerKey = scramKeys(sp)
	return c, nil
}

// scramSaltedPassword computes SaltedPassword = KDF(password, salt, ...).
func scramSaltedPassword(kdf, password string, salt []byte, iterations, memory int) ([]byte, error) {
	switch kdf {
	case KDFArgon2id13:
		return argon2.IDKey([]byte(password), salt, uint32(iterations), uint32(memory), 1, 32), nil
	case KDFArgon2id13Autobahn:
		raw := argon2.IDKey([]byte(password), salt, uint32(iterations), uint32(memory), 1, 32)
		return []byte(base64.RawStdEncoding.EncodeToString(raw)), nil
	case KDFPBKDF2:
		return pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	}
	return nil, fmt.Errorf("WAMP-SCRAM: unknown kdf %q", kdf)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scramKeys returns StoredKey = SHA256(HMAC(SaltedPassword, "Client Key"))
// and ServerKey = HMAC(SaltedPassword, "Server Key").
func scramKeys(saltedPassword []byte) (storedKey, serverKey []byte) {
	ck := hmacSHA256(saltedPassword, "Client Key")
	sk := sha256.Sum256(ck)
	return sk[:], hmacSHA256(saltedPassword, "Server Key")
}

// scramDialect is how an exchange is computed: as the specification says,
// or as Autobahn|Python and Crossbar.io do when the method is named
// "scram".
//
// The Autobahn dialect differs in four ways: ClientFirstBare does not
// escape ',' and '=' in the authid; ClientFinalNoProof has "c=" followed
// by the channel binding type as text ("" for none) instead of the base64
// GS2 header; WELCOME carries the ServerSignature as
// authextra.scram_server_signature instead of authextra.verifier; and
// Argon2id is named "argon2id-13", with a different SaltedPassword (see
// KDFArgon2id13Autobahn). Its CHALLENGE must also hold nothing but nonce,
// kdf, salt, iterations and (for Argon2id only) memory.
type scramDialect bool

const (
	scramSpec     scramDialect = false
	scramAutobahn scramDialect = true
)

// accepts reports whether a credential with kdf can be used in the
// dialect.
func (d scramDialect) accepts(kdf string) bool {
	if kdf == KDFPBKDF2 {
		return true
	}
	if d == scramAutobahn {
		return kdf == KDFArgon2id13Autobahn
	}
	return kdf == KDFArgon2id13
}

var scramEscaper = strings.NewReplacer("=", "=3D", ",", "=2C")

// scramAuthMessage builds AuthMessage from the attributes of the exchange;
// cbData is the raw channel binding data (nil without).
func scramAuthMessage(d scramDialect, authid, clientNonce, serverNonce, salt string, iterations int, cbType string, cbData []byte) string {
	var c string
	if d == scramAutobahn {
		c = cbType
	} else {
		flag := "n"
		if cbType != "" {
			flag = "p=" + cbType
		}
		c = base64.StdEncoding.EncodeToString(append([]byte(flag+",,"), cbData...))
		authid = scramEscaper.Replace(authid)
	}
	return "n=" + authid + ",r=" + clientNonce +
		",r=" + serverNonce + ",s=" + salt + ",i=" + strconv.Itoa(iterations) +
		",c=" + c + ",r=" + serverNonce
}

// SCRAM authenticates with WAMP-SCRAM (RFC 5802 and 7677 with SHA-256,
// Argon2id or PBKDF2), in the specification's dialect when the client
// names the method "wamp-scram" and in Autobahn's when it names it
// "scram".
type SCRAM struct {
	src  source
	mock *mockParams
}

// NewSCRAM authenticates the static principals of t.
func NewSCRAM(t *Principals) *SCRAM { return &SCRAM{src: staticSource{t}, mock: &t.mock} }

// Knows reports whether the authid has a SCRAM credential.
func (a *SCRAM) Knows(req *Request) bool {
	d := scramDialect(req.Method == methodSCRAMAutobahn)
	return knows(a.src, req, func(p *Principal) bool { return p.scramCredential(d) != nil })
}

func (p *Principal) scramCredential(d scramDialect) *SCRAMCredential {
	for _, c := range p.SCRAM {
		if d.accepts(c.KDF) {
			return c
		}
	}
	return nil
}

// Authenticate runs the WAMP-SCRAM exchange.
func (a *SCRAM) Authenticate(ctx context.Context, req *Request, c Challenger) (*Identity, error) {
	d := scramDialect(req.Method == methodSCRAMAutobahn)
	if req.AuthID == "" {
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: "wamp-scram needs an authid in HELLO.Details"}
	}
	clientNonce, ok := extraString(req.AuthExtra, "nonce")
	if !ok || clientNonce == "" {
		return nil, malformed("HELLO.Details.authextra.nonce must be the client's nonce for wamp-scram (base64)")
	}
	if _, err := base64.StdEncoding.DecodeString(clientNonce); err != nil {
		return nil, malformed("HELLO.Details.authextra.nonce must be base64")
	}
	cbType, ok := extraString(req.AuthExtra, "channel_binding")
	if !ok {
		return nil, malformed("HELLO.Details.authextra.channel_binding must be a string or null")
	}
	if cbType != "" && d == scramAutobahn {
		// Autobahn's dialect puts the binding's name in AuthMessage, not
		// the channel's data: the proof would not depend on the channel,
		// so a proof relayed from another TLS connection would pass.
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed,
			Message: "channel binding needs the wamp-scram dialect of the specification: Autobahn's (scram) does not bind the proof to the channel"}
	}
	var cbData []byte
	if cbType != "" {
		var err error
		if cbData, err = req.Transport.channelBinding(cbType); err != nil {
			return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: err.Error()}
		}
		if cbType == "tls-unique" {
			// WAMP-SCRAM's tls-unique data is RFC 5929's: the first
			// Finished message itself (cryptosign's is its SHA-256).
			cbData = req.Transport.TLSUnique
		}
	}

	p, err := a.src.lookup(ctx, req)
	if err != nil {
		return nil, err
	}
	var cred *SCRAMCredential
	if p != nil {
		cred = p.scramCredential(d)
	}
	known := cred != nil
	if !known {
		cred = a.mockCredential(req.AuthID, d)
	}

	sn := make([]byte, 16)
	rand.Read(sn)
	serverNonce := clientNonce + base64.StdEncoding.EncodeToString(sn)
	salt := base64.StdEncoding.EncodeToString(cred.Salt)
	extra := wamp.Dict{"nonce": serverNonce, "salt": salt, "kdf": cred.KDF, "iterations": cred.Iterations}
	if cred.KDF != KDFPBKDF2 {
		extra["memory"] = cred.Memory
	} else if d == scramSpec {
		extra["memory"] = nil
	}
	if d == scramSpec {
		extra["channel_binding"] = nilIfEmpty(cbType)
	}
	ans, err := c.Challenge(ctx, extra)
	if err != nil {
		return nil, err
	}

	proof, err := base64.StdEncoding.DecodeString(ans.Signature)
	if err != nil || len(proof) != sha256.Size {
		return nil, malformed("AUTHENTICATE: the wamp-scram signature must be the base64 ClientProof (32 bytes)")
	}
	if n, ok := extraString(ans.Extra, "nonce"); !ok || n != serverNonce && (n != "" || d == scramSpec) {
		return nil, failed("AUTHENTICATE.Extra.nonce is not the nonce of the CHALLENGE")
	}
	if d == scramSpec {
		if cb, ok := extraString(ans.Extra, "channel_binding"); !ok || cb != cbType {
			return nil, failed("AUTHENTICATE.Extra.channel_binding %q is not the one in HELLO (%q)", cb, cbType)
		}
		data, ok := extraString(ans.Extra, "cbind_data")
		if !ok || (data == "") != (cbType == "") {
			return nil, failed("AUTHENTICATE.Extra.cbind_data must be present exactly when channel binding is used")
		}
		if cbType != "" {
			got, err := base64.StdEncoding.DecodeString(data)
			if err != nil || subtle.ConstantTimeCompare(got, cbData) != 1 {
				return nil, failed("AUTHENTICATE.Extra.cbind_data does not match this connection's %s", cbType)
			}
		}
	}

	authMessage := scramAuthMessage(d, req.AuthID, clientNonce, serverNonce, salt, cred.Iterations, cbType, cbData)
	sig := hmacSHA256(cred.StoredKey, authMessage)
	for i := range sig {
		sig[i] ^= proof[i]
	}
	recovered := sha256.Sum256(sig)
	match := subtle.ConstantTimeCompare(recovered[:], cred.StoredKey) == 1
	switch {
	case !known:
		return nil, failed("no principal %q with a %s credential", req.AuthID, req.Method)
	case !match:
		return nil, failed("wrong wamp-scram proof for %q", req.AuthID)
	}
	verifier := base64.StdEncoding.EncodeToString(hmacSHA256(cred.ServerKey, authMessage))
	key := "verifier"
	if d == scramAutobahn {
		key = "scram_server_signature"
	}
	stored := ""
	if a.src.table() != nil {
		stored = scramProof(cred)
	}
	return p.identity(MethodSCRAM, a.src.provider(), stored, wamp.Dict{key: verifier}), nil
}

// mockCredential is challenged with for an unknown authid: the same salt
// every time, the KDF and costs of the realm's first SCRAM principal.
func (a *SCRAM) mockCredential(authid string, d scramDialect) *SCRAMCredential {
	c := &SCRAMCredential{KDF: KDFPBKDF2, Iterations: 4096, Salt: a.mock.mockSalt(authid, 16)}
	if m := a.mock.scram; m != nil && d.accepts(m.KDF) {
		c.KDF, c.Iterations, c.Memory = m.KDF, m.Iterations, m.Memory
	}
	c.StoredKey = a.mock.mockSalt(authid+"\x00stored", 32)
	c.ServerKey = c.StoredKey
	return c
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
