package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
)

const passwdUsage = `usage: junction passwd --method ticket|wampcra|scram [flags] < password

Reads a password (the first line of standard input) and prints the form a
principal stores in the config, as YAML to put under the principal:

  ticket    the salted hash of the ticket (argon2id, or --kdf pbkdf2-sha256)
  wampcra   the salted WAMP-CRA key: key, salt, iterations, keylen
  scram     a WAMP-SCRAM credential: kdf (--kdf argon2id13, argon2id-13 for
            Autobahn|Python's "scram", or pbkdf2), iterations, memory, salt,
            stored_key, server_key; its cost must be one clients accept:
            PBKDF2 1000 to 10000000 iterations, Argon2id at most 100
            iterations and 1024 to 2097152 KiB (1 MiB to 2 GiB)
`

// runPasswd prints the stored form of a password.
func runPasswd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("passwd", passwdUsage)
	method := fs.String("method", "", "ticket, wampcra or scram (wamp-scram)")
	kdf := fs.String("kdf", "", "ticket: argon2id (default) or pbkdf2-sha256; scram: argon2id13 (default), argon2id-13 or pbkdf2")
	iterations := fs.Int("iterations", 0, "cost: iterations (0: the method's default)")
	memory := fs.Int("memory", 0, "cost: memory in KiB for Argon2id (0: the default)")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := fs.noArgs(rest); err != nil {
		return err
	}
	if *iterations < 0 || *memory < 0 {
		return errors.New("--iterations and --memory must not be negative")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return errors.New("no password on standard input")
	}
	switch auth.Canonical(*method) {
	case auth.MethodTicket:
		if *memory != 0 && *kdf == "pbkdf2-sha256" {
			return errors.New("--memory: pbkdf2-sha256 has no memory cost (Argon2id has)")
		}
		h, err := auth.NewPasswordHash(password, *kdf, uint32(*iterations), uint32(*memory))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ticket: %q\n", h.String())
	case auth.MethodWAMPCRA:
		if *kdf != "" {
			return errors.New("wampcra has one kdf (PBKDF2-HMAC-SHA256): leave out --kdf")
		}
		if *memory != 0 {
			return errors.New("--memory: wampcra (PBKDF2) has no memory cost")
		}
		it := *iterations
		if it == 0 {
			it = 10000
		}
		salt := make([]byte, 12)
		rand.Read(salt)
		k, err := auth.DeriveCRAKey(password, base64.RawURLEncoding.EncodeToString(salt), it, 32)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wampcra:\n  key: %s\n  salt: %s\n  iterations: %d\n  keylen: %d\n", k.Key, k.Salt, k.Iterations, k.KeyLen)
	case auth.MethodSCRAM:
		k := *kdf
		if k == "" {
			k = auth.KDFArgon2id13
		}
		if err := scramCostOK(k, *iterations, *memory); err != nil {
			return err
		}
		c, err := auth.NewSCRAMCredential(password, k, *iterations, *memory)
		if err != nil {
			return err
		}
		b := base64.StdEncoding.EncodeToString
		fmt.Fprintf(stdout, "scram:\n  - kdf: %s\n    iterations: %d\n", c.KDF, c.Iterations)
		if c.Memory > 0 {
			fmt.Fprintf(stdout, "    memory: %d\n", c.Memory)
		}
		fmt.Fprintf(stdout, "    salt: %s\n    stored_key: %s\n    server_key: %s\n", b(c.Salt), b(c.StoredKey), b(c.ServerKey))
	case "":
		return fs.usageError("--method is required")
	default:
		return fmt.Errorf("--method %q: one of ticket, wampcra, scram (unsalted wampcra stores the secret itself, and cryptosign a public key: see junction keygen)", *method)
	}
	return nil
}

// scramCostOK checks --iterations and --memory (0: the default) for kdf.
func scramCostOK(kdf string, iterations, memory int) error {
	switch kdf {
	case auth.KDFPBKDF2:
		if memory != 0 {
			return errors.New("--memory: pbkdf2 has no memory cost (Argon2id has)")
		}
		if iterations != 0 && (iterations < client.SCRAMMinPBKDF2Iterations || iterations > client.SCRAMMaxPBKDF2Iterations) {
			return fmt.Errorf("--iterations %d: WAMP-SCRAM clients refuse PBKDF2 with fewer than %d or more than %d", iterations, client.SCRAMMinPBKDF2Iterations, client.SCRAMMaxPBKDF2Iterations)
		}
	case auth.KDFArgon2id13, auth.KDFArgon2id13Autobahn:
		if memory != 0 && (memory < client.SCRAMMinArgon2Memory || memory > client.SCRAMMaxArgon2Memory) {
			return fmt.Errorf("--memory %d: WAMP-SCRAM clients refuse Argon2id with less than %d or more than %d KiB", memory, client.SCRAMMinArgon2Memory, client.SCRAMMaxArgon2Memory)
		}
		if iterations > client.SCRAMMaxArgon2Iterations {
			return fmt.Errorf("--iterations %d: WAMP-SCRAM clients refuse Argon2id with more than %d", iterations, client.SCRAMMaxArgon2Iterations)
		}
	}
	return nil
}

// runKeygen prints a new Ed25519 key pair for cryptosign.
func runKeygen(args []string, stdout io.Writer) error {
	fs := newFlagSet("keygen", "usage: junction keygen\n\nPrints a new Ed25519 key pair for cryptosign, in hex: the private key (a\n32-byte seed, as Autobahn takes it) for the client, the public key for the\nprincipal's cryptosign list.\n")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := fs.noArgs(rest); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "private: %s\npublic: %s\n", hex.EncodeToString(priv.Seed()), hex.EncodeToString(pub))
	return nil
}
