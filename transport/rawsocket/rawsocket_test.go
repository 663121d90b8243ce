package rawsocket

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

func TestParseHandshake(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Handshake
		err  error
	}{
		{
			name: "json 16M",
			in:   []byte{0x7f, 0xf1, 0, 0},
			want: Handshake{MaxLength: 1 << 24, Serializer: wamp.FormatJSON},
		},
		{
			name: "cbor 512",
			in:   []byte{0x7f, 0x03, 0, 0},
			want: Handshake{MaxLength: 512, Serializer: wamp.FormatCBOR},
		},
		{
			name: "unknown serializer is parsed",
			in:   []byte{0x7f, 0x2a, 0, 0},
			want: Handshake{MaxLength: 2048, Serializer: 10},
		},
		{
			name: "short",
			in:   []byte{0x7f, 0x21, 0},
			err:  ErrShort,
		},
		{
			name: "bad magic",
			in:   []byte("GET "),
			err:  ErrNotRawSocket,
		},
		{
			name: "reserved octet",
			in:   []byte{0x7f, 0x21, 0, 1},
			err:  ErrorReservedBits,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHandshake(tt.in)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name      string
		req       []byte
		maxLength int
		reply     []byte
		err       error
	}{
		{
			name:      "accept, our length rounded down",
			req:       []byte{0x7f, 0xf2, 0, 0},
			maxLength: 1<<20 + 5,
			reply:     []byte{0x7f, 0xb2, 0, 0},
		},
		{
			name:      "length below the minimum announces the minimum",
			req:       []byte{0x7f, 0x01, 0, 0},
			maxLength: 100,
			reply:     []byte{0x7f, 0x01, 0, 0},
		},
		{
			name:      "serializer 0 is unsupported",
			req:       []byte{0x7f, 0xf0, 0, 0},
			maxLength: 1 << 16,
			reply:     []byte{0x7f, 0x10, 0, 0},
			err:       ErrorSerializerUnsupported,
		},
		{
			name:      "ubjson is unsupported",
			req:       []byte{0x7f, 0xf4, 0, 0},
			maxLength: 1 << 16,
			reply:     []byte{0x7f, 0x10, 0, 0},
			err:       ErrorSerializerUnsupported,
		},
		{
			name:      "reserved bits",
			req:       []byte{0x7f, 0xf1, 0x80, 0},
			maxLength: 1 << 16,
			reply:     []byte{0x7f, 0x30, 0, 0},
			err:       ErrorReservedBits,
		},
		{
			name:      "not rawsocket: no reply",
			req:       []byte{'G', 'E', 'T', ' '},
			maxLength: 1 << 16,
			err:       ErrNotRawSocket,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reply, err := Negotiate(nil, tt.req, tt.maxLength)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(reply, tt.reply) {
				t.Fatalf("reply = %x, want %x", reply, tt.reply)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	h, err := ParseReply([]byte{0x7f, 0x43, 0, 0})
	if err != nil || h != (Handshake{MaxLength: 8192, Serializer: wamp.FormatCBOR}) {
		t.Fatalf("got %+v, %v", h, err)
	}
	_, err = ParseReply(AppendHandshakeError(nil, ErrorMaxConnections))
	if err != ErrorMaxConnections {
		t.Fatalf("err = %v, want %v", err, ErrorMaxConnections)
	}
}

// TestParseReplyReservedOctets checks that a success reply whose reserved
// octets are not zero is reported as the router's fault, not as the
// router refusing the client for using reserved bits (an ErrorCode, which
// says what the router sent).
func TestParseReplyReservedOctets(t *testing.T) {
	for _, reply := range [][]byte{{0x7f, 0x41, 0, 1}, {0x7f, 0xf3, 0x80, 0}} {
		_, err := ParseReply(reply)
		var code ErrorCode
		if errors.As(err, &code) || !errors.Is(err, ErrReplyReserved) {
			t.Errorf("ParseReply(% x) = %v, want ErrReplyReserved", reply, err)
		}
	}
}

func TestAnnouncedLength(t *testing.T) {
	for in, want := range map[int]int{0: 512, 512: 512, 1023: 512, 1024: 1024, 1 << 24: 1 << 24, 1 << 30: 1 << 24} {
		if got := AnnouncedLength(in); got != want {
			t.Errorf("AnnouncedLength(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Header
		err  error
	}{
		{
			name: "message",
			in:   []byte{0, 0x01, 0x02, 0x03},
			want: Header{Type: TypeMessage, Length: 0x010203},
		},
		{
			name: "ping",
			in:   []byte{1, 0, 0, 4},
			want: Header{Type: TypePing, Length: 4},
		},
		{
			name: "16M-1",
			in:   []byte{2, 0xff, 0xff, 0xff},
			want: Header{Type: TypePong, Length: 1<<24 - 1},
		},
		{
			name: "25th length bit",
			in:   []byte{0x08, 0, 0, 0},
			want: Header{Type: TypeMessage, Length: 1 << 24},
		},
		{
			name: "25th bit with length",
			in:   []byte{0x08, 0, 0, 1},
			err:  ErrLengthBit,
		},
		{
			name: "reserved bits",
			in:   []byte{0x10, 0, 0, 1},
			err:  ErrReservedBits,
		},
		{
			name: "reserved type",
			in:   []byte{0x03, 0, 0, 1},
			err:  ErrReservedType,
		},
		{
			name: "short",
			in:   []byte{0, 0, 0},
			err:  ErrShort,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.in)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	var b []byte
	b = AppendFrame(b, TypePing, []byte("hi"))
	b, start := BeginFrame(b)
	b = append(b, `[1,"realm1",{}]`...)
	b = EndFrame(b, start, TypeMessage)

	f, n, err := Next(b, 1024)
	if err != nil || n != 6 || f.Type != TypePing || string(f.Payload) != "hi" {
		t.Fatalf("first frame: %+v, %d, %v", f, n, err)
	}
	b = b[n:]
	for i := range len(b) {
		f, n, err := Next(b[:i], 1024)
		if err != nil || n != 0 {
			t.Fatalf("prefix of %d bytes: n = %d, err = %v", i, n, err)
		}
		want := HeaderSize
		if i >= HeaderSize {
			want = len(b)
		}
		if f.Size() != want {
			t.Fatalf("prefix of %d bytes: need %d, want %d", i, f.Size(), want)
		}
	}
	f, n, err = Next(b, 1024)
	if err != nil || n != len(b) || f.Type != TypeMessage || string(f.Payload) != `[1,"realm1",{}]` {
		t.Fatalf("second frame: %+v, %d, %v", f, n, err)
	}
	if _, _, err := Next(b, 8); err != ErrTooLong {
		t.Fatalf("over the limit: err = %v", err)
	}
}

func TestNextAllocatesNothing(t *testing.T) {
	b := AppendFrame(nil, TypeMessage, make([]byte, 100))
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := Next(b, 1<<20); err != nil {
			t.Fatal(err)
		}
		_, _ = ParseHandshake([]byte{0x7f, 0xf1, 0, 0})
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

func TestAppendHeaderMaxLength(t *testing.T) {
	b := AppendHeader(nil, TypeMessage, MaxLength)
	h, err := ParseHeader(b)
	if err != nil || h.Length != MaxLength {
		t.Fatalf("got %+v, %v", h, err)
	}
}

type rw struct {
	io.Reader
	out bytes.Buffer
}

func (r *rw) Write(p []byte) (int, error) { return r.out.Write(p) }
func (r *rw) Bytes() []byte               { return r.out.Bytes() }

func TestAccept(t *testing.T) {
	c := &rw{Reader: bytes.NewReader([]byte{0x7f, 0xf2, 0, 0})}
	h, err := Accept(c, 1<<16)
	if err != nil || h.Serializer != wamp.FormatMsgPack || h.MaxLength != 1<<24 {
		t.Fatalf("got %+v, %v", h, err)
	}
	if got := c.Bytes(); !bytes.Equal(got, []byte{0x7f, 0x72, 0, 0}) {
		t.Fatalf("reply %x", got)
	}

	c = &rw{Reader: bytes.NewReader([]byte{0x7f, 0xf9, 0, 0})}
	if _, err := Accept(c, 1<<16); !errors.Is(err, ErrorSerializerUnsupported) {
		t.Fatalf("err = %v", err)
	}
	if got := c.Bytes(); !bytes.Equal(got, []byte{0x7f, 0x10, 0, 0}) {
		t.Fatalf("reply %x", got)
	}

	c = &rw{Reader: bytes.NewReader([]byte{0x7f})}
	if _, err := Accept(c, 1<<16); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}
