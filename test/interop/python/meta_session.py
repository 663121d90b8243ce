#!/usr/bin/python3
"""Autobahn|Python checks of Junction's session and testament meta API.

Run by test/interop/meta_session_test.go with /usr/bin/python3:

    meta_session.py meta --url ws://127.0.0.1:8080/ws --serializer json --realm R --prefix P

R must be a realm no other client uses while the script runs: the script
counts the sessions in it. A watcher session subscribes to
wamp.session.on_join and on_leave and to the testament topic, and the
script checks, in order:

- wamp.session.count, list (with and without an authrole filter) and get,
  against the on_join details of a session that joins;
- wamp.session.kill with a reason and a message: the victim sees them in
  its GOODBYE, the watcher gets on_leave; killing oneself or a session that
  does not exist fails with wamp.error.no_such_session;
- wamp.session.add_testament in both scopes, then the session's connection
  is dropped without GOODBYE (transport.abort): the watcher gets the
  testaments, detached first, then on_leave;
- wamp.session.flush_testaments, then a clean GOODBYE: no testament;
- wamp.session.kill_by_authid, kill_by_authrole and kill_all, which
  excludes the caller and announces no on_leave.

It prints one line, RESULT {"scenario": "meta", "ok": ..., "errors": [...]},
and exits 0 only if every check passed.
"""

import asyncio
from urllib.parse import urlparse

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import arg_parser, close, connect, describe, parse_args, run_scenarios

from autobahn.wamp.types import PublishOptions  # noqa: E402

EVENT_TIMEOUT = 10.0
SCENARIO_TIMEOUT = 60.0


class Watcher:
    """A session that records, in order, every meta event and testament."""

    def __init__(self, checks, session, prefix):
        self.checks = checks
        self.session = session
        self.prefix = prefix
        self.events = asyncio.Queue()

    async def subscribe(self):
        q = self.events
        await self.session.subscribe(lambda details: q.put_nowait(("join", details)), "wamp.session.on_join")
        await self.session.subscribe(lambda *a: q.put_nowait(("leave", list(a))), "wamp.session.on_leave")
        await self.session.subscribe(lambda *a, **kw: q.put_nowait(("testament", list(a), kw)), self.prefix + ".gone")
        await self.session.subscribe(lambda *a: q.put_nowait(("marker", list(a))), self.prefix + ".marker")

    async def expect(self, kind, what):
        """Returns the next event, which must be of kind."""
        try:
            ev = await asyncio.wait_for(self.events.get(), EVENT_TIMEOUT)
        except asyncio.TimeoutError:
            self.checks.fail("%s: no %s event within %.0fs" % (what, kind, EVENT_TIMEOUT))
            return None
        if ev[0] != kind:
            self.checks.fail("%s: got %s, want a %s event" % (what, describe(ev), kind))
            return None
        return ev

    async def nothing_more(self, what):
        """Checks that no event is pending: every event the router published
        before this call reaches the watcher before its own marker."""
        await self.session.publish(self.prefix + ".marker", what,
                                   options=PublishOptions(acknowledge=True, exclude_me=False))
        ev = await self.expect("marker", what)
        if ev is not None:
            self.checks.equal(what + ": marker", ev[1], [what])


def leave_recorder(session):
    """A future resolved with the CloseDetails of the session's leave."""
    fut = asyncio.get_running_loop().create_future()

    def on_leave(_session, details):
        if not fut.done():
            fut.set_result(details)
    session.on("leave", on_leave)
    return fut


