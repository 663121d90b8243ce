#!/usr/bin/python3
"""Autobahn|Python client that drives a Junction router for the interop tests.

Run by test/interop/interop_test.go with /usr/bin/python3 (Debian's
python3-autobahn, python3-msgpack and python3-cbor2). One process checks one
transport x serializer combination:

    client.py suite --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x

runs the scenarios pubsub, rpc, errors, large and concurrent (and keepalive
if asked for), each with fresh sessions and its own time limit, and prints
one line per scenario:

    RESULT {"scenario": "rpc", "ok": false, "errors": ["..."]}

The roles sub-bytes, pub-bytes, callee-bytes and caller-bytes exchange one
binary payload with another client (possibly another library or serializer);
sub-bytes and callee-bytes print READY once they are subscribed or registered.
The role fanout sends such a payload from each serializer to subscribers of
every serializer on the transports given by --fanout-urls, all at once.
The role sub-survives subscribes to --topic, exactly and by prefix, prints
READY, and expects only the event ["fence"] on both: another client
publishes payloads that are not UTF-8 before it, which must not reach
this session nor cost it its connection.

The URL scheme picks the transport: ws:// is WebSocket, rs:// is RawSocket.
The exit status is 0 only if every scenario passed.
"""

import argparse
import asyncio
import contextlib
import hashlib
import random
from urllib.parse import urlparse

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import (BLOB, CLOSE_TIMEOUT, TYPED, Checks, arg_parser, bytes_kwargs, close, connect, describe,
                         diff, parse_args, result_line, run_scenarios)

from autobahn.wamp import message as wamp_message  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallResult, PublishOptions, SubscribeOptions  # noqa: E402


