package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Event history meta procedure: wamp.subscription.get_events
// (pubsub_event_history.md).

// historyQueryTimeout bounds how long get_events waits for the history
// writes queued before it and reads the file.
const historyQueryTimeout = 30 * time.Second

// timestampLayout is the specification's "yyyy-MM-ddThh:mm:ss.SSSZ".
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

func (rl *realm) addHistoryMeta(procs map[wamp.URI]metaProcedure) {
	procs["wamp.subscription.get_events"] = rl.getEvents
}

// getEvents answers wamp.subscription.get_events(subscription|id, **options)
// with a list of events, oldest first unless reverse is set:
// {timestamp, subscription, publication, details, args?, kwargs?}.
//
// The arguments are checked at once; the query waits for the history
// writer (the queued publications must be on disk first, so that a caller
// sees its own) and reads the file, so it runs in the background and
// answers from there: the goroutine that routed the CALL, an event loop
// serving many connections, goes on at once.
func (rl *realm) getEvents(c *metaCall) (wamp.Payload, error) {
	id, err := c.idArg(0, "a subscription id")
	if err != nil {
		return wamp.Payload{}, err
	}
	q, err := historyQuery(c.kwargs, rl.strict)
	if err != nil {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: %v", c.call.Procedure, err)
	}
	match, pattern, ok := rl.broker.subscriptionByID(id)
	if !ok {
		return wamp.Payload{}, callErrorf(wamp.ErrNoSuchSubscription, "%s: no subscription %d in realm %s", c.call.Procedure, id, rl.name)
	}
	store := rl.hist.store
	if store == nil {
		return wamp.Payload{}, callErrorf(wamp.ErrHistoryUnavailable, "%s: realm %s keeps no event history", c.call.Procedure, rl.name)
	}
	q.Match, q.Pattern = match, pattern
	q.AuthID, q.AuthRole = c.caller.authid, c.caller.authrole
	s, req, proc := c.caller, c.call.Request, c.call.Procedure
	query := func() (wamp.Payload, error) {
		err := rl.router.bg.start(historyQueryTimeout, func(ctx context.Context) {
			res, err := rl.readEvents(ctx, s, proc, id, q)
			s.answerMeta(req, res, err)
		})
		switch {
		case errors.Is(err, errBusy):
			return wamp.Payload{}, rl.router.busyError(proc)
		case err != nil:
			return wamp.Payload{}, callErrorf(wamp.ErrHistoryUnavailable, "%s: %v", proc, err)
		}
		return wamp.Payload{}, errAnswerLater
	}
	// The events of a subscription are for those who may subscribe to
	// it (pubsub_event_history.md, Security Aspects): permission to call
	// get_events alone would read any topic's history, the ids being
	// easy to guess. With the topic option only that topic's events are
	// read, so the topic is what must be allowed.
	a := s.auth
	if a == nil || !a.checked {
		return query()
	}
	uri, m := pattern, match
	if q.Topic != "" {
		uri, m = q.Topic, wamp.MatchExact
	}
	denied := func(d auth.Decision) error {
		return callErrorf(wamp.ErrNotAuthorized, "%s: the session may not subscribe to %q (%s match), nor read its events (%s)", proc, uri, m, d.Reason)
	}
	d, pending := a.authorizer().Authorize(auth.ActionSubscribe, uri, m, wamp.Dict{"match": m.String()}, func(d auth.Decision) {
		res, err := wamp.Payload{}, denied(d)
		if d.Allowed {
			res, err = query()
		}
		if err != errAnswerLater {
			s.answerMeta(req, res, err)
		}
	})
	switch {
	case pending:
		return wamp.Payload{}, errAnswerLater
	case !d.Allowed:
		return wamp.Payload{}, denied(d)
	}
	return query()
}

