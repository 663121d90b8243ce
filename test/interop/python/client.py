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

The URL scheme picks the transport: ws:// is WebSocket, rs:// is RawSocket.
The exit status is 0 only if every scenario passed.
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import sys
import time
import traceback
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp import message as wamp_message  # noqa: E402
from autobahn.wamp import serializer as wamp_serializer  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallResult, ComponentConfig, PublishOptions  # noqa: E402

REALM = "realm1"
JOIN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
SCENARIO_TIMEOUT = 30.0

# Values shared with test/interop/js/client.js: both sides must agree on them
# byte for byte.
BLOB = bytes(range(256)) + b"\x00\x00junction\xff\xfe\x80"
TYPED = {
    "int": 42,
    "neg": -7,
    "big": 9007199254740991,
    "float": 0.5,
    "pi": 3.141592653589793,
    "negbig": -9007199254740991,
    "zero": 0,
    "true": True,
    "false": False,
    "null": None,
    "str": "h\u00e9llo \u2713 \U0001F600",
    "list": [1, "two", 3.5],
    "map": {"a": 1},
}


def bytes_kwargs():
    """The keyword payload of the cross-client binary scenarios."""
    return {
        "blob": BLOB,
        "empty": b"",
        "nested": {"list": [b"\x01\x02\x03"], "text": "not binary"},
        "typed": TYPED,
    }