def pattern(n, seed):
    """n deterministic pseudo-random bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:n])


@contextlib.contextmanager
def router_judges_uris():
    """Autobahn|Python refuses invalid URIs before sending them; the errors
    scenario wants the router to answer them, so the check is switched off
    while such a request is made (it is sent before the call returns)."""
    check = wamp_message.check_or_raise_uri
    wamp_message.check_or_raise_uri = lambda value, *args, **kwargs: value
    try:
        yield
    finally:
        wamp_message.check_or_raise_uri = check


# --- scenarios -------------------------------------------------------------

async def scenario_pubsub(opts, checks):
    topic = opts.prefix + ".pubsub.events"
    n = 50
    sub = await connect(opts, "subscriber")
    pub = await connect(opts, "publisher")
    loop = asyncio.get_running_loop()
    all_received = loop.create_future()
    marker = loop.create_future()
    received = []
    own = []

    def expected(i):
        return ([i, "event-%d" % i],
                {"seq": i, "even": i % 2 == 0, "text": TYPED["str"], "nested": {"list": [i, None, 1.5]}})

    def on_event(*args, **kwargs):
        received.append((list(args), kwargs))
        if len(received) == n and not all_received.done():
            all_received.set_result(None)

    def on_own(*args, **kwargs):
        if args and args[0] == "marker":
            if not marker.done():
                marker.set_result(None)
            return
        own.append((list(args), kwargs))

    subscription = await sub.subscribe(on_event, topic)
    await pub.subscribe(on_own, topic)

    pub_ids = []
    for i in range(n):
        args, kwargs = expected(i)
        if i in (0, n - 1):
            p = await pub.publish(topic, *args, options=PublishOptions(acknowledge=True), **kwargs)
            pub_ids.append(getattr(p, "id", None))
        else:
            res = pub.publish(topic, *args, **kwargs)
            checks.true("unacknowledged publish returned %r, want None" % (res,), res is None)
    for pid in pub_ids:
        checks.true("acknowledged publish: publication id %r is not an integer in [1, 2^53]" % (pid,),
                    type(pid) is int and 1 <= pid <= 2 ** 53)
    checks.true("acknowledged publishes returned the same publication id %r" % (pub_ids,),
                len(set(pub_ids)) == len(pub_ids))

    try:
        await asyncio.wait_for(all_received, 10)
    except asyncio.TimeoutError:
        checks.fail("subscriber received %d of %d events within 10s" % (len(received), n))
    for i, got in enumerate(received[:n]):
        args, kwargs = expected(i)
        checks.equal("event %d args" % i, got[0], args)
        checks.equal("event %d kwargs" % i, got[1], kwargs)

    # The subscriber publishes a marker; the publisher's own subscription must
    # see it (so that subscription works) and nothing of its own before it.
    await sub.publish(topic, "marker", options=PublishOptions(acknowledge=True))
    try:
        await asyncio.wait_for(marker, 5)
    except asyncio.TimeoutError:
        checks.fail("publisher's own subscription did not receive another session's event within 5s")
    await asyncio.sleep(0.1)
    checks.true("publisher received %d of its own events (want 0, publisher exclusion is the default): %s"
                % (len(own), describe(own[:3])), not own)

    # After UNSUBSCRIBE no more events; WAMP orders events of one publisher
    # across topics, so an event on a fence topic shows that none is coming.
    fence = loop.create_future()
    await sub.subscribe(lambda *a, **kw: fence.done() or fence.set_result(None), topic + "_fence")
    await subscription.unsubscribe()
    count = len(received)
    await pub.publish(topic, "after-unsubscribe", options=PublishOptions(acknowledge=True))
    await pub.publish(topic + "_fence", options=PublishOptions(acknowledge=True))
    try:
        await asyncio.wait_for(fence, 5)
    except asyncio.TimeoutError:
        checks.fail("no event on the fence topic within 5s")
    checks.true("subscriber received %s after unsubscribing" % describe(received[count:]), len(received) == count)
    await close(checks, sub, pub)


async def scenario_rpc(opts, checks):
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".rpc."

    def add(a, b):
        return a + b

    def echo(*args, **kwargs):
        return CallResult(*args, **kwargs)

    def fail():
        raise ApplicationError("com.example.interop.custom_error", "first", 2, {"three": 3},
                               detail="something", code=42, nested={"x": [1, 2]})

    add_registration = await callee.register(add, p + "add")
    await callee.register(echo, p + "echo")
    await callee.register(fail, p + "fail")

    checks.equal("call add(2, 3)", await caller.call(p + "add", 2, 3), 5)

    args = ["a", 1, None, [1, 2], {"k": "v"}, 2.25, True]
    if opts.serializer != "json":
        args.append(2.0)  # typed serializers: a float that happens to be whole stays a float
    kwargs = {"unicode": TYPED["str"], "n": 7, "empty_list": [], "empty_map": {}}
    res = await caller.call(p + "echo", *args, **kwargs)
    if isinstance(res, CallResult):
        checks.equal("call echo: args", list(res.results), args)
        checks.equal("call echo: kwargs", res.kwresults, kwargs)
    else:
        checks.fail("call echo: got %s, want CallResult with args and kwargs" % describe(res))

    res = await caller.call(p + "echo", only="kw")
    if isinstance(res, CallResult):
        checks.equal("call echo(only kwargs): args", list(res.results), [])
        checks.equal("call echo(only kwargs): kwargs", res.kwresults, {"only": "kw"})
    else:
        checks.fail("call echo(only kwargs): got %s, want CallResult" % describe(res))

    checks.equal("call echo() without arguments", await caller.call(p + "echo"), None)

    e = await checks.app_error("call fail", "com.example.interop.custom_error", caller.call(p + "fail"))
    if e is not None:
        checks.equal("application error args", list(e.args), ["first", 2, {"three": 3}])
        checks.equal("application error kwargs", e.kwargs, {"detail": "something", "code": 42, "nested": {"x": [1, 2]}})

    # the callee still works after raising
    checks.equal("call add after an error", await caller.call(p + "add", 40, 2), 42)

    await add_registration.unregister()
    await checks.app_error("call after UNREGISTER", "wamp.error.no_such_procedure", caller.call(p + "add", 1, 1))
    await close(checks, callee, caller)


async def scenario_errors(opts, checks):
    a = await connect(opts, "session-a")
    b = await connect(opts, "session-b")
    p = opts.prefix + ".errors."

    await checks.app_error("call of an unregistered procedure", "wamp.error.no_such_procedure",
                           b.call(p + "nonexistent", 1))

    await a.register(lambda: "first", p + "dup")
    await checks.app_error("register of a procedure another session registered",
                           "wamp.error.procedure_already_exists", b.register(lambda: "second", p + "dup"))
    await checks.app_error("second register of a procedure by the same session",
                           "wamp.error.procedure_already_exists", a.register(lambda: "again", p + "dup"))
    checks.equal("call of the first registration after the duplicates", await b.call(p + "dup"), "first")

    with router_judges_uris():
        requests = [
            ("call of 'bad uri with spaces'", b.call("bad uri with spaces")),
            ("call of %r" % (p + ".empty"), b.call(p + ".empty")),
            ("register of %r" % (p + ".empty"), a.register(lambda: None, p + ".empty")),
            ("subscribe to 'bad topic with spaces'", a.subscribe(lambda: None, "bad topic with spaces")),
            ("acknowledged publish to %r" % (p + ".empty"),
             a.publish(p + ".empty", options=PublishOptions(acknowledge=True))),
        ]
    for what, fut in requests:
        await checks.app_error(what, "wamp.error.invalid_uri", fut)

    # both sessions survive the errors
    checks.equal("call after the errors", await b.call(p + "dup"), "first")

    # A session that leaves takes its registrations with it.
    await a.register(lambda: "a", p + "gone")
    await close(checks, a)
    await checks.app_error("call of a procedure whose callee left", "wamp.error.no_such_procedure",
                           b.call(p + "gone"))
    await b.register(lambda: "b", p + "gone")
    checks.equal("call of the procedure registered again by another session", await b.call(p + "gone"), "b")
    await close(checks, b)


async def scenario_large(opts, checks):
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    proc = opts.prefix + ".large.echo"
    await callee.register(lambda *args, **kwargs: CallResult(*args, **kwargs), proc)

    size = 1 << 20
    text = pattern(size * 3 // 4, 1).hex()[:size]
    res = await caller.call(proc, text, sha256=hashlib.sha256(text.encode()).hexdigest())
    got = res.results[0] if isinstance(res, CallResult) and res.results else res
    if not isinstance(got, str) or got != text:
        checks.fail("1 MiB string echo: got %s of length %s, want str of length %d"
                    % (type(got).__name__, len(got) if hasattr(got, "__len__") else "?", size))

    blob = pattern(size, 2)
    res = await caller.call(proc, blob)
    if not isinstance(res, bytes) or res != blob:
        checks.fail("1 MiB bytes echo: got %s of length %s (sha256 %s), want bytes of length %d (sha256 %s)"
                    % (type(res).__name__, len(res) if hasattr(res, "__len__") else "?",
                       hashlib.sha256(res).hexdigest() if isinstance(res, bytes) else "-",
                       size, hashlib.sha256(blob).hexdigest()))
    await close(checks, callee, caller)


async def scenario_concurrent(opts, checks):
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    proc = opts.prefix + ".concurrent.triple"
    n = 500
    in_flight = 0
    max_in_flight = 0
    rng = random.Random(7)

    async def triple(i, tag):
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        # random delays make the callee answer out of order
        await asyncio.sleep(rng.random() * 0.02)
        in_flight -= 1
        return CallResult(i, i * 3, tag=tag)

    await callee.register(triple, proc)
    results = await asyncio.gather(*(caller.call(proc, i, "t%d" % i) for i in range(n)), return_exceptions=True)
    bad = 0
    for i, res in enumerate(results):
        if isinstance(res, BaseException):
            bad += 1
            if bad <= 5:
                checks.fail("call %d failed: %s: %s" % (i, type(res).__name__, res))
            continue
        d = diff([list(res.results), res.kwresults] if isinstance(res, CallResult) else res,
                 [[i, i * 3], {"tag": "t%d" % i}])
        if d:
            bad += 1
            if bad <= 5:
                checks.fail("call %d: %s" % (i, "; ".join(d)))
    checks.true("%d of %d concurrent calls failed or got a wrong result" % (bad, n), bad == 0)
    checks.true("callee saw at most %d invocations at once; want the %d calls to overlap" % (max_in_flight, n),
                max_in_flight > 1)
    await close(checks, callee, caller)
    return {"max_in_flight": max_in_flight}


async def scenario_keepalive(opts, checks):
    """Sessions idle for --idle seconds (the test's router pings idle
    connections every 1.5s), then must still work."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    proc = opts.prefix + ".keepalive.ping"
    await callee.register(lambda: "pong", proc)

    # Count the router's WebSocket pings, so that surviving them means something.
    pings = {"n": 0}
    for s in (callee, caller):
        proto = s._transport
        if urlparse(opts.url).scheme == "ws" and hasattr(proto, "onPing"):
            def on_ping(payload, answer=proto.onPing):
                pings["n"] += 1
                return answer(payload)  # autobahn's onPing sends the pong
            proto.onPing = on_ping

    await asyncio.sleep(opts.idle)
    if urlparse(opts.url).scheme == "ws":
        checks.true("no WebSocket ping from the router while idling %.1fs (the test configures ping_interval 1.5s)"
                    % opts.idle, pings["n"] > 0)
    for s in (callee, caller):
        checks.true("%s: connection lost while idle for %.1fs (keep-alive pings)" % (s.interop_label, opts.idle),
                    not s.interop_closed.done())
    try:
        checks.equal("call after idling", await asyncio.wait_for(caller.call(proc), 3), "pong")
    except Exception as e:  # noqa: BLE001
        checks.fail("call after idling %.1fs: %s: %s" % (opts.idle, type(e).__name__, e))
    # a connection found dead need not be waited for
    await close(checks, callee, caller, timeout=1 if checks.errors else CLOSE_TIMEOUT)
    return {"websocket_pings": pings["n"]} if urlparse(opts.url).scheme == "ws" else None


