"""Helpers shared by the Autobahn|Python interop scripts (client.py,
meta_session.py, rpc_advanced.py, pubsub_advanced.py, history.py, auth.py).

The Go tests run each script as `/usr/bin/python3 SCRIPT.py ...` in this
directory, so `import interop_lib` finds this file (Python puts the script's
directory first on sys.path). Importing it selects asyncio for txaio and
works around an Autobahn|Python 22.7 RawSocket bug.

A script parses its command line with arg_parser and parse_args, opens
sessions with connect and closes them with close, collects failed checks in
a Checks, and reports each scenario as one line

    RESULT {"scenario": "rpc", "ok": false, "errors": ["..."], "seconds": 0.1}

(result_line), which the Go side parses; run_scenarios does that for a
table of scenarios and run_main for the whole process.
"""

import argparse
import asyncio
import hashlib
import json
import sys
import time
import traceback
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.websocket.compress import (PerMessageDeflateOffer, PerMessageDeflateResponse,  # noqa: E402
                                         PerMessageDeflateResponseAccept)
from autobahn.wamp import serializer as wamp_serializer  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402

REALM = "realm1"
JOIN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
SCENARIO_TIMEOUT = 30.0
MAX_ERRORS = 20

# Values shared with test/interop/js/lib.js: both sides must agree on them
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


# --- checks ----------------------------------------------------------------

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

    async def within(self, timeout, failure, awaitable):
        """Awaits awaitable for at most timeout seconds and returns its
        result; on a timeout fails with "<failure> within <timeout>s" and
        returns None."""
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError:
            self.fail("%s within %.0fs" % (failure, timeout))
            return None


def result_line(scenario, checks, info=None, seconds=None):
    """Prints the RESULT line of one scenario, which the Go test parses."""
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


# --- sessions --------------------------------------------------------------

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


class Refused(RuntimeError):
    """The session was closed before it joined (an ABORT): its reason and message."""

    def __init__(self, label, reason, message):
        super().__init__("%s: session closed before joining: %s %s" % (label, reason, message))
        self.reason = reason
        self.message = message


async def connect(opts, label, realm=None, authmethods=None, authid=None, authenticator=None, on_challenge=None,
                  join_timeout=JOIN_TIMEOUT):
    """Opens a transport to opts.url with opts.serializer, joins realm (by
    default opts.realm if the command line has one, else realm1) and
    returns the joined session, whose WELCOME details are interop_details.

    Without authmethods the session joins as Autobahn does by default. With
    them it asks for authid and answers challenges with an Autobahn
    authenticator object (whose authextra it sends and which sees WELCOME)
    or with on_challenge(challenge). A refused join raises Refused."""
    realm = realm or getattr(opts, "realm", None) or REALM
    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    closed = loop.create_future()

    class Session(ApplicationSession):
        def onConnect(self):
            if authmethods is None:
                return super().onConnect()
            extra = authenticator.authextra if authenticator is not None else None
            self.join(realm, authmethods=authmethods, authid=authid, authextra=extra)

        def onChallenge(self, challenge):
            if authenticator is not None:
                return authenticator.on_challenge(self, challenge)
            if on_challenge is not None:
                return on_challenge(challenge)
            return super().onChallenge(challenge)

        def onWelcome(self, msg):
            if authenticator is not None:
                return authenticator.on_welcome(self, msg.authextra)
            return super().onWelcome(msg)

        def onJoin(self, details):
            self.interop_details = details
            if getattr(opts, "deflate", False) and getattr(self._transport, "_perMessageCompress", None) is None:
                if not joined.done():
                    joined.set_exception(RuntimeError("%s: permessage-deflate offered but not negotiated" % label))
                return
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(Refused(label, details.reason, details.message))
            return super().onLeave(details)

        def onDisconnect(self):
            if not joined.done():
                joined.set_exception(RuntimeError("%s: transport closed before joining" % label))
            if not closed.done():
                closed.set_result(None)
            return super().onDisconnect()

    def make():
        session = Session(ComponentConfig(realm=realm))
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
        if getattr(opts, "deflate", False):
            # Offer permessage-deflate as Autobahn does by default when
            # asked (client_max_window_bits, accepting no context takeover)
            # and take what the router answers; every message is then sent
            # compressed.
            factory.setProtocolOptions(
                perMessageCompressionOffers=[PerMessageDeflateOffer()],
                perMessageCompressionAccept=lambda response: (PerMessageDeflateResponseAccept(response)
                                                              if isinstance(response, PerMessageDeflateResponse) else None))
    elif url.scheme == "rs":
        factory = WampRawSocketClientFactory(make, serializer=make_serializer(opts.serializer))
    else:
        raise SystemExit("unsupported URL scheme in %s (want ws:// or rs://)" % opts.url)

    await loop.create_connection(factory, url.hostname, url.port)
    try:
        return await asyncio.wait_for(joined, join_timeout)
    except asyncio.TimeoutError:
        raise RuntimeError("%s: not joined to %s within %.0fs" % (label, realm, join_timeout)) from None


