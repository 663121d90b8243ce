#!/usr/bin/python3
"""Autobahn|Python against Junction's Advanced Profile RPC features.

Run by test/interop/rpc_advanced_test.go with /usr/bin/python3:

    rpc_advanced.py --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x [--scenarios a,b]

Each scenario uses fresh sessions and prints one line

    RESULT {"scenario": "progressive", "ok": true}

The exit status is 0 only if every scenario passed. Connection, checks and
output are interop_lib.py's.
"""

import asyncio
import contextlib

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import arg_parser, close, connect, describe, parse_args, run_scenarios

from autobahn.wamp import message as wamp_message  # noqa: E402
from autobahn.wamp.types import CallOptions, RegisterOptions  # noqa: E402

# How long a scenario waits for something the router must make happen (an
# INTERRUPT, an event); only a bound against hanging, never a measurement.
WAIT = 10.0


async def scenario_progressive(opts, checks):
    """Progressive call results: the callee streams three results through
    details.progress, the caller sees them through on_progress."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".progressive."
    asked = []

    async def stream(n, details=None):
        asked.append(details.progress is not None)
        if details.progress:
            for i in range(n):
                details.progress(i, tag="partial")
                await asyncio.sleep(0)
        return "done"

    await callee.register(stream, p + "stream", RegisterOptions(details_arg="details"))
    got = []
    res = await caller.call(p + "stream", 3, options=CallOptions(on_progress=lambda *a, **kw: got.append((list(a), kw))))
    checks.equal("final result", res, "done")
    checks.equal("progressive results", got, [([i], {"tag": "partial"}) for i in range(3)])
    # Without on_progress the caller does not ask, and the callee is not offered.
    res = await caller.call(p + "stream", 3)
    checks.equal("final result without on_progress", res, "done")
    checks.equal("callee offered progress (with, without)", asked, [True, False])
    await close(checks, callee, caller)


async def scenario_pattern(opts, checks):
    """Pattern-based registrations: exact before prefix before wildcard, and
    INVOCATION.Details.procedure for pattern registrations."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".pattern"

    def which(name):
        def handler(details=None):
            return [name, details.procedure]
        return handler

    await callee.register(which("exact"), p + ".a.b", RegisterOptions(details_arg="details"))
    await callee.register(which("prefix"), p + ".a", RegisterOptions(match="prefix", details_arg="details"))
    await callee.register(which("longer-prefix"), p + ".a.b.c", RegisterOptions(match="prefix", details_arg="details"))
    await callee.register(which("wildcard"), p + "..b", RegisterOptions(match="wildcard", details_arg="details"))

    for uri, want in [
        (p + ".a.b", "exact"),
        (p + ".a.x", "prefix"),
        (p + ".a.b.c.d", "longer-prefix"),
        (p + ".z.b", "wildcard"),
    ]:
        res = await caller.call(uri)
        checks.equal("call %s: registration" % uri, res[0], want)
        # autobahn fills details.procedure from INVOCATION.Details.procedure,
        # or with the registered URI when there is none (exact match).
        checks.equal("call %s: details.procedure" % uri, res[1], uri)
    await checks.app_error("call that matches nothing", "wamp.error.no_such_procedure", caller.call(p + ".q.r.s"))
    await close(checks, callee, caller)


async def scenario_shared(opts, checks):
    """Shared registrations: roundrobin over two callees, first/last as hot
    standby, a different policy refused."""
    a = await connect(opts, "callee a")
    b = await connect(opts, "callee b")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".shared."

    ra = await a.register(lambda: "a", p + "rr", RegisterOptions(invoke="roundrobin"))
    rb = await b.register(lambda: "b", p + "rr", RegisterOptions(invoke="roundrobin"))
    checks.equal("one registration id for both callees", ra.id, rb.id)
    got = [await caller.call(p + "rr") for _ in range(4)]
    checks.equal("roundrobin", got, ["a", "b", "a", "b"])
    await checks.app_error("register with another policy", "wamp.error.procedure_already_exists",
                           caller.register(lambda: "c", p + "rr", RegisterOptions(invoke="random")))
    await checks.app_error("register with single", "wamp.error.procedure_already_exists",
                           caller.register(lambda: "c", p + "rr"))

    await a.register(lambda: "a", p + "last", RegisterOptions(invoke="last"))
    rl = await b.register(lambda: "b", p + "last", RegisterOptions(invoke="last"))
    checks.equal("last", [await caller.call(p + "last") for _ in range(2)], ["b", "b"])
    await rl.unregister()
    checks.equal("last after it left: the standby", await caller.call(p + "last"), "a")
    await close(checks, a, b, caller)


