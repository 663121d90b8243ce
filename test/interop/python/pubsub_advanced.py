#!/usr/bin/python3
"""Autobahn|Python scenarios for Junction's Advanced Profile PubSub features.

Run by test/interop/pubsub_advanced_test.go like client.py (with the
connection and checking helpers of interop_lib.py):

    pubsub_advanced.py suite --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x

Scenarios, each with fresh sessions, one RESULT line each:

- listing: publisher exclusion (exclude_me) and subscriber black- and
  whitelisting by session id, authid and authrole;
- patterns: prefix and wildcard subscriptions, EVENT.Details.topic, one event
  per matching subscription with one publication id;
- meta: wamp.subscription.* procedures and on_create/on_subscribe/
  on_unsubscribe/on_delete events;
- retained: PUBLISH retain and SUBSCRIBE get_retained are accepted; a
  retained event, when the router delivers one, is the latest and marked.

Autobahn|Python 22.7 has no disclose_me publish option and fails on the
router's [UNSUBSCRIBED, 0, ...] although it announces subscription_revocation;
those features are covered with Autobahn|JS and the Go raw-protocol tests.
"""

import asyncio

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import arg_parser, close, connect, describe, parse_args, run_scenarios

from autobahn.wamp.types import PublishOptions, SubscribeOptions  # noqa: E402


class Inbox:
    """Collects the events of one subscription; fence() waits for the marker
    event that ends a round (events of one publisher arrive in order)."""

    def __init__(self, name):
        self.name = name
        self.events = []
        self.fences = {}

    def handler(self, *args, **kwargs):
        details = kwargs.pop("details", None)
        if args and args[0] == "fence":
            f = self.fences.get(args[1])
            if f is not None and not f.done():
                f.set_result(None)
            return
        self.events.append((list(args), kwargs, details))

    def expect_fence(self, n):
        self.fences[n] = asyncio.get_running_loop().create_future()
        return self.fences[n]


async def publish_round(checks, pub, topic, inboxes, n, *args, options=None):
    """Publishes args with options, then an unrestricted acknowledged fence,
    and returns the names of the inboxes that got the first event."""
    waits = [ib.expect_fence(n) for ib in inboxes]
    for ib in inboxes:
        ib.events.clear()
    pub.publish(topic, *args, options=options)
    await pub.publish(topic, "fence", n, options=PublishOptions(acknowledge=True, exclude_me=False))
    await checks.within(10, "round %d: the fence did not reach every subscriber" % n, asyncio.gather(*waits))
    return sorted(ib.name for ib in inboxes if ib.events)


async def scenario_listing(opts, checks):
    topic = opts.prefix + ".listing"
    names = ["a", "b", "c"]
    sessions = {n: await connect(opts, "subscriber " + n) for n in names}
    pub = await connect(opts, "publisher")
    sessions["pub"] = pub
    inboxes = {}
    for n, s in sessions.items():
        inboxes[n] = Inbox(n)
        await s.subscribe(inboxes[n].handler, topic)
    sid = {n: s.session_id for n, s in sessions.items()}
    authid = {n: s.authid for n, s in sessions.items()}
    checks.true("authids %r are not distinct" % authid, len(set(authid.values())) == len(authid))
    rounds = [
        ("default: the publisher is excluded", PublishOptions(), ["a", "b", "c"]),
        ("exclude_me=False", PublishOptions(exclude_me=False), ["a", "b", "c", "pub"]),
        ("exclude", PublishOptions(exclude=[sid["a"]]), ["b", "c"]),
        ("eligible", PublishOptions(eligible=[sid["a"], sid["c"]]), ["a", "c"]),
        ("eligible and exclude", PublishOptions(eligible=[sid["a"], sid["b"]], exclude=[sid["b"]]), ["a"]),
        ("eligible without subscribers", PublishOptions(eligible=[]), []),
        ("exclude_authid", PublishOptions(exclude_authid=[authid["b"], authid["c"]]), ["a"]),
        ("eligible_authid", PublishOptions(eligible_authid=[authid["c"], authid["pub"]], exclude_me=False), ["c", "pub"]),
        ("eligible_authrole", PublishOptions(eligible_authrole=["anonymous"]), ["a", "b", "c"]),
        ("exclude_authrole", PublishOptions(exclude_authrole=["anonymous"]), []),
        ("eligible_authrole of another role", PublishOptions(eligible_authrole=["admin"]), []),
    ]
    for i, (what, options, want) in enumerate(rounds):
        got = await publish_round(checks, pub, topic, inboxes.values(), i, "payload", i, options=options)
        checks.equal("%s: receivers" % what, got, want)
        for n in got:
            ev = inboxes[n].events
            checks.equal("%s: %s's event" % (what, n), [e[0] for e in ev], [["payload", i]])
    # An acknowledged restricted publication is acknowledged as usual.
    p = await pub.publish(topic, "x", options=PublishOptions(acknowledge=True, exclude=[sid["a"]]))
    checks.true("acknowledged restricted publish: publication %r" % (p,), type(getattr(p, "id", None)) is int)
    await close(checks, *sessions.values())


