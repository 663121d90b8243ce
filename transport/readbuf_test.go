package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
)

// chunkReader returns data in reads of the sizes in steps, in turn.
type chunkReader struct {
	data  []byte
	steps []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.steps) > 0 {
		n = int(r.steps[r.i%len(r.steps)]) + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type event struct {
	kind    websocket.EventKind
	payload string
}

// wsEvents runs the connection's WebSocket read path over data arriving in
// the given chunks and returns what it found.
func wsEvents(data, steps []byte) ([]event, error) {
	var rb readBuffer
	r := websocket.Reader{MaxMessageSize: 1 << 12}
	src := &chunkReader{data: data, steps: steps}
	var evs []event
	for {
		ev, n, err := r.Next(rb.unread())
		if err != nil {
			return evs, err
		}
		if n == 0 {
			if ev.Need <= len(rb.unread()) {
				return evs, errors.New("needs no more than it has")
			}
			if err := rb.fill(src, ev.Need); err != nil {
				return evs, err
			}
			if len(rb.b) > max(readBufferSize, 2*ev.Need) {
				return evs, errors.New("buffer grew beyond twice the need")
			}
			continue
		}
		if ev.Kind != websocket.EventNone {
			evs = append(evs, event{ev.Kind, string(ev.Payload)})
		}
		rb.consume(n)
	}
}

// FuzzReadPath checks that the connection's read path (readBuffer feeding
// websocket.Reader, and rawsocket.Next) finds the same frames however the
// bytes arrive.
func FuzzReadPath(f *testing.F) {
	mask := func(op ws.OpCode, fin bool, p string) []byte {
		h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{7, 7, 7, 7}, Length: int64(len(p))}
		b := []byte(p)
		ws.Cipher(b, h.Mask, 0)
		return append(websocket.AppendHeader(nil, h), b...)
	}
	f.Add(bytes.Join([][]byte{
		mask(ws.OpText, false, "[1,"),
		mask(ws.OpPing, true, "ping"),
		mask(ws.OpContinuation, true, string(bytes.Repeat([]byte("a"), 5000))),
		mask(ws.OpText, true, "x"),
	}, nil), []byte{3, 200, 0})
	f.Add(rawsocket.AppendFrame(rawsocket.AppendFrame(nil, rawsocket.TypePing, []byte("p")), rawsocket.TypeMessage, make([]byte, 9000)), []byte{255})
	f.Fuzz(checkReadPath)
}

func checkReadPath(t *testing.T, data, steps []byte) {
	{
		whole, werr := wsEvents(append([]byte(nil), data...), nil)
		chunked, cerr := wsEvents(append([]byte(nil), data...), steps)
		if (werr == io.EOF) != (cerr == io.EOF) || len(whole) != len(chunked) {
			t.Fatalf("whole: %d events, %v; chunked: %d events, %v", len(whole), werr, len(chunked), cerr)
		}
		for i := range whole {
			if whole[i] != chunked[i] {
				t.Fatalf("event %d differs", i)
			}
		}

		// The same for RawSocket framing.
		var rb readBuffer
		src := &chunkReader{data: data, steps: steps}
		rest := data
		for {
			fr, n, err := rawsocket.Next(rb.unread(), 1<<14)
			if err != nil {
				return
			}
			if n == 0 {
				if err := rb.fill(src, fr.Size()); err != nil {
					return
				}
				continue
			}
			want, m, _ := rawsocket.Next(rest, 1<<14)
			if m != n || !bytes.Equal(want.Payload, fr.Payload) {
				t.Fatal("chunked RawSocket frame differs")
			}
			rest = rest[m:]
			rb.consume(n)
		}
	}
}