@contextlib.contextmanager
def disclose_me():
    """Autobahn|Python 22.7 has no way to ask for disclose_me (CallOptions
    lacks it): CALLs made inside this block carry it."""
    marshal = wamp_message.Call.marshal_options

    def with_disclose_me(self):
        options = marshal(self)
        options["disclose_me"] = True
        return options

    wamp_message.Call.marshal_options = with_disclose_me
    try:
        yield
    finally:
        wamp_message.Call.marshal_options = marshal


async def scenario_identification(opts, checks):
    """Caller identification with disclose_me."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".ident."

    def who(details=None):
        return [details.caller, details.caller_authid, details.caller_authrole]

    await callee.register(who, p + "who", RegisterOptions(details_arg="details"))
    with disclose_me():
        pending = caller.call(p + "who")  # sent before call() returns
    res = await pending
    checks.equal("disclosed caller", res[0], caller._session_id)
    checks.equal("disclosed authrole", res[2], "anonymous")
    checks.true("disclosed authid is a string", isinstance(res[1], str) and res[1] != "")
    res = await caller.call(p + "who")
    checks.equal("not disclosed without disclose_me", res, [None, None, None])
    await close(checks, callee, caller)


def long_running(started, interrupted):
    """A procedure that runs until it is interrupted."""
    async def handler():
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "finished"
    return handler


async def scenario_timeout(opts, checks):
    """Call timeout enforced by the router: wamp.error.timeout for the caller,
    INTERRUPT for the callee (which supports call canceling)."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".timeout."
    started, interrupted = asyncio.Event(), asyncio.Event()
    await callee.register(long_running(started, interrupted), p + "slow")
    await callee.register(lambda: "quick", p + "quick")

    await checks.app_error("call with timeout 200 ms", "wamp.error.timeout",
                           caller.call(p + "slow", options=CallOptions(timeout=200)))
    await checks.within(WAIT, "callee interrupted after the timeout: nothing", interrupted.wait())
    checks.equal("a call answered in time", await caller.call(p + "quick", options=CallOptions(timeout=10000)), "quick")
    await close(checks, callee, caller)


