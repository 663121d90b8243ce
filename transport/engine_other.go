//go:build !linux

package transport

import (
	"net"
	"time"
)

// epollSupported says whether the epoll engine exists on this system.
const epollSupported = false

// engine stands for the epoll engine, which never runs here.
type engine struct{}

func (s *Server) startEngineLocked() (*engine, error) { return nil, nil }

func (s *Server) serveEngine(*engine, net.Conn, time.Duration) bool { return false }

func (e *engine) abortAllLocked()               {}
func (e *engine) abortUnattachedLocked()        {}
func (e *engine) goAwayLocked() int             { return 0 }
func (e *engine) stop()                         {}
func (e *engine) bytes() (read, written uint64) { return 0, 0 }
