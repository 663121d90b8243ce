package client

import (
	"context"
	"fmt"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// The Advanced Profile's options travel in the Options dict of PUBLISH,
// SUBSCRIBE, CALL and REGISTER. Session's methods take that dict as it is;
// the types below build it with names and types checked by the compiler.
//
//	s.Subscribe(ctx, "com.example.", h, client.SubscribeOptions{Match: client.MatchPrefix}.Dict())
//	s.Register(ctx, "com.example.work", h, client.RegisterOptions{Invoke: client.InvokeRoundRobin}.Dict())

// Match policies for pattern-based subscriptions and registrations.
const (
	MatchExact    = "exact"
	MatchPrefix   = "prefix"
	MatchWildcard = "wildcard"
)

// Invocation policies for shared registrations.
const (
	InvokeSingle     = "single"
	InvokeRoundRobin = "roundrobin"
	InvokeRandom     = "random"
	InvokeFirst      = "first"
	InvokeLast       = "last"
)

// PublishOptions are PUBLISH.Options.
type PublishOptions struct {
	// Acknowledge asks the router for PUBLISHED (or ERROR): Publish then
	// waits and returns the publication id.
	Acknowledge bool
	// IncludeMe delivers the event to the publisher too, when it is
	// subscribed (exclude_me: false).
	IncludeMe bool
	// DiscloseMe asks the router to tell subscribers who published
	// (publisher identification).
	DiscloseMe bool
	// Retain asks the router to keep the event for subscribers that
	// subscribe later with GetRetained (event retention).
	Retain bool
	// Subscriber black and white listing: sessions, authids and authroles
	// excluded from or eligible for the event.
	Exclude          []wamp.ID
	Eligible         []wamp.ID
	ExcludeAuthID    []string
	EligibleAuthID   []string
	ExcludeAuthRole  []string
	EligibleAuthRole []string
	// Passthru publishes in payload passthru mode.
	Passthru Passthru
}

// Dict returns the options as PUBLISH.Options.
func (o PublishOptions) Dict() wamp.Dict {
	d := wamp.Dict{}
	setTrue(d, "acknowledge", o.Acknowledge)
	if o.IncludeMe {
		d["exclude_me"] = false
	}
	setTrue(d, "disclose_me", o.DiscloseMe)
	setTrue(d, "retain", o.Retain)
	setIDs(d, "exclude", o.Exclude)
	setIDs(d, "eligible", o.Eligible)
	setStrings(d, "exclude_authid", o.ExcludeAuthID)
	setStrings(d, "eligible_authid", o.EligibleAuthID)
	setStrings(d, "exclude_authrole", o.ExcludeAuthRole)
	setStrings(d, "eligible_authrole", o.EligibleAuthRole)
	o.Passthru.set(d)
	return d
}

// SubscribeOptions are SUBSCRIBE.Options.
type SubscribeOptions struct {
	// Match is MatchExact (the default), MatchPrefix or MatchWildcard;
	// Event.Topic then says which topic an event was published to.
	Match string
	// GetRetained asks for the topic's retained event on subscribing.
	GetRetained bool
}

// Dict returns the options as SUBSCRIBE.Options.
func (o SubscribeOptions) Dict() wamp.Dict {
	d := wamp.Dict{}
	if o.Match != "" && o.Match != MatchExact {
		d["match"] = o.Match
	}
	setTrue(d, "get_retained", o.GetRetained)
	return d
}

// CallOptions are CALL.Options. Progressive results are asked for by
// CallProgress and CallIter, progressive invocations sent by Stream.
type CallOptions struct {
	// Timeout asks the router (or the callee) to cancel the call after it,
	// answering wamp.error.timeout; it is sent in whole milliseconds.
	// Independently, the call's context bounds how long Call waits.
	Timeout time.Duration
	// DiscloseMe asks the router to tell the callee who called (caller
	// identification).
	DiscloseMe bool
	// Passthru calls in payload passthru mode.
	Passthru Passthru
}

// Dict returns the options as CALL.Options.
func (o CallOptions) Dict() wamp.Dict {
	d := wamp.Dict{}
	if o.Timeout > 0 {
		d["timeout"] = max(int64(o.Timeout/time.Millisecond), 1)
	}
	setTrue(d, "disclose_me", o.DiscloseMe)
	o.Passthru.set(d)
	return d
}

// Passthru puts a CALL, PUBLISH or YIELD in payload passthru mode: its
// payload is for the peer at the other end, in a scheme the router does
// not interpret (an MQTT message, an end-to-end encrypted blob), and the
// router forwards these ppt_* options with it. The session needs
// Options.PayloadPassthru, and the router must support the mode (Junction
// does); otherwise the call or publication fails with
// wamp.error.feature_not_supported before anything is sent. The payload
// itself is the application's: Args such as wamp.List{ciphertext}.
//
// A callee answers in the mode with a Result whose Details are a
// Passthru's Dict (its ppt_* entries become YIELD.Options). Progressive
// results (SendProgress) are sent without it.
type Passthru struct {
	// Scheme (ppt_scheme) is required: "mqtt", "wamp" (end-to-end
	// encryption) or an application's own, such as "x_myapp".
	Scheme string
	// Serializer (ppt_serializer), Cipher (ppt_cipher) and KeyID
	// (ppt_keyid) are optional.
	Serializer, Cipher, KeyID string
}

var passthruKeys = [...]string{"ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"}

// Dict returns the ppt_* entries; nil when Scheme is empty.
func (p Passthru) Dict() wamp.Dict {
	if p.Scheme == "" {
		return nil
	}
	d := wamp.Dict{}
	p.set(d)
	return d
}

func (p Passthru) set(d wamp.Dict) {
	if p.Scheme == "" {
		return
	}
	for i, v := range [...]string{p.Scheme, p.Serializer, p.Cipher, p.KeyID} {
		if v != "" {
			d[passthruKeys[i]] = v
		}
	}
}

// PassthruOf reads the ppt_* entries of an Event's, Invocation's, Result's
// or Error's Details: a zero Passthru when the message is not in payload
// passthru mode.
func PassthruOf(details wamp.Dict) Passthru {
	if wamp.String(details, "ppt_scheme") == "" {
		return Passthru{}
	}
	return Passthru{Scheme: wamp.String(details, "ppt_scheme"), Serializer: wamp.String(details, "ppt_serializer"),
		Cipher: wamp.String(details, "ppt_cipher"), KeyID: wamp.String(details, "ppt_keyid")}
}

// checkPassthru refuses a message in payload passthru mode that the session
// did not announce, or that the router's role (dealer or broker) does not
// support: either would be a protocol violation that ends the session.
func (w *wire) checkPassthru(opts wamp.Dict, routerSupports bool, role string) error {
	if wamp.String(opts, "ppt_scheme") == "" {
		return nil
	}
	if !w.s.opts.PayloadPassthru {
		return &Error{URI: wamp.ErrFeatureNotSupported,
			Args: wamp.List{"payload passthru mode (ppt_scheme) needs Options.PayloadPassthru"}}
	}
	if !routerSupports {
		return &Error{URI: wamp.ErrFeatureNotSupported,
			Args: wamp.List{"the router's " + role + " does not support payload passthru mode"}}
	}
	return nil
}

// RegisterOptions are REGISTER.Options.
type RegisterOptions struct {
	// Match is MatchExact (the default), MatchPrefix or MatchWildcard;
	// Invocation.Procedure then says which procedure was called.
	Match string
	// Invoke is the shared registration policy: InvokeSingle (the default)
	// or, for several callees registering the same procedure,
	// InvokeRoundRobin, InvokeRandom, InvokeFirst or InvokeLast.
	Invoke string
	// DiscloseCaller asks the router to tell this callee who calls.
	DiscloseCaller bool
	// ForwardTimeout asks the router to pass calls' timeouts to this callee,
	// whose handler context then has that deadline.
	ForwardTimeout bool
}

// Dict returns the options as REGISTER.Options.
func (o RegisterOptions) Dict() wamp.Dict {
	d := wamp.Dict{}
	if o.Match != "" && o.Match != MatchExact {
		d["match"] = o.Match
	}
	if o.Invoke != "" && o.Invoke != InvokeSingle {
		d["invoke"] = o.Invoke
	}
	setTrue(d, "disclose_caller", o.DiscloseCaller)
	setTrue(d, "forward_timeout", o.ForwardTimeout)
	return d
}

func setTrue(d wamp.Dict, key string, b bool) {
	if b {
		d[key] = true
	}
}

func setIDs(d wamp.Dict, key string, ids []wamp.ID) {
	if len(ids) == 0 {
		return
	}
	l := make(wamp.List, len(ids))
	for i, id := range ids {
		l[i] = uint64(id)
	}
	d[key] = l
}

func setStrings(d wamp.Dict, key string, ss []string) {
	if len(ss) == 0 {
		return
	}
	l := make(wamp.List, len(ss))
	for i, s := range ss {
		l[i] = s
	}
	d[key] = l
}

// HistoryQuery narrows an event history request (wamp.subscription.get_events);
// the zero value asks for everything the router keeps.
type HistoryQuery struct {
	// Limit is the largest number of events to return; 0 means no limit.
	Limit int
	// Reverse returns the newest events first.
	Reverse bool
	// FromTime and UntilTime (inclusive), AfterTime and BeforeTime
	// (exclusive) bound the publication times; zero values are not sent.
	FromTime, AfterTime, BeforeTime, UntilTime time.Time
	// Topic, for a pattern-based subscription, keeps the events of one topic.
	Topic string
	// FromPublication and UntilPublication (inclusive), AfterPublication and
	// BeforePublication (exclusive) bound the events by publication id:
	// AfterPublication with the last id of a page gives the next page.
	FromPublication, AfterPublication, BeforePublication, UntilPublication wamp.ID
}

func (q HistoryQuery) kwargs() wamp.Dict {
	d := wamp.Dict{}
	if q.Limit > 0 {
		d["limit"] = int64(q.Limit)
	}
	setTrue(d, "reverse", q.Reverse)
	for key, t := range map[string]time.Time{"from_time": q.FromTime, "after_time": q.AfterTime,
		"before_time": q.BeforeTime, "until_time": q.UntilTime} {
		if !t.IsZero() {
			d[key] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	if q.Topic != "" {
		d["topic"] = q.Topic
	}
	for key, id := range map[string]wamp.ID{"from_publication": q.FromPublication, "after_publication": q.AfterPublication,
		"before_publication": q.BeforePublication, "until_publication": q.UntilPublication} {
		if id != 0 {
			d[key] = uint64(id)
		}
	}
	return d
}

// HistoryEvent is one event of a subscription's history.
type HistoryEvent struct {
	Timestamp    time.Time
	Subscription wamp.ID
	Publication  wamp.ID
	Topic        string
	Details      wamp.Dict
	Args         wamp.List
	Kwargs       wamp.Dict
}

// EventHistory asks the router for the events it kept for subscription
// (event history: the meta procedure wamp.subscription.get_events), oldest
// first unless q.Reverse.
func (s *Session) EventHistory(ctx context.Context, subscription wamp.ID, q HistoryQuery) ([]HistoryEvent, error) {
	res, err := s.Call(ctx, "wamp.subscription.get_events", wamp.List{uint64(subscription)}, q.kwargs(), nil)
	if err != nil {
		return nil, err
	}
	if len(res.Args) == 0 {
		return nil, nil
	}
	list, ok := res.Args[0].([]any)
	if !ok {
		return nil, fmt.Errorf("event history of subscription %d: the result is %s, not a list of events", subscription, describeValue(res.Args[0]))
	}
	events := make([]HistoryEvent, 0, len(list))
	for i, e := range list {
		d, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("event history of subscription %d: event %d is %s, not a dict", subscription, i, describeValue(e))
		}
		var ev HistoryEvent
		ev.Subscription, _ = idFrom(d, "subscription")
		ev.Publication, _ = idFrom(d, "publication")
		ev.Details, _ = d["details"].(map[string]any)
		ev.Args, _ = d["args"].([]any)
		ev.Kwargs, _ = d["kwargs"].(map[string]any)
		ev.Topic = wamp.String(ev.Details, "topic")
		if ts := wamp.String(d, "timestamp"); ts != "" {
			t, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				return nil, fmt.Errorf("event history of subscription %d: event %d: timestamp %q: %w", subscription, i, ts, err)
			}
			ev.Timestamp = t
		}
		events = append(events, ev)
	}
	return events, nil
}