async def scenario_meta(opts, checks):
    transport = "rawsocket" if urlparse(opts.url).scheme == "rs" else "websocket"
    w = await connect(opts, "watcher")
    watcher = Watcher(checks, w, opts.prefix)
    await watcher.subscribe()
    sessions = [w]
    try:
        # --- count, list, get -------------------------------------------
        checks.equal("count with the watcher alone", await w.call("wamp.session.count"), 1)
        checks.equal("list with the watcher alone", await w.call("wamp.session.list"), [w.session_id])

        a = await connect(opts, "alice")
        sessions.append(a)
        a_id, a_authid = a.session_id, a.authid  # Autobahn forgets them on leave
        ev = await watcher.expect("join", "on_join of a")
        if ev is not None:
            details = ev[1]
            checks.equal("on_join details", details, {
                "session": a.session_id,
                "authid": a.authid,
                "authrole": "anonymous",
                "authmethod": "anonymous",
                "authprovider": "static",
                "transport": details.get("transport") if isinstance(details, dict) else None,
            })
            tr = details.get("transport", {}) if isinstance(details, dict) else {}
            checks.equal("on_join transport.type", tr.get("type"), transport)
            checks.equal("on_join transport.serializer", tr.get("serializer"), opts.serializer)
            checks.true("on_join transport.peer names an address: %r" % tr.get("peer"),
                        isinstance(tr.get("peer"), str) and ":" in tr.get("peer", ""))
            checks.equal("get(a)", await w.call("wamp.session.get", a.session_id), details)
        checks.equal("count", await w.call("wamp.session.count"), 2)
        checks.equal("count anonymous", await w.call("wamp.session.count", ["anonymous"]), 2)
        checks.equal("count of no role", await w.call("wamp.session.count", ["nobody"]), 0)
        checks.equal("list", sorted(await w.call("wamp.session.list")), sorted([w.session_id, a.session_id]))
        checks.equal("list of no role", await w.call("wamp.session.list", ["nobody"]), [])
        await checks.app_error("get of no session", "wamp.error.no_such_session",
                               w.call("wamp.session.get", 4242))
        await checks.app_error("get of a string", "wamp.error.invalid_argument",
                               w.call("wamp.session.get", "alice"))
        await checks.app_error("count of a string", "wamp.error.invalid_argument",
                               w.call("wamp.session.count", "anonymous"))

        # --- kill -------------------------------------------------------
        await checks.app_error("kill of oneself", "wamp.error.no_such_session",
                               w.call("wamp.session.kill", w.session_id))
        await checks.app_error("kill of no session", "wamp.error.no_such_session",
                               w.call("wamp.session.kill", 4242))
        await checks.app_error("kill with a bad reason", "wamp.error.invalid_uri",
                               w.call("wamp.session.kill", a.session_id, reason="not a uri"))
        left = leave_recorder(a)
        checks.equal("kill result", await w.call("wamp.session.kill", a.session_id,
                                                 reason="com.example.kicked", message="bye alice"), None)
        details = await checks.within(EVENT_TIMEOUT, "the killed session did not leave", left)
        if details is not None:
            checks.equal("killed session's GOODBYE reason", details.reason, "com.example.kicked")
            checks.equal("killed session's GOODBYE message", details.message, "bye alice")
        ev = await watcher.expect("leave", "on_leave of a")
        if ev is not None:
            checks.equal("on_leave args", ev[1], [a_id, a_authid, "anonymous"])
        checks.equal("count after the kill", await w.call("wamp.session.count"), 1)

        # --- testaments, published on a lost connection ------------------
        b = await connect(opts, "bob")
        sessions.append(b)
        b_id = b.session_id
        await watcher.expect("join", "on_join of b")
        gone = opts.prefix + ".gone"
        checks.equal("add_testament result", await b.call("wamp.session.add_testament", gone,
                                                          ["destroyed", 1], {"who": "bob"}), None)
        await b.call("wamp.session.add_testament", gone, ["detached", 2], {"who": "bob"}, scope="detached")
        await checks.app_error("add_testament with a bad scope", "wamp.error.invalid_argument",
                               b.call("wamp.session.add_testament", gone, [], {}, scope="forever"))
        await checks.app_error("add_testament with args not a list", "wamp.error.invalid_argument",
                               b.call("wamp.session.add_testament", gone, "bye", {}))
        b._transport.transport.abort()  # no GOODBYE: the connection is simply lost
        ev = await watcher.expect("testament", "first testament")
        if ev is not None:
            checks.equal("detached testament", [ev[1], ev[2]], [["detached", 2], {"who": "bob"}])
        ev = await watcher.expect("testament", "second testament")
        if ev is not None:
            checks.equal("destroyed testament", [ev[1], ev[2]], [["destroyed", 1], {"who": "bob"}])
        ev = await watcher.expect("leave", "on_leave of b")
        if ev is not None:
            checks.equal("on_leave of b", ev[1][0], b_id)

        # --- flush_testaments, then a clean leave --------------------------
        c = await connect(opts, "carol")
        sessions.append(c)
        c_id = c.session_id
        await watcher.expect("join", "on_join of c")
        await c.call("wamp.session.add_testament", gone, ["never"], {})
        await c.call("wamp.session.add_testament", gone, ["never"], {}, scope="detached")
        checks.equal("flush destroyed", await c.call("wamp.session.flush_testaments"), 1)
        checks.equal("flush detached", await c.call("wamp.session.flush_testaments", scope="detached"), 1)
        checks.equal("flush again", await c.call("wamp.session.flush_testaments", scope="detached"), 0)
        await close(checks, c)
        ev = await watcher.expect("leave", "on_leave of c (and no testament)")
        if ev is not None:
            checks.equal("on_leave of c", ev[1][0], c_id)

        # --- kill_by_authid, kill_by_authrole, kill_all --------------------
        d1 = await connect(opts, "d1")
        d2 = await connect(opts, "d2")
        sessions += [d1, d2]
        await watcher.expect("join", "on_join of d1")
        await watcher.expect("join", "on_join of d2")
        d1_left = leave_recorder(d1)
        d1_id, d2_id = d1.session_id, d2.session_id
        checks.equal("kill_by_authid", await w.call("wamp.session.kill_by_authid", d1.authid), [d1_id])
        details = await checks.within(EVENT_TIMEOUT, "d1 did not leave", d1_left)
        if details is not None:
            checks.equal("kill_by_authid GOODBYE reason", details.reason, "wamp.close.killed")
        ev = await watcher.expect("leave", "on_leave of d1")
        if ev is not None:
            checks.equal("on_leave of d1", ev[1][0], d1_id)
        checks.equal("kill_by_authid of nobody", await w.call("wamp.session.kill_by_authid", "nobody"), [])

        d2_left = leave_recorder(d2)
        checks.equal("kill_by_authrole", await w.call("wamp.session.kill_by_authrole", "anonymous",
                                                      message="all anonymous out"), 1)
        details = await checks.within(EVENT_TIMEOUT, "d2 did not leave", d2_left)
        if details is not None:
            checks.equal("kill_by_authrole GOODBYE message", details.message, "all anonymous out")
        ev = await watcher.expect("leave", "on_leave of d2")
        if ev is not None:
            checks.equal("on_leave of d2", ev[1][0], d2_id)

        e = await connect(opts, "e")
        sessions.append(e)
        await watcher.expect("join", "on_join of e")
        await e.call("wamp.session.add_testament", gone, ["not after kill_all"], {})
        e_left = leave_recorder(e)
        checks.equal("kill_all", await w.call("wamp.session.kill_all"), 1)
        try:
            await asyncio.wait_for(e_left, EVENT_TIMEOUT)
            await asyncio.wait_for(asyncio.shield(e.interop_closed), EVENT_TIMEOUT)
        except asyncio.TimeoutError:
            checks.fail("e did not leave within %.0fs" % EVENT_TIMEOUT)
        # kill_all publishes neither on_leave nor testaments.
        await watcher.nothing_more("after kill_all")
        checks.equal("count after kill_all", await w.call("wamp.session.count"), 1)
    finally:
        await close(checks, *sessions)


async def run(opts):
    return await run_scenarios(opts, {"meta": scenario_meta}, timeout=SCENARIO_TIMEOUT)


def main():
    ap = arg_parser(__doc__, roles=["meta"], prefix="interop.meta.python")
    ap.add_argument("--realm", required=True, help="a realm no other client uses meanwhile (connect joins it)")
    opts = parse_args(ap)
    interop_lib.run_main(run, opts, "meta")


if __name__ == "__main__":
    main()
