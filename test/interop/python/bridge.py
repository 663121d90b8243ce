#!/usr/bin/python3
"""Autobahn|Python as the WAMP side of Junction's HTTP bridge.

Run by test/interop/bridge_test.go with /usr/bin/python3:

    bridge.py bridge --url ws://127.0.0.1:8080/ws --serializer json --prefix P

registers P.add (the sum of its two arguments, and kwargs {"by": "python"})
and P.fail (ApplicationError P.error.refused with args ["refused", 7] and
kwargs {"why": "test"}), subscribes to P.news, prints READY, and waits for
one event on P.news, which the test publishes over HTTP: it must carry args
["from the bridge", 1] and kwargs {"k": "v"}. It prints one line, RESULT
{"scenario": "bridge", ...}, and exits 0 only if every check passed.
"""

import asyncio

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import Checks, arg_parser, close, connect, parse_args, result_line, run_main

from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallResult  # noqa: E402

EVENT_TIMEOUT = 30.0


async def run(opts):
    checks = Checks()
    session = await connect(opts, "bridge")
    p = opts.prefix

    def add(a, b):
        return CallResult(a + b, by="python")

    def fail():
        raise ApplicationError(p + ".error.refused", "refused", 7, why="test")

    events = asyncio.Queue()
    await session.register(add, p + ".add")
    await session.register(fail, p + ".fail")
    await session.subscribe(lambda *a, **kw: events.put_nowait((list(a), kw)), p + ".news")
    print("READY", flush=True)
    ev = await checks.within(EVENT_TIMEOUT, "no event published over HTTP", events.get())
    if ev is not None:
        checks.equal("event args", ev[0], ["from the bridge", 1])
        checks.equal("event kwargs", ev[1], {"k": "v"})
    await close(checks, session)
    result_line("bridge", checks)
    return not checks.errors


if __name__ == "__main__":
    ap = arg_parser(__doc__, roles=["bridge"], prefix="interop.bridge")
    run_main(run, parse_args(ap), "bridge")
