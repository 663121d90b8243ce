//go:build !unix

package config

import "errors"

func mkfifo(path string) error { return errors.New("no FIFOs here") }