SCENARIOS = {
    "pubsub": scenario_pubsub,
    "rpc": scenario_rpc,
    "errors": scenario_errors,
    "large": scenario_large,
    "concurrent": scenario_concurrent,
    "keepalive": scenario_keepalive,
}

# run when --scenarios is not given; keepalive needs a router that pings
DEFAULT_SCENARIOS = ["pubsub", "rpc", "errors", "large", "concurrent"]


async def run_suite(opts):
    return await run_scenarios(opts, SCENARIOS, DEFAULT_SCENARIOS)



# --- cross-client binary roles ---------------------------------------------

async def finish_role(role, checks, *sessions):
    """Closes sessions, prints the role's RESULT line and returns whether it passed."""
    await close(checks, *sessions)
    result_line(role, checks)
    return not checks.errors


def check_bytes_payload(checks, what, args, kwargs):
    checks.equal(what + " args", list(args), [BLOB])
    checks.equal(what + " kwargs", kwargs, bytes_kwargs())


async def role_sub_bytes(opts):
    checks = Checks()
    s = await connect(opts, "subscriber")
    got = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        if not got.done():
            got.set_result((args, kwargs))

    await s.subscribe(on_event, opts.topic)
    print("READY", flush=True)
    try:
        args, kwargs = await asyncio.wait_for(got, 20)
        check_bytes_payload(checks, "event", args, kwargs)
    except asyncio.TimeoutError:
        checks.fail("no event on %s within 20s" % opts.topic)
    return await finish_role("sub-bytes", checks, s)