async def scenario_patterns(opts, checks):
    base = opts.prefix + ".patterns"
    sub = await connect(opts, "subscriber")
    pub = await connect(opts, "publisher")
    inboxes = {n: Inbox(n) for n in ["exact", "prefix", "wildcard"]}
    s_exact = await sub.subscribe(inboxes["exact"].handler, base + ".room.1",
                                  options=SubscribeOptions(details=True))
    s_prefix = await sub.subscribe(inboxes["prefix"].handler, base + ".room",
                                   options=SubscribeOptions(match="prefix", details=True))
    s_wild = await sub.subscribe(inboxes["wildcard"].handler, base + "..1",
                                 options=SubscribeOptions(match="wildcard", details=True))
    ids = {s_exact.id, s_prefix.id, s_wild.id}
    checks.true("three subscriptions, three ids: %r" % ids, len(ids) == 3)
    other = await connect(opts, "second subscriber")
    again = await other.subscribe(lambda *a, **k: None, base + ".room", options=SubscribeOptions(match="prefix"))
    checks.equal("the same prefix pattern from another session: subscription id", again.id, s_prefix.id)

    cases = [
        (base + ".room.1", ["exact", "prefix", "wildcard"]),
        (base + ".room.2", ["prefix"]),
        (base + ".hall.1", ["wildcard"]),
        (base + ".room.1.x", ["prefix"]),
        (base + ".hall.2", []),
    ]
    for i, (topic, want) in enumerate(cases):
        # The fence goes to the exact topic, which every subscription gets.
        waits = [ib.expect_fence(i) for ib in inboxes.values()]
        for ib in inboxes.values():
            ib.events.clear()
        p = await pub.publish(topic, "on", topic, options=PublishOptions(acknowledge=True))
        await pub.publish(base + ".room.1", "fence", i, options=PublishOptions(acknowledge=True))
        await checks.within(10, "%s: the fence did not arrive" % topic, asyncio.gather(*waits))
        got = sorted(n for n, ib in inboxes.items() if ib.events)
        checks.equal("publication to %s: subscriptions" % topic, got, sorted(want))
        for n in got:
            evs = inboxes[n].events
            checks.equal("publication to %s on %s: events" % (topic, n), [e[0] for e in evs], [["on", topic]])
            d = evs[0][2]
            if d is None:
                checks.fail("publication to %s on %s: no EventDetails" % (topic, n))
                continue
            checks.equal("publication to %s on %s: publication id" % (topic, n), d.publication, p.id)
            want_topic = topic if n != "exact" else None
            # Autobahn fills details.topic from the subscription for exact ones.
            if n != "exact":
                checks.equal("publication to %s on %s: details.topic" % (topic, n), d.topic, want_topic)
    await close(checks, sub, pub, other)


