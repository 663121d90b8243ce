package rawsocket

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// tcpPair returns the two ends of a real TCP connection over loopback.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestAcceptOverTCP runs the router's side of the handshake on real
// sockets: a client that sends its request one octet at a time, one whose
// serializer the router does not speak, and one that never completes it
// (the caller's deadline ends the wait).
func TestAcceptOverTCP(t *testing.T) {
	t.Run("one octet at a time", func(t *testing.T) {
		client, server := tcpPair(t)
		type result struct {
			h   Handshake
			err error
		}
		done := make(chan result, 1)
		go func() {
			h, err := Accept(server, 1<<20)
			done <- result{h, err}
		}()
		for _, b := range []byte{Magic, 0x33, 0, 0} { // 4 KiB, CBOR
			if _, err := client.Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
		}
		var reply [HandshakeSize]byte
		if _, err := io.ReadFull(client, reply[:]); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || r.h != (Handshake{MaxLength: 4096, Serializer: wamp.FormatCBOR}) {
			t.Fatalf("Accept: %+v, %v", r.h, r.err)
		}
		h, err := ParseReply(reply[:])
		if err != nil || h != (Handshake{MaxLength: 1 << 20, Serializer: wamp.FormatCBOR}) {
			t.Fatalf("reply % x: %+v, %v", reply, h, err)
		}
	})
	t.Run("serializer not spoken", func(t *testing.T) {
		for _, ser := range []byte{0, 4, 5, 15} {
			client, server := tcpPair(t)
			if _, err := client.Write([]byte{Magic, 0xf0 | ser, 0, 0}); err != nil {
				t.Fatal(err)
			}
			if _, err := Accept(server, 1<<20); !errors.Is(err, ErrorSerializerUnsupported) {
				t.Errorf("serializer %d: Accept: %v, want ErrorSerializerUnsupported", ser, err)
			}
			var reply [HandshakeSize]byte
			if _, err := io.ReadFull(client, reply[:]); err != nil {
				t.Fatal(err)
			}
			if _, err := ParseReply(reply[:]); err != ErrorSerializerUnsupported {
				t.Errorf("serializer %d: reply % x parses as %v", ser, reply, err)
			}
		}
	})
	t.Run("never completed", func(t *testing.T) {
		client, server := tcpPair(t)
		if _, err := client.Write([]byte{Magic, 0x31}); err != nil {
			t.Fatal(err)
		}
		server.SetDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := Accept(server, 1<<20); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Accept: %v, want the deadline's error", err)
		}
	})
}
