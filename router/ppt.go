package router

import "github.com/junction-wamp/junction/wamp"

// Payload passthru mode: a CALL, PUBLISH or YIELD whose options carry a
// non-empty ppt_scheme has a payload the router must not interpret (an MQTT
// message, an end-to-end encrypted blob). The router never looks into
// payloads anyway; it forwards the ppt_* options in the INVOCATION, EVENT,
// RESULT or ERROR details, and checks that both ends announced the feature
// (payload_passthru_mode.md).

var pptKeys = [...]string{"ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"}

// passthru returns the ppt_* options of opts when they put the message in
// payload passthru mode (nil when they do not), or an *wamp.OptionError
// when one of them is not a string.
func passthru(opts wamp.Dict) (wamp.Dict, error) {
	if _, ok := opts["ppt_scheme"]; !ok {
		return nil, nil
	}
	var ppt wamp.Dict
	for _, k := range pptKeys {
		v, err := wamp.OptString(opts, k, "")
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		if ppt == nil {
			ppt = make(wamp.Dict, len(pptKeys))
		}
		ppt[k] = v
	}
	if ppt["ppt_scheme"] == nil {
		return nil, nil
	}
	return ppt, nil
}

// withPassthru adds ppt's entries to details, allocating it when needed.
func withPassthru(details, ppt wamp.Dict) wamp.Dict {
	if len(ppt) == 0 {
		return details
	}
	if details == nil {
		details = make(wamp.Dict, len(ppt))
	}
	for k, v := range ppt {
		details[k] = v
	}
	return details
}