async def scenario_meta(opts, checks):
    topic = opts.prefix + ".meta.t"
    watcher = await connect(opts, "watcher")
    s1 = await connect(opts, "subscriber 1")
    s2 = await connect(opts, "subscriber 2")
    loop = asyncio.get_running_loop()
    events = []
    arrived = asyncio.Event()

    def on_meta(*args, **kwargs):
        details = kwargs.pop("details")
        if not str(details.topic).startswith("wamp.subscription.on_"):
            return
        # Only the events about this scenario's topic (other tests run at once).
        about = args[1] if len(args) > 1 else None
        if isinstance(about, dict):
            if about.get("uri") != topic:
                return
            ours.add(about.get("id"))
        elif about not in ours:
            return
        events.append((details.topic, list(args)))
        arrived.set()

    # One prefix subscription gets the four meta events, with details.topic.
    ours = set()
    await watcher.subscribe(on_meta, "wamp.subscription", options=SubscribeOptions(match="prefix", details=True))

    async def wait_events(n, what):
        deadline = loop.time() + 10
        while len(events) < n and loop.time() < deadline:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), max(0.01, deadline - loop.time()))
            except asyncio.TimeoutError:
                break
        if len(events) < n:
            checks.fail("%s: %d meta events within 10s, want %d: %s" % (what, len(events), n, describe(events)))

    sub1 = await s1.subscribe(lambda *a, **kw: None, topic)
    await wait_events(2, "first subscribe")
    checks.equal("first subscribe: meta event topics", [e[0] for e in events[:2]],
                 ["wamp.subscription.on_create", "wamp.subscription.on_subscribe"])
    if len(events) >= 2:
        checks.equal("on_create session", events[0][1][0], s1.session_id)
        d = events[0][1][1] if len(events[0][1]) > 1 else {}
        checks.equal("on_create SubscriptionDetails id/uri/match",
                     [d.get("id"), d.get("uri"), d.get("match")], [sub1.id, topic, "exact"])
        checks.true("on_create created %r is not an ISO 8601 UTC time" % d.get("created"),
                    isinstance(d.get("created"), str) and d["created"].endswith("Z"))
        checks.equal("on_subscribe args", events[1][1], [s1.session_id, sub1.id])
    del events[:]
    sub2 = await s2.subscribe(lambda *a, **kw: None, topic)
    checks.equal("second subscriber: subscription id", sub2.id, sub1.id)
    await wait_events(1, "second subscribe")
    checks.equal("second subscribe: meta events", events, [("wamp.subscription.on_subscribe", [s2.session_id, sub1.id])])
    del events[:]

    checks.equal("lookup", await watcher.call("wamp.subscription.lookup", topic), sub1.id)
    checks.equal("lookup prefix", await watcher.call("wamp.subscription.lookup", topic, {"match": "prefix"}), None)
    checks.equal("match", await watcher.call("wamp.subscription.match", topic), [sub1.id])
    checks.equal("match of a topic without subscriptions",
                 await watcher.call("wamp.subscription.match", opts.prefix + ".meta.none"), None)
    got = await watcher.call("wamp.subscription.get", sub1.id)
    checks.equal("get", {k: got.get(k) for k in ("id", "uri", "match")}, {"id": sub1.id, "uri": topic, "match": "exact"})
    checks.equal("list_subscribers", sorted(await watcher.call("wamp.subscription.list_subscribers", sub1.id)),
                 sorted([s1.session_id, s2.session_id]))
    checks.equal("count_subscribers", await watcher.call("wamp.subscription.count_subscribers", sub1.id), 2)
    lists = await watcher.call("wamp.subscription.list")
    checks.true("list: %s lacks %d under exact" % (describe(lists), sub1.id),
                isinstance(lists, dict) and sub1.id in lists.get("exact", []) and
                isinstance(lists.get("prefix"), list) and isinstance(lists.get("wildcard"), list))
    await checks.app_error("get of an unknown subscription", "wamp.error.no_such_subscription",
                           watcher.call("wamp.subscription.get", 4503599627370496))
    await checks.app_error("count_subscribers without argument", "wamp.error.invalid_argument",
                           watcher.call("wamp.subscription.count_subscribers"))

    await sub1.unsubscribe()
    await wait_events(1, "unsubscribe")
    checks.equal("unsubscribe: meta events", events, [("wamp.subscription.on_unsubscribe", [s1.session_id, sub1.id])])
    del events[:]
    s2_id = s2.session_id
    await close(checks, s2)  # the last subscriber leaves
    await wait_events(2, "last subscriber leaves")
    checks.equal("last subscriber leaves: meta events", events,
                 [("wamp.subscription.on_unsubscribe", [s2_id, sub1.id]),
                  ("wamp.subscription.on_delete", [s2_id, sub1.id])])
    await checks.app_error("count_subscribers of a deleted subscription", "wamp.error.no_such_subscription",
                           watcher.call("wamp.subscription.count_subscribers", sub1.id))
    await close(checks, watcher, s1)


async def scenario_retained(opts, checks):
    topic = opts.prefix + ".retained"
    pub = await connect(opts, "publisher")
    for i in range(3):
        p = await pub.publish(topic, "value", i, options=PublishOptions(acknowledge=True, retain=True))
        checks.true("retained publish %d not acknowledged: %r" % (i, p), type(getattr(p, "id", None)) is int)
    await pub.publish(topic, "not retained", options=PublishOptions(acknowledge=True, retain=False))
    sub = await connect(opts, "subscriber")
    got = []
    live = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        details = kwargs.pop("details")
        got.append((list(args), details.retained))
        if args and args[0] == "live" and not live.done():
            live.set_result(None)

    await sub.subscribe(on_event, topic, options=SubscribeOptions(get_retained=True, details=True))
    await pub.publish(topic, "live", options=PublishOptions(acknowledge=True))
    try:
        await asyncio.wait_for(live, 10)
    except asyncio.TimeoutError:
        checks.fail("no live event within 10s after subscribing with get_retained")
    # The retention store is optional (best effort); what arrives must be right.
    want = [(["value", 2], True), (["live"], None)]
    if len(got) == 1:
        checks.equal("events without a retained one", got, want[1:])
    else:
        checks.equal("retained event, then the live one", got, want)
    await close(checks, pub, sub)


SCENARIOS = {
    "listing": scenario_listing,
    "patterns": scenario_patterns,
    "meta": scenario_meta,
    "retained": scenario_retained,
}


async def run_suite(opts):
    return await run_scenarios(opts, SCENARIOS)


def main():
    ap = arg_parser(__doc__, roles=["suite"], prefix="interop.python.adv", scenarios=SCENARIOS)
    interop_lib.run_main(run_suite, parse_args(ap, SCENARIOS), "suite")


if __name__ == "__main__":
    main()