async def role_pub_bytes(opts):
    checks = Checks()
    s = await connect(opts, "publisher")
    p = await s.publish(opts.topic, BLOB, options=PublishOptions(acknowledge=True), **bytes_kwargs())
    checks.true("acknowledged publish returned no publication id", type(getattr(p, "id", None)) is int)
    return await finish_role("pub-bytes", checks, s)


async def role_callee_bytes(opts):
    checks = Checks()
    s = await connect(opts, "callee")
    served = asyncio.get_running_loop().create_future()

    def echo(*args, **kwargs):
        c = Checks()
        check_bytes_payload(c, "invocation", args, kwargs)
        checks.errors += c.errors
        if not served.done():
            served.set_result(None)
        if c.errors:
            raise ApplicationError("interop.error.bad_payload", *c.errors)
        return CallResult(*args, **kwargs)

    await s.register(echo, opts.procedure)
    print("READY", flush=True)
    try:
        await asyncio.wait_for(served, 20)
        await asyncio.sleep(0.2)  # let the YIELD go out before GOODBYE
    except asyncio.TimeoutError:
        checks.fail("no invocation of %s within 20s" % opts.procedure)
    return await finish_role("callee-bytes", checks, s)


async def role_caller_bytes(opts):
    checks = Checks()
    s = await connect(opts, "caller")
    try:
        res = await s.call(opts.procedure, BLOB, **bytes_kwargs())
        if isinstance(res, CallResult):
            check_bytes_payload(checks, "result", res.results, res.kwresults)
        else:
            checks.fail("result: got %s, want CallResult with args and kwargs" % describe(res))
    except ApplicationError as e:
        checks.fail("call failed: %s %s %s" % (e.error, list(e.args), e.kwargs))
    return await finish_role("caller-bytes", checks, s)


