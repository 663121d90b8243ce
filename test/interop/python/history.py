#!/usr/bin/python3
"""Autobahn|Python client for the event retention and event history interop
test (test/interop/history_test.go).

    history.py publish --url URL --serializer S --topic T

publishes four events to T (the first and the third with retain=True, all
acknowledged), then subscribes a new session with get_retained=True and
checks that it receives the third, the last retained, with details.retained;
it
prints RESULT {"scenario": "publish", ..., "info": {"publications": [...]}}.

    history.py history --url URL --serializer S --topic T --publications A,B,C,D

runs after the router restarted: it subscribes to T (for a subscription id)
and checks wamp.subscription.get_events against the publications A, B, C, D
published before the restart, with and without options, and its errors
(with --no-history-topic, a topic no history rule covers).

Helpers (connect, close, Checks) are interop_lib.py's.
"""

import asyncio
import datetime

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import BLOB, Checks, arg_parser, close, connect, describe, parse_args, result_line

from autobahn.wamp.types import PublishOptions, SubscribeOptions  # noqa: E402

EVENT_TIMEOUT = 10.0


def payload(i):
    return [i, "event-%d" % i], {"seq": i, "blob": BLOB[:16]}


async def role_publish(opts):
    checks = Checks()
    pub = await connect(opts, "publisher")
    ids = []
    for i, retain in enumerate([True, False, True, False]):
        args, kwargs = payload(i)
        p = await pub.publish(opts.topic, *args,
                              options=PublishOptions(acknowledge=True, retain=retain), **kwargs)
        ids.append(p.id)
    # publication 3 was not retained: the retained event is publication 2.
    loop = asyncio.get_running_loop()
    got = loop.create_future()

    def on_event(*args, details=None, **kwargs):
        if not got.done():
            got.set_result((list(args), kwargs, details))

    sub = await connect(opts, "late subscriber")
    await sub.subscribe(on_event, opts.topic, options=SubscribeOptions(get_retained=True, details_arg="details"))
    try:
        args, kwargs, details = await asyncio.wait_for(got, EVENT_TIMEOUT)
        want_args, want_kwargs = payload(2)
        checks.equal("retained event args", args, want_args)
        checks.equal("retained event kwargs", kwargs, want_kwargs)
        checks.true("retained event: details.retained is %s, want True" % describe(details.retained),
                    details.retained is True)
        checks.true("retained event: publication %s, want %s" % (details.publication, ids[2]),
                    details.publication == ids[2])
    except asyncio.TimeoutError:
        checks.fail("no retained event within %.0fs of subscribing with get_retained=True" % EVENT_TIMEOUT)
    await close(checks, pub, sub)
    result_line("publish", checks, info={"publications": ids})
    return not checks.errors


def check_events(checks, what, events, sub_id, want_ids, all_ids):
    got_ids = [e.get("publication") for e in events] if isinstance(events, list) else events
    checks.equal("%s: publications" % what, got_ids, want_ids)
    if got_ids != want_ids:
        return
    for e in events:
        i = all_ids.index(e["publication"])
        args, kwargs = payload(i)
        checks.equal("%s: event %d args" % (what, i), e.get("args"), args)
        checks.equal("%s: event %d kwargs" % (what, i), e.get("kwargs"), kwargs)
        checks.equal("%s: event %d subscription" % (what, i), e.get("subscription"), sub_id)
        checks.true("%s: event %d details %s, want a dict" % (what, i, describe(e.get("details"))),
                    isinstance(e.get("details"), dict))
        ts = e.get("timestamp")
        try:
            datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except Exception:  # noqa: BLE001
            checks.fail("%s: event %d timestamp %s is not RFC 3339" % (what, i, describe(ts)))


async def role_history(opts):
    checks = Checks()
    ids = [int(x) for x in opts.publications.split(",")]
    s = await connect(opts, "history reader")
    sub = await s.subscribe(lambda *a, **kw: None, opts.topic)
    get = "wamp.subscription.get_events"

    events = await s.call(get, sub.id)
    check_events(checks, "all", events, sub.id, ids, ids)
    events = await s.call(get, sub.id, reverse=True, limit=2)
    check_events(checks, "reverse limit 2", events, sub.id, [ids[3], ids[2]], ids)
    events = await s.call(get, sub.id, after_publication=ids[1])
    check_events(checks, "after_publication", events, sub.id, ids[2:], ids)
    events = await s.call(get, sub.id, before_publication=ids[1], limit=5)
    check_events(checks, "before_publication", events, sub.id, ids[:1], ids)
    if isinstance(events, list) and events:
        events = await s.call(get, sub.id, from_time=events[0]["timestamp"])
        check_events(checks, "from_time", events, sub.id, ids, ids)

    await checks.app_error("get_events without a subscription id", "wamp.error.invalid_argument", s.call(get))
    await checks.app_error("get_events with limit 0", "wamp.error.invalid_argument", s.call(get, sub.id, limit=0))
    await checks.app_error("get_events with a bad time", "wamp.error.invalid_argument",
                           s.call(get, sub.id, from_time="yesterday"))
    other = await s.subscribe(lambda *a, **kw: None, opts.no_history_topic)
    await checks.app_error("get_events of a topic without history", "wamp.error.history_unavailable",
                           s.call(get, other.id))
    await close(checks, s)
    result_line("history", checks)
    return not checks.errors


ROLES = {"publish": role_publish, "history": role_history}


def main():
    ap = arg_parser(__doc__, roles=ROLES)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--publications", default="")
    ap.add_argument("--no-history-topic", default="interop.unrecorded", help="a topic no history rule covers")
    opts = parse_args(ap)
    interop_lib.run_main(ROLES[opts.role], opts, opts.role)


if __name__ == "__main__":
    main()