async def close(checks, *sessions, timeout=CLOSE_TIMEOUT):
    """Leaves the realm with GOODBYE and waits for the transports to close.
    None in sessions is passed over."""
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


# --- command line and scenarios ---------------------------------------------

def arg_parser(doc, roles=None, prefix=None, scenarios=None):
    """An ArgumentParser described by the first paragraph of doc, with the
    positional role (if roles are given), --url and --serializer, and
    --prefix (the default URI prefix, if given) and --scenarios (a
    comma-separated subset of scenarios, if given; parse_args checks it)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if roles is not None:
        ap.add_argument("role", choices=sorted(roles))
    ap.add_argument("--url", required=True, help="ws://HOST:PORT/ws or rs://HOST:PORT")
    ap.add_argument("--serializer", required=True, choices=["json", "msgpack", "cbor"])
    ap.add_argument("--deflate", action="store_true",
                    help="offer permessage-deflate on WebSocket and fail unless the router accepts it")
    if prefix is not None:
        ap.add_argument("--prefix", default=prefix, help="URI prefix of the topics and procedures used")
    if scenarios is not None:
        ap.add_argument("--scenarios", default="", help="comma-separated subset of: " + ",".join(scenarios))
    return ap


def parse_args(ap, scenarios=None):
    """Parses the command line; an unknown name in --scenarios is a usage error."""
    opts = ap.parse_args()
    if scenarios is not None:
        for name in filter(None, opts.scenarios.split(",")):
            if name not in scenarios:
                ap.error("unknown scenario %r" % name)
    return opts


async def run_scenarios(opts, scenarios, default=None, timeout=SCENARIO_TIMEOUT):
    """Runs the scenarios named by --scenarios (else default, else all), each
    as scenarios[name](opts, checks) within timeout seconds, and prints a
    RESULT line for each, with what the scenario returned as its info.
    Returns whether all passed."""
    wanted = getattr(opts, "scenarios", "")
    names = wanted.split(",") if wanted else (default or list(scenarios))
    ok = True
    for name in names:
        checks = Checks()
        info = None
        start = time.monotonic()
        try:
            info = await asyncio.wait_for(scenarios[name](opts, checks), timeout)
        except asyncio.TimeoutError:
            checks.fail("scenario timed out after %.0fs" % timeout)
        except ApplicationError as e:
            traceback.print_exc()
            checks.fail("unexpected WAMP error %s %s %s" % (e.error, list(e.args), e.kwargs))
        except Exception as e:  # noqa: BLE001 - report whatever went wrong
            traceback.print_exc()
            checks.fail("%s: %s" % (type(e).__name__, e))
        result_line(name, checks, info, time.monotonic() - start)
        ok = ok and not checks.errors
    return ok


def run_main(run, opts, scenario):
    """Runs the coroutine function run(opts) and exits 0 if it returned
    true. If it raises (the router refused the connection, say), prints a
    failed RESULT for scenario and exits 1."""
    try:
        ok = asyncio.run(run(opts))
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print("RESULT " + json.dumps({"scenario": scenario, "ok": False, "errors": ["%s: %s" % (type(e).__name__, e)]}),
              flush=True)
        ok = False
    sys.exit(0 if ok else 1)
