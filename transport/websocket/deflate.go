package websocket

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
	kflate "github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692).
//
// The router always answers an offer with server_no_context_takeover and
// client_no_context_takeover: every message is compressed and decompressed
// on its own, so a connection keeps no compressor or decompressor between
// messages. Compression is stateless (AppendDeflate); a decompressor (about
// 40 KiB) comes from a pool for the time of one message (Inflate). The
// cost is the ratio a window shared across messages would add, small for
// the independent JSON documents WAMP sends.

// MinDeflateSize is the smallest message payload the router compresses:
// DEFLATE's own framing costs a few bytes, so the shortest messages (a
// SUBSCRIBED, a small RESULT) come out longer than they went in, and a
// message that does not shrink is sent uncompressed anyway. 128 bytes is
// where typical WAMP JSON starts to gain (BENCHMARKS.md,
// "permessage-deflate").
const MinDeflateSize = 128

// deflateNegotiator answers the permessage-deflate offers of one upgrade
// request: gobwas/ws's Upgrader calls negotiate for every offer in the
// client's order of preference.
type deflateNegotiator struct{ accepted bool }

// negotiate accepts the first permessage-deflate offer the router can
// honour. It declines (returns an empty option, no error) an offer with
// parameters it does not know or cannot read, as RFC 7692 section 5
// requires, and one that limits the server's window below 2^15 bytes
// (server_max_window_bits), which compress/flate cannot do: the client
// then talks uncompressed. client_max_window_bits needs no answer: the
// decompressor reads any window up to 32 KiB.
func (d *deflateNegotiator) negotiate(opt httphead.Option) (httphead.Option, error) {
	if d.accepted || !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
		return httphead.Option{}, nil
	}
	var offer wsflate.Parameters
	if err := offer.Parse(opt); err != nil || repeatsParameter(opt) {
		return httphead.Option{}, nil
	}
	if offer.ServerMaxWindowBits.Defined() && offer.ServerMaxWindowBits < 15 {
		return httphead.Option{}, nil
	}
	d.accepted = true
	// An offer with server_max_window_bits is accepted by answering with
	// it (RFC 7692 section 7.1.2.1); 15 is the window the router uses.
	return wsflate.Parameters{
		ServerNoContextTakeover: true,
		ClientNoContextTakeover: true,
		ServerMaxWindowBits:     offer.ServerMaxWindowBits,
	}.Option(), nil
}

// repeatsParameter reports whether opt names a parameter twice, which
// RFC 7692 section 5.1 has the server decline. wsflate's Parse misses a
// client_max_window_bits without a value beside another one.
func repeatsParameter(opt httphead.Option) bool {
	var seen [4][]byte // Parse let through only the four names RFC 7692 has
	names, repeated := seen[:0], false
	opt.Parameters.ForEach(func(k, _ []byte) bool {
		for _, n := range names {
			if bytes.Equal(n, k) {
				repeated = true
				return false
			}
		}
		names = append(names, k)
		return true
	})
	return repeated
}

// errInflate is a compressed message that is not valid DEFLATE data.
var errInflate = &CloseError{1007, "compressed message is not valid DEFLATE data"}

// ErrInflatedTooBig is the CloseError (code 1009) of a compressed message
// whose decompressed length exceeds the maximum message size: a zip bomb
// is refused as soon as its output passes the limit, having made the
// router hold no more than the limit.
var ErrInflatedTooBig = &CloseError{1009, "decompressed message larger than the maximum message size"}

// inflater is a pooled decompressor: wsflate's Reader (which appends the
// empty final block RFC 7692 section 7.2.2 has the receiver add) over
// compress/flate's.
type inflater struct {
	src bytes.Reader
	r   *wsflate.Reader
}

// flateReader gives compress/flate's reader the Reset method wsflate's
// Reader looks for, so that a pooled inflater reuses its decompressor.
type flateReader struct{ io.ReadCloser }

func (f flateReader) Reset(r io.Reader) { f.ReadCloser.(flate.Resetter).Reset(r, nil) }

var inflaters = sync.Pool{New: func() any {
	in := new(inflater)
	in.r = wsflate.NewReader(&in.src, func(r io.Reader) wsflate.Decompressor {
		return flateReader{flate.NewReader(r)}
	})
	return in
}}

// Inflate appends the decompressed form of the compressed message src
// (its frames' payloads, the tail RFC 7692 removes left out) to dst, and
// returns it. The output is bounded: once it would pass limit bytes,
// Inflate stops and returns ErrInflatedTooBig, so dst never grows beyond
// len(dst)+limit+1. Invalid data is a *CloseError with code 1007.
func Inflate(dst, src []byte, limit int) ([]byte, error) { return inflate(dst, src, limit, nil) }