async def role_fanout(opts):
    """One binary event from a publisher of each serializer reaches
    subscribers of every transport (--fanout-urls) and serializer at once."""
    checks = Checks()
    serializers = ["json", "msgpack", "cbor"]
    loop = asyncio.get_running_loop()
    received = {}  # (publisher serializer, subscriber label) -> future
    subscribers = []
    for url in opts.fanout_urls.split(","):
        for ser in serializers:
            label = "%s-%s" % (urlparse(url).scheme, ser)
            s = await connect(argparse.Namespace(url=url, serializer=ser), "subscriber " + label)
            subscribers.append(s)
            for pub_ser in serializers:
                f = received[pub_ser, label] = loop.create_future()
                await s.subscribe(lambda *args, _f=f, **kwargs: _f.done() or _f.set_result((args, kwargs)),
                                  "%s.%s" % (opts.topic, pub_ser))
    for pub_ser in serializers:
        pub = await connect(argparse.Namespace(url=opts.url, serializer=pub_ser), "publisher " + pub_ser)
        await pub.publish("%s.%s" % (opts.topic, pub_ser), BLOB, options=PublishOptions(acknowledge=True),
                          **bytes_kwargs())
        for (ps, label), f in received.items():
            if ps != pub_ser:
                continue
            try:
                args, kwargs = await asyncio.wait_for(f, 10)
                check_bytes_payload(checks, "%s publisher -> %s subscriber: event" % (pub_ser, label), args, kwargs)
            except asyncio.TimeoutError:
                checks.fail("%s publisher -> %s subscriber: no event within 10s" % (pub_ser, label))
        await close(checks, pub)
    return await finish_role("fanout", checks, *subscribers)


async def role_sub_survives(opts):
    checks = Checks()
    s = await connect(opts, "subscriber")
    loop = asyncio.get_running_loop()
    fences = {"exact": loop.create_future(), "prefix": loop.create_future()}
    others = []

    def handler(name):
        def on_event(*args, **kwargs):
            kwargs.pop("details", None)
            if list(args) == ["fence"]:
                fences[name].done() or fences[name].set_result(None)
            else:
                others.append((name, list(args), kwargs))
        return on_event

    await s.subscribe(handler("exact"), opts.topic)
    await s.subscribe(handler("prefix"), opts.topic.rsplit(".", 1)[0] + ".", options=SubscribeOptions(match="prefix"))
    print("READY", flush=True)
    await asyncio.wait([asyncio.gather(*fences.values()), s.interop_closed], timeout=20,
                       return_when=asyncio.FIRST_COMPLETED)
    closed = s.interop_closed.done()
    checks.true("the subscriber's connection was closed", not closed)
    for name, f in fences.items():
        checks.true("%s subscription: no fence event %s" % (name, "before that" if closed else "within 20s"), f.done())
    checks.true("events other than the fence arrived: %s" % describe(others), not others)
    return await finish_role("sub-survives", checks, s)


ROLES = {
    "suite": run_suite,
    "sub-survives": role_sub_survives,
    "fanout": role_fanout,
    "sub-bytes": role_sub_bytes,
    "pub-bytes": role_pub_bytes,
    "callee-bytes": role_callee_bytes,
    "caller-bytes": role_caller_bytes,
}


def main():
    ap = arg_parser(__doc__, roles=ROLES, prefix="interop.python", scenarios=SCENARIOS)
    ap.add_argument("--topic", default="interop.cross.bytes")
    ap.add_argument("--procedure", default="interop.cross.echo_bytes")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds the keepalive scenario idles")
    ap.add_argument("--fanout-urls", default="", help="comma-separated URLs of the fanout role's subscribers")
    opts = parse_args(ap, SCENARIOS)
    interop_lib.run_main(ROLES[opts.role], opts, opts.role)


if __name__ == "__main__":
    main()
