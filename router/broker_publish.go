package router

import (
	"errors"
	"fmt"

	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// publishOptions are PUBLISH.Options as the broker reads them. The zero
// value (plus excludeMe) is a plain publication, which the fan-out handles
// with one comparison per subscriber. Keys the broker does not know are
// ignored, as the basic profile says (messages.md).
type publishOptions struct {
	ack        bool
	excludeMe  bool // publisher_exclusion; true unless exclude_me=false
	discloseMe bool // publisher_identification
	retain     bool // event_retention

	// Subscriber black- and whitelisting: a set is present (even empty)
	// when the option was given.
	exclude, eligible                 set[wamp.ID]
	excludeAuthid, eligibleAuthid     set[string]
	excludeAuthrole, eligibleAuthrole set[string]
	restricted                        bool // one of the six lists is present

	rkey string // sharded subscription: the resource key
	// realm is the realm of a publication with an rkey in a cluster, in
	// which the other nodes' node keys are ranked too (Backbone.Shard).
	realm wamp.URI
	ppt   wamp.Dict // payload passthru mode: the ppt_* options, nil without

	// filtered is set when admits must be asked about each subscriber.
	filtered bool
}

// read reads m's options into o. On a bad option it answers as refuse does
// and reports false; a passthru publication from a publisher that did not
// announce payload_passthru_mode ends the session (payload_passthru_mode.md).
func (o *publishOptions) read(s *Session, m *wamp.Publish) bool {
	opts := m.Options
	var err error
	// acknowledge first: it decides whether the other errors get an answer.
	if o.ack, err = wamp.OptBool(opts, "acknowledge", false); err != nil {
		s.logger().Debug("unacknowledged PUBLISH refused", "topic", m.Topic, "err", err)
		return false
	}
	if err = o.readOptions(opts); err != nil {
		o.refuse(s, m, wamp.ErrInvalidArgument, "PUBLISH to %q: %v", m.Topic, err)
		return false
	}
	if o.ppt != nil && !s.features.has(publisher, featPayloadPassthruMode) {
		s.violation(fmt.Sprintf("PUBLISH to %q in payload passthru mode (ppt_scheme %q) from a publisher that did not announce payload_passthru_mode",
			m.Topic, o.ppt["ppt_scheme"]))
		return false
	}
	o.filtered = o.restricted || o.ppt != nil
	return true
}

// readOptions reads every option but acknowledge: read, and
// add_testament for the PUBLISH a testament will be.
func (o *publishOptions) readOptions(opts wamp.Dict) error {
	if err := o.readLists(opts); err != nil {
		return err
	}
	return o.readFlags(opts)
}

func (o *publishOptions) readFlags(opts wamp.Dict) error {
	var err error
	if o.excludeMe, err = wamp.OptBool(opts, "exclude_me", true); err != nil {
		return err
	}
	if o.discloseMe, err = wamp.OptBool(opts, "disclose_me", false); err != nil {
		return err
	}
	if o.retain, err = wamp.OptBool(opts, "retain", false); err != nil {
		return err
	}
	if o.rkey, err = wamp.OptString(opts, "rkey", ""); err != nil {
		return err
	}
	if _, present := opts["rkey"]; present && o.rkey == "" {
		return &wamp.OptionError{Key: "rkey", Reason: "must not be empty: it is the resource key that picks the shard"}
	}
	o.ppt, err = passthru(opts)
	return err
}

func (o *publishOptions) readLists(opts wamp.Dict) error {
	ids := func(dst *set[wamp.ID], key string) error {
		l, err := wamp.OptIDs(opts, key)
		if err == nil && l != nil {
			*dst = newSet(l)
			o.restricted = true
		}
		return err
	}
	strs := func(dst *set[string], key string) error {
		l, err := wamp.OptStrings(opts, key)
		if err == nil && l != nil {
			*dst = newSet(l)
			o.restricted = true
		}
		return err
	}
	for _, err := range []error{
		ids(&o.exclude, "exclude"),
		ids(&o.eligible, "eligible"),
		strs(&o.excludeAuthid, "exclude_authid"),
		strs(&o.eligibleAuthid, "eligible_authid"),
		strs(&o.excludeAuthrole, "exclude_authrole"),
		strs(&o.eligibleAuthrole, "eligible_authrole"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// refuse answers a PUBLISH that is not carried out: an ERROR when it asked
// for acknowledgement, else only a debug log, since an unacknowledged
// publication gets no answer (publish_subscribe.md).
func (o *publishOptions) refuse(s *Session, m *wamp.Publish, uri wamp.URI, format string, args ...any) {
	if o.ack {
		s.errorReply(wamp.TypePublish, m.Request, uri, format, args...)
		return
	}
	s.logger().Debug("unacknowledged PUBLISH refused", "topic", m.Topic, "error", uri, "reason", fmt.Sprintf(format, args...))
}

// refuseUnkept refuses an acknowledged publication that the event history
// must keep but cannot take (appendAcknowledged's err): it is not
// delivered.
func (o *publishOptions) refuseUnkept(s *Session, m *wamp.Publish, err error) {
	switch {
	case errors.Is(err, history.ErrQueueFull):
		s.router.stats.LimitExceeded.Add(1)
		o.refuse(s, m, wamp.ErrLimitExceeded,
			"PUBLISH to %q: the event history's write queue is full, so the publication cannot be kept; it was not published, try again later", m.Topic)
	case errors.Is(err, history.ErrClosed):
		o.refuse(s, m, wamp.ErrHistoryUnavailable, "PUBLISH to %q: the event history is closed (the router is shutting down); the publication was not published", m.Topic)
	default:
		o.refuse(s, m, wamp.ErrHistoryUnavailable, "PUBLISH to %q cannot be kept in the event history, so it was not published: %v", m.Topic, err)
	}
}

// eventDetails builds EVENT.Details for s's publication: the publisher's
// identity when it is disclosed, its trust level, the passthru options. It
// is nil for a plain publication, so that the fan-out allocates nothing.
// ok is false when the publication is refused.
func (o *publishOptions) eventDetails(s *Session, m *wamp.Publish) (d wamp.Dict, ok bool) {
	disclose := o.discloseMe
	_, policy := s.disclosure() // the publisher's role, else the realm
	switch policy {
	case DiscloseAlways:
		disclose = true
	case DiscloseNever:
		if o.discloseMe {
			o.refuse(s, m, wamp.ErrDiscloseMeDisallowed, "this realm does not disclose publishers to subscribers")
			return nil, false
		}
	}
	if disclose {
		d = wamp.Dict{"publisher": uint64(s.id), "publisher_authid": s.authid, "publisher_authrole": s.authrole}
	}
	if len(s.realm.cfg.TrustLevels) > 0 {
		if level, ok := s.realm.cfg.TrustLevels[s.authrole]; ok {
			if d == nil {
				d = make(wamp.Dict, 1)
			}
			d["trustlevel"] = level
		}
	}
	return withPassthru(d, o.ppt), true
}

// admits reports whether target may receive the event: the black- and
// whitelists (pubsub_subscriber_blackwhite_listing.md: all six conditions
// must hold), and passthru payloads only to subscribers that announced
// payload_passthru_mode. The specification leaves the latter to the
// subscriber; Junction skips such a subscriber instead, because it could
// only mistake the opaque payload for application arguments.
func (o *publishOptions) admits(target *Session) bool {
	if o.ppt != nil && !target.features.has(subscriber, featPayloadPassthruMode) {
		return false
	}
	if !o.restricted {
		return true
	}
	return o.eligible.whitelisted(target.id) && o.eligibleAuthid.whitelisted(target.authid) && o.eligibleAuthrole.whitelisted(target.authrole) &&
		o.exclude.notBlacklisted(target.id) && o.excludeAuthid.notBlacklisted(target.authid) && o.excludeAuthrole.notBlacklisted(target.authrole)
}

// set is a black- or whitelist: a slice searched in order while it is short,
// a map once it is long enough that the map is faster.
type set[T comparable] struct {
	present bool
	list    []T
	m       map[T]struct{}
}

const setMapMin = 16

func newSet[T comparable](l []T) set[T] {
	x := set[T]{present: true, list: l}
	if len(l) >= setMapMin {
		x.m = make(map[T]struct{}, len(l))
		for _, v := range l {
			x.m[v] = struct{}{}
		}
	}
	return x
}

func (x *set[T]) has(v T) bool {
	if x.m != nil {
		_, ok := x.m[v]
		return ok
	}
	for _, e := range x.list {
		if e == v {
			return true
		}
	}
	return false
}

// whitelisted is the test of an eligible list: absent, or holding v.
func (x *set[T]) whitelisted(v T) bool { return !x.present || x.has(v) }

// notBlacklisted is the test of an exclude list: absent, or without v.
func (x *set[T]) notBlacklisted(v T) bool { return !x.present || !x.has(v) }