// readEvents runs get_events' query q for subscription id, on a background
// goroutine.
func (rl *realm) readEvents(ctx context.Context, s *Session, proc wamp.URI, id wamp.ID, q *history.Query) (wamp.Payload, error) {
	evs, err := rl.hist.store.Query(ctx, rl.name, q)
	var unknown *history.UnknownPublicationError
	switch {
	case errors.Is(err, history.ErrNoHistory):
		return wamp.Payload{}, callErrorf(wamp.ErrHistoryUnavailable, "%s: subscription %d (%s %q) has no event history: no history rule of realm %s covers its topics",
			proc, id, q.Match, q.Pattern, rl.name)
	case errors.As(err, &unknown):
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: %v", proc, err)
	case err != nil:
		s.logger().Error("event history query failed", "subscription", uint64(id), "err", err)
		return wamp.Payload{}, callErrorf(wamp.ErrHistoryUnavailable, "%s: the event history could not be read: %v", proc, err)
	}
	list := make(wamp.List, 0, len(evs))
	for i := range evs {
		e, err := historyEvent(&evs[i], id, q.Match)
		if err != nil {
			return wamp.Payload{}, callErrorf(wamp.ErrHistoryUnavailable, "%s: %v", proc, err)
		}
		list = append(list, e)
	}
	return result(list), nil
}

// historyEvent is one element of get_events' result.
func historyEvent(ev *history.Event, sub wamp.ID, match wamp.Match) (wamp.Dict, error) {
	details := ev.Details
	if details == nil {
		details = wamp.Dict{}
	}
	if match != wamp.MatchExact {
		// As in the EVENT of a pattern-based subscription.
		if _, ok := details["topic"]; !ok {
			details["topic"] = string(ev.Topic)
		}
	}
	d := wamp.Dict{
		"timestamp":    ev.Time.UTC().Format(timestampLayout),
		"subscription": uint64(sub),
		"publication":  uint64(ev.Publication),
		"details":      details,
	}
	args, kwargs, err := codec.DecodePayload(&ev.Payload)
	if err != nil {
		return nil, fmt.Errorf("stored publication %d does not decode: %w", ev.Publication, err)
	}
	if args != nil {
		d["args"] = args
	}
	if kwargs != nil {
		d["kwargs"] = kwargs
	}
	return d, nil
}

var timeOptions = [...]string{"from_time", "after_time", "before_time", "until_time"}
var publicationOptions = [...]string{"from_publication", "after_publication", "before_publication", "until_publication"}

// historyQuery reads get_events' keyword arguments.
func historyQuery(kw wamp.Dict, strict bool) (*history.Query, error) {
	q := &history.Query{}
	for k := range kw {
		if k != "reverse" && k != "limit" && k != "topic" && !slices.Contains(timeOptions[:], k) && !slices.Contains(publicationOptions[:], k) {
			return nil, fmt.Errorf("unknown option %q (the options are reverse, limit, topic, %s and %s)",
				k, strings.Join(timeOptions[:], ", "), strings.Join(publicationOptions[:], ", "))
		}
	}
	var err error
	if q.Reverse, err = wamp.OptBool(kw, "reverse", false); err != nil {
		return nil, err
	}
	n, present, err := wamp.OptUint(kw, "limit")
	if err != nil {
		return nil, err
	}
	if present {
		if n == 0 || n > 1<<31 {
			return nil, fmt.Errorf("option \"limit\" must be a positive integer, not %d", n)
		}
		q.Limit = int(n)
	}
	topic, err := wamp.OptString(kw, "topic", "")
	if err != nil {
		return nil, err
	}
	if _, present := kw["topic"]; present && !wamp.ValidURI(wamp.URI(topic), strict, false) {
		return nil, fmt.Errorf("option \"topic\": %q is not a valid URI", topic)
	}
	q.Topic = wamp.URI(topic)
	times := [...]*time.Time{&q.FromTime, &q.AfterTime, &q.BeforeTime, &q.UntilTime}
	for i, key := range timeOptions {
		s, err := wamp.OptString(kw, key, "")
		if err != nil {
			return nil, err
		}
		if _, present := kw[key]; !present {
			continue
		}
		if *times[i], err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, fmt.Errorf("option %q: %q is not an RFC 3339 timestamp (like 2025-03-01T12:00:00.000Z)", key, s)
		}
	}
	pubs := [...]*wamp.ID{&q.FromPublication, &q.AfterPublication, &q.BeforePublication, &q.UntilPublication}
	for i, key := range publicationOptions {
		n, present, err := wamp.OptUint(kw, key)
		if err != nil {
			return nil, err
		}
		if !present {
			continue
		}
		if n == 0 || n > uint64(wamp.MaxID) {
			return nil, fmt.Errorf("option %q must be a publication id (an integer in [1, 2^53]), not %d", key, n)
		}
		*pubs[i] = wamp.ID(n)
	}
	return q, nil
}
