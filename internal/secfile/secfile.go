// Package secfile reads the small files that hold secrets and certificates
// (PEM certificates and keys, NATS credentials) named in a configuration.
// It is its own package so that config, which validates them, and
// cluster, which loads them, read them the same way without one importing
// the other.
package secfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxSize bounds such a file: a PEM chain or a credentials file is a few
// kilobytes.
const MaxSize = 1 << 20

// Read reads the file name. It refuses anything but a regular file, so
// that a name like /dev/stdin or a FIFO cannot block a start or a
// validation, and files larger than MaxSize.
func Read(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// Say "open", as tls.LoadX509KeyPair would: it is the
			// operation the user thinks of.
			pe.Op = "open"
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("%s is %d bytes, too large for a certificate, key or credentials file", name, fi.Size())
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s grew past %d bytes while it was read", name, MaxSize)
	}
	return data, nil
}