def pattern(n, seed):
    """n deterministic pseudo-random bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:n])


def describe(value, limit=200):
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "...(%d chars)" % len(text)
    return text


def diff(got, want, path="$"):
    """Strict structural comparison: types must match too (bool is not int,
    float is not int, bytes is not str). Returns a list of differences."""
    if type(got) is not type(want):
        return ["%s: got %s %s, want %s %s" % (path, type(got).__name__, describe(got),
                                              type(want).__name__, describe(want))]
    if isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want), key=str):
            if key not in got:
                out.append("%s.%s: missing" % (path, key))
            elif key not in want:
                out.append("%s.%s: unexpected %s" % (path, key, describe(got[key])))
            else:
                out += diff(got[key], want[key], "%s.%s" % (path, key))
        return out
    if isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return ["%s: got %d items %s, want %d items %s" % (path, len(got), describe(got),
                                                              len(want), describe(want))]
        out = []
        for i, (g, w) in enumerate(zip(got, want)):
            out += diff(g, w, "%s[%d]" % (path, i))
        return out
    if isinstance(want, bytes) and got != want:
        at = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        return ["%s: got %d bytes (sha256 %s), want %d bytes (sha256 %s); first difference at offset %d: %s vs %s"
                % (path, len(got), hashlib.sha256(got).hexdigest()[:16], len(want),
                   hashlib.sha256(want).hexdigest()[:16], at, got[at:at + 8].hex(), want[at:at + 8].hex())]
    if got != want:
        return ["%s: got %s, want %s" % (path, describe(got), describe(want))]
    return []


class Checks:
    """Collects failed checks of one scenario instead of stopping at the first."""

    def __init__(self):
        self.errors = []

    def fail(self, msg):
        self.errors.append(msg)

    def equal(self, what, got, want):
        for d in diff(got, want):
            self.fail("%s: %s" % (what, d))

    def true(self, what, cond):
        if not cond:
            self.fail(what)

    async def app_error(self, what, want_uri, coro):
        """Awaits coro and checks that it fails with ApplicationError want_uri."""
        try:
            res = await coro
        except ApplicationError as e:
            if e.error != want_uri:
                self.fail("%s: got error %s %s %s, want %s" % (what, e.error, list(e.args), e.kwargs, want_uri))
            return e
        except Exception as e:  # noqa: BLE001 - report whatever went wrong
            self.fail("%s: got %s: %s, want ApplicationError %s" % (what, type(e).__name__, e, want_uri))
            return None
        self.fail("%s: succeeded with %s, want error %s" % (what, describe(res), want_uri))
        return None


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


if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    # Autobahn|Python < 22.8 (Debian bookworm has 22.7.1): the asyncio
    # RawSocket client lacks this property and crashes on WELCOME
    # (crossbario/autobahn-python#1592, fixed upstream by #1593 the same way).
    class _RawSocketClientProtocol(WampRawSocketClientProtocol):
        @property
        def transport_details(self):
            return self._transport_details

    class _RawSocketClientFactory(WampRawSocketClientFactory):
        protocol = _RawSocketClientProtocol

    WampRawSocketClientFactory = _RawSocketClientFactory  # noqa: F811


def make_serializer(name):
    classes = {
        "json": "JsonSerializer",
        "msgpack": "MsgPackSerializer",
        "cbor": "CBORSerializer",
    }
    cls = getattr(wamp_serializer, classes.get(name, ""), None)
    if cls is None:
        raise SystemExit("autobahn %s has no %r serializer (is python3-msgpack/python3-cbor2 installed?)"
                         % (wamp_serializer.__name__, name))
    return cls()


async def connect(opts, label):
    """Opens a transport, joins the realm and returns the joined session."""
    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    closed = loop.create_future()

    class Session(ApplicationSession):
        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(RuntimeError("%s: session closed before joining: %s %s"
                                                  % (label, details.reason, details.message)))
            return super().onLeave(details)

        def onDisconnect(self):
            if not joined.done():
                joined.set_exception(RuntimeError("%s: transport closed before joining" % label))
            if not closed.done():
                closed.set_result(None)
            return super().onDisconnect()

    def make():
        session = Session(ComponentConfig(realm=REALM))
        session.interop_closed = closed
        session.interop_label = label
        return session

    txaio.config.loop = loop
    url = urlparse(opts.url)
    if url.scheme == "ws":
        factory = WampWebSocketClientFactory(make, url=opts.url, serializers=[make_serializer(opts.serializer)],
                                             loop=loop)
        # ApplicationRunner caps messages at 1 MiB; the large scenario needs more.
        factory.setProtocolOptions(maxFramePayloadSize=0, maxMessagePayloadSize=0,
                                   autoFragmentSize=65536, openHandshakeTimeout=5,
                                   closeHandshakeTimeout=2, tcpNoDelay=True)
    elif url.scheme == "rs":
        factory = WampRawSocketClientFactory(make, serializer=make_serializer(opts.serializer))
    else:
        raise SystemExit("unsupported URL scheme in %s (want ws:// or rs://)" % opts.url)

    await loop.create_connection(factory, url.hostname, url.port)
    try:
        return await asyncio.wait_for(joined, JOIN_TIMEOUT)
    except asyncio.TimeoutError:
        raise RuntimeError("%s: not joined to %s within %.0fs" % (label, REALM, JOIN_TIMEOUT)) from None


async def close(checks, *sessions, timeout=CLOSE_TIMEOUT):
    """Leaves the realm with GOODBYE and waits for the transports to close."""
    async def close_one(s):
        if s is None or s.interop_closed.done():
            return
        try:
            if s.is_attached():
                s.leave()
            await asyncio.wait_for(asyncio.shield(s.interop_closed), timeout)
        except asyncio.TimeoutError:
            checks.fail("%s: no clean close within %.0fs after GOODBYE" % (s.interop_label, timeout))
            s.disconnect()
        except Exception as e:  # noqa: BLE001
            checks.fail("%s: leaving failed: %s" % (s.interop_label, e))

    await asyncio.gather(*(close_one(s) for s in sessions))


MAX_ERRORS = 20


def result_line(scenario, checks, info=None, seconds=None):
    out = {"scenario": scenario, "ok": not checks.errors}
    if checks.errors:
        out["errors"] = checks.errors[:MAX_ERRORS]
        if len(checks.errors) > MAX_ERRORS:
            out["errors"].append("... and %d more" % (len(checks.errors) - MAX_ERRORS))
    if info:
        out["info"] = info
    if seconds is not None:
        out["seconds"] = round(seconds, 3)
    print("RESULT " + json.dumps(out), flush=True)


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
    names = opts.scenarios.split(",") if opts.scenarios else DEFAULT_SCENARIOS
    ok = True
    for name in names:
        checks = Checks()
        info = None
        start = time.monotonic()
        try:
            info = await asyncio.wait_for(SCENARIOS[name](opts, checks), SCENARIO_TIMEOUT)
        except asyncio.TimeoutError:
            checks.fail("scenario timed out after %.0fs" % SCENARIO_TIMEOUT)
        except Exception as e:  # noqa: BLE001
            checks.fail("%s: %s" % (type(e).__name__, e))
            traceback.print_exc()
        result_line(name, checks, info, time.monotonic() - start)
        ok = ok and not checks.errors
    return ok


# --- cross-client binary roles ---------------------------------------------

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
    await close(checks, s)
    result_line("sub-bytes", checks)
    return not checks.errors


async def role_pub_bytes(opts):
    checks = Checks()
    s = await connect(opts, "publisher")
    p = await s.publish(opts.topic, BLOB, options=PublishOptions(acknowledge=True), **bytes_kwargs())
    checks.true("acknowledged publish returned no publication id", type(getattr(p, "id", None)) is int)
    await close(checks, s)
    result_line("pub-bytes", checks)
    return not checks.errors


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
    await close(checks, s)
    result_line("callee-bytes", checks)
    return not checks.errors


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
    await close(checks, s)
    result_line("caller-bytes", checks)
    return not checks.errors


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
    await close(checks, *subscribers)
    result_line("fanout", checks)
    return not checks.errors


ROLES = {
    "suite": run_suite,
    "fanout": role_fanout,
    "sub-bytes": role_sub_bytes,
    "pub-bytes": role_pub_bytes,
    "callee-bytes": role_callee_bytes,
    "caller-bytes": role_caller_bytes,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", choices=sorted(ROLES))
    ap.add_argument("--url", required=True, help="ws://HOST:PORT/ws or rs://HOST:PORT")
    ap.add_argument("--serializer", required=True, choices=["json", "msgpack", "cbor"])
    ap.add_argument("--prefix", default="interop.python", help="URI prefix of the suite's topics and procedures")
    ap.add_argument("--scenarios", default="", help="comma-separated subset of: " + ",".join(SCENARIOS))
    ap.add_argument("--topic", default="interop.cross.bytes")
    ap.add_argument("--procedure", default="interop.cross.echo_bytes")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds the keepalive scenario idles")
    ap.add_argument("--fanout-urls", default="", help="comma-separated URLs of the fanout role's subscribers")
    opts = ap.parse_args()
    for name in filter(None, opts.scenarios.split(",")):
        if name not in SCENARIOS:
            ap.error("unknown scenario %r" % name)
    try:
        ok = asyncio.run(ROLES[opts.role](opts))
    except Exception as e:  # noqa: BLE001 - e.g. the router refused the connection
        traceback.print_exc()
        print("RESULT " + json.dumps({"scenario": opts.role, "ok": False, "errors": ["%s: %s" % (type(e).__name__, e)]}),
              flush=True)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