async def scenario_cancel(opts, checks):
    """Call canceling: the caller cancels its future, the callee's handler
    is interrupted, both sessions go on."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".cancel."
    started, interrupted = asyncio.Event(), asyncio.Event()
    await callee.register(long_running(started, interrupted), p + "slow")
    await callee.register(lambda x: x, p + "echo")

    f = asyncio.ensure_future(caller.call(p + "slow"))
    await checks.within(WAIT, "invocation started: nothing", started.wait())
    f.cancel()
    try:
        await f
        checks.fail("canceled call returned")
    except asyncio.CancelledError:
        pass
    await checks.within(WAIT, "callee interrupted after CANCEL: nothing", interrupted.wait())
    checks.equal("call after the cancel", await caller.call(p + "echo", 5), 5)
    await close(checks, callee, caller)


async def scenario_caller_leaves(opts, checks):
    """A caller that leaves has its calls in flight interrupted."""
    callee = await connect(opts, "callee")
    caller = await connect(opts, "caller")
    p = opts.prefix + ".leave."
    started, interrupted = asyncio.Event(), asyncio.Event()
    await callee.register(long_running(started, interrupted), p + "slow")
    f = asyncio.ensure_future(caller.call(p + "slow"))
    await checks.within(WAIT, "invocation started: nothing", started.wait())
    await close(checks, caller)
    await checks.within(WAIT, "callee interrupted after its caller left: nothing", interrupted.wait())
    f.cancel()
    await close(checks, callee)


async def scenario_meta(opts, checks):
    """Registration meta API: procedures and events."""
    watcher = await connect(opts, "watcher")
    a = await connect(opts, "callee a")
    b = await connect(opts, "callee b")
    p = opts.prefix + ".meta."
    events = asyncio.Queue()

    mine = {a._session_id, b._session_id}

    def on(topic):
        def handler(*args):
            # Meta events are realm-wide: other clients' registrations come too.
            if args and args[0] in mine:
                events.put_nowait((topic, list(args)))
        return handler

    for topic in ["on_create", "on_register", "on_unregister", "on_delete"]:
        await watcher.subscribe(on(topic), "wamp.registration." + topic)

    async def next_event(what):
        ev = await checks.within(WAIT, what + ": nothing", events.get())
        return ev or (None, [])

    ra = await a.register(lambda: 1, p + "proc", RegisterOptions(match="prefix", invoke="roundrobin"))
    topic, args = await next_event("on_create")
    checks.equal("first event", topic, "on_create")
    if len(args) == 2 and isinstance(args[1], dict):
        checks.equal("on_create session", args[0], a._session_id)
        d = args[1]
        checks.equal("on_create details", [d.get("id"), d.get("uri"), d.get("match"), d.get("invoke")],
                     [ra.id, p + "proc", "prefix", "roundrobin"])
    else:
        checks.fail("on_create args %s" % describe(args))
    checks.equal("on_register", await next_event("on_register"), ("on_register", [a._session_id, ra.id]))
    await b.register(lambda: 2, p + "proc", RegisterOptions(match="prefix", invoke="roundrobin"))
    checks.equal("on_register b", await next_event("on_register b"), ("on_register", [b._session_id, ra.id]))

    checks.equal("lookup exact", await watcher.call("wamp.registration.lookup", p + "proc"), None)
    checks.equal("lookup prefix", await watcher.call("wamp.registration.lookup", p + "proc", {"match": "prefix"}), ra.id)
    checks.equal("match", await watcher.call("wamp.registration.match", p + "proc.x.y"), ra.id)
    checks.equal("match nothing", await watcher.call("wamp.registration.match", opts.prefix + ".other"), None)
    info = await watcher.call("wamp.registration.get", ra.id)
    checks.equal("get", [info.get("id"), info.get("uri"), info.get("match"), info.get("invoke")],
                 [ra.id, p + "proc", "prefix", "roundrobin"])
    checks.true("get: created is a timestamp", isinstance(info.get("created"), str) and "T" in info["created"])
    checks.equal("list_callees", await watcher.call("wamp.registration.list_callees", ra.id), [a._session_id, b._session_id])
    checks.equal("count_callees", await watcher.call("wamp.registration.count_callees", ra.id), 2)
    lists = await watcher.call("wamp.registration.list")
    checks.true("list has the prefix registration", ra.id in lists.get("prefix", []))
    await checks.app_error("get unknown", "wamp.error.no_such_registration", watcher.call("wamp.registration.get", 1 << 50))

    b_id = b._session_id  # autobahn forgets it on leaving
    await close(checks, b)
    checks.equal("on_unregister b", await next_event("on_unregister b"), ("on_unregister", [b_id, ra.id]))
    await ra.unregister()
    checks.equal("on_unregister a", await next_event("on_unregister a"), ("on_unregister", [a._session_id, ra.id]))
    checks.equal("on_delete", await next_event("on_delete"), ("on_delete", [a._session_id, ra.id]))
    await close(checks, watcher, a)


async def scenario_revocation(opts, checks):
    """Registration revocation through wamp.registration.remove_callee: the
    callee (which announces registration_revocation) stays connected, the
    procedure is gone."""
    callee = await connect(opts, "callee")
    admin = await connect(opts, "admin")
    p = opts.prefix + ".revoke."
    reg = await callee.register(lambda: "here", p + "proc")
    checks.equal("call before", await admin.call(p + "proc"), "here")
    await admin.call("wamp.registration.remove_callee", reg.id, callee._session_id, "moving")
    await checks.app_error("call after revocation", "wamp.error.no_such_procedure", admin.call(p + "proc"))
    checks.true("callee still attached", callee.is_attached())
    await callee.register(lambda: "again", p + "proc2")
    checks.equal("callee registers again", await admin.call(p + "proc2"), "again")
    await close(checks, callee, admin)


SCENARIOS = {
    "progressive": scenario_progressive,
    "pattern": scenario_pattern,
    "shared": scenario_shared,
    "identification": scenario_identification,
    "timeout": scenario_timeout,
    "cancel": scenario_cancel,
    "caller_leaves": scenario_caller_leaves,
    "meta": scenario_meta,
    "revocation": scenario_revocation,
}


async def run(opts):
    return await run_scenarios(opts, SCENARIOS)


def main():
    ap = arg_parser(__doc__, prefix="interop.python.rpc_advanced", scenarios=SCENARIOS)
    interop_lib.run_main(run, parse_args(ap, SCENARIOS), "rpc_advanced")


if __name__ == "__main__":
    main()