// inflate is Inflate with the memory paid for by b (nil: by no one): the
// output is read into room that doubles, from 4 times the input (or what
// dst has room for, up to smallInflate in all), and b is asked before
// each step, whatever dst's capacity (a pooled buffer may have more).
func inflate(dst, src []byte, limit int, b Budget) ([]byte, error) {
	in := inflaters.Get().(*inflater)
	defer func() {
		in.src.Reset(nil) // the pool keeps no message
		inflaters.Put(in)
	}()
	in.src.Reset(src)
	in.r.Reset(&in.src)
	base := len(dst)
	end := base + limit + 1 // one byte past the limit tells a message over it
	room := min(base+max(4*len(src), 512, min(cap(dst)-base, smallInflate-len(src))), end)
	for {
		if b != nil && !b.Grow(len(src)+room-base) {
			return dst, ErrBudget
		}
		dst = grow(dst, room)
		for len(dst) < room {
			n, err := in.r.Read(dst[len(dst):room])
			dst = dst[:len(dst)+n]
			if len(dst)-base > limit {
				return dst, ErrInflatedTooBig
			}
			if err == io.EOF {
				return dst, nil
			}
			if err != nil {
				return dst, errInflate
			}
		}
		room = base + min(2*(room-base), limit+1)
	}
}

// smallInflate is what a message being decompressed may take, compressed
// and decompressed, of a buffer it already has, before it is read into
// room four times its compressed length: a pooled buffer then serves an
// ordinary message in one step.
const smallInflate = 4 << 10

// grow returns b with capacity for n bytes.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// appendWriter appends what is written to b.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

var appendWriters = sync.Pool{New: func() any { return new(appendWriter) }}

// syncTail ends a DEFLATE stream flushed to a byte boundary (an empty
// stored block); RFC 7692 section 7.2.1 has the sender remove it.
var syncTail = []byte{0, 0, 0xff, 0xff}

// AppendDeflate appends p compressed as one permessage-deflate message
// (raw DEFLATE, flushed, the tail removed) to dst, and returns it; the
// frame carrying it has RSV1 set. It uses klauspost/compress's stateless
// DEFLATE, made for exactly this (no context takeover): no compressor
// exists between calls (compress/flate's, reset per message, is about
// 800 KiB, held in a pool), and it takes about half the CPU
// (BENCHMARKS.md). Blocks of 32 KiB reach back 8 KiB into the one before.
func AppendDeflate(dst, p []byte) []byte {
	w := appendWriters.Get().(*appendWriter)
	w.b = dst
	err := kflate.StatelessDeflate(w, p, false, nil)
	out := w.b
	w.b = nil
	appendWriters.Put(w)
	if err != nil || !bytes.HasSuffix(out[len(dst):], syncTail) {
		// Neither can happen: appending does not fail, and a stream that
		// is not at its end is always flushed with an empty stored block.
		panic(fmt.Sprintf("websocket: stateless deflate gave %v, ending %x", err, out[max(len(dst), len(out)-4):]))
	}
	return out[:len(out)-len(syncTail)]
}

// errCompressedBit: RSV1 on a control frame or a continuation frame (RFC
// 7692 section 6.1), or on any frame of a connection that did not
// negotiate permessage-deflate (RFC 6455 section 5.2; ws.CheckHeader's
// error then).
var errCompressedBit = &CloseError{1002, string(wsflate.ErrUnexpectedCompressionBit)}

// DeflateBytes returns p compressed, in a slice of its own, or nil when p
// is sent as it is: shorter than MinDeflateSize, or not made shorter. For
// a message compressed once and sent to many connections.
func DeflateBytes(p []byte) []byte {
	z, sc := deflateScratch(p)
	c := slices.Clone(z)
	releaseScratch(sc)
	return c
}

// deflateScratch compresses p into a pooled buffer when p is long enough;
// z is nil when it was not, or when compressing did not make it shorter.
// The caller gives the buffer back with releaseScratch once done with z.
func deflateScratch(p []byte) (z []byte, sc *inflated) {
	if len(p) < MinDeflateSize {
		return nil, nil
	}
	sc = scratchPool.Get().(*inflated)
	sc.b = AppendDeflate(sc.b[:0], p)
	if len(sc.b) >= len(p) {
		return nil, sc
	}
	return sc.b, sc
}

// releaseScratch gives deflateScratch's buffer back (a large one is let go).
func releaseScratch(sc *inflated) {
	if sc != nil && cap(sc.b) <= maxPooledInflated {
		sc.b = sc.b[:0]
		scratchPool.Put(sc)
	}
}

// scratchPool holds the buffers deflateScratch compresses into.
var scratchPool = sync.Pool{New: func() any { return new(inflated) }}
