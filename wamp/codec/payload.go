package codec

import (
	"fmt"

	"github.com/junction-wamp/junction/wamp"
)

// DecodePayload returns a payload's arguments in the common value model (see
// value.go): a raw payload is decoded from its serialization, a decoded one
// is returned as it is. Either result is nil when the payload lacks it.
//
// The values do not alias the raw bytes, so the caller may keep them after
// the buffer the message arrived in is reused.
func DecodePayload(p *wamp.Payload) (wamp.List, wamp.Dict, error) {
	if !p.IsRaw() {
		return p.Args, p.Kwargs, nil
	}
	c, ok := ByFormat(p.Format).(*codec)
	if !ok {
		return nil, nil, fmt.Errorf("payload in unknown serialization %d", p.Format)
	}
	var (
		args   wamp.List
		kwargs wamp.Dict
	)
	if p.RawArgs != nil {
		v, err := c.f.value(p.RawArgs)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding %s Arguments: %w", p.Format, err)
		}
		if args, ok = v.([]any); !ok {
			return nil, nil, fmt.Errorf("decoding %s Arguments: got %T, not a list", p.Format, v)
		}
	}
	if p.RawKwargs != nil {
		v, err := c.f.value(p.RawKwargs)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding %s ArgumentsKw: %w", p.Format, err)
		}
		if kwargs, ok = v.(map[string]any); !ok {
			return nil, nil, fmt.Errorf("decoding %s ArgumentsKw: got %T, not a dict", p.Format, v)
		}
	}
	return args, kwargs, nil
}
