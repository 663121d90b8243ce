#!/usr/bin/python3
"""Autobahn|Python authenticates to Junction: the interop tests of issue 5.

Run by test/interop/auth_test.go against a router serving
examples/config/auth.yaml (with one more public key for device-1, whose
private key --device-key gives) and the realms dyn and trusted:

    auth.py --url ws://127.0.0.1:8080/ws --serializer json --device-key HEX \\
        --scenarios login,failures,permissions,dynamic

prints one line per scenario, RESULT {"scenario": ..., "ok": ..., "errors": [...]},
and exits 0 only if every scenario passed.

login: ticket, wampcra, wampcra salted, scram (Autobahn's name for
wamp-scram; Argon2id, with the router's signature checked) and cryptosign
log in with the example's credentials, and WELCOME says who they are.
failures: wrong secrets and unknown authids are refused with
wamp.error.authentication_failed and the same message; an unknown method
with wamp.error.no_auth_method.
permissions: the public role (anonymous) and the device role are refused
what their roles do not allow, with wamp.error.not_authorized, and do what
they allow.
dynamic: a component in realm trusted registers a dynamic authenticator
and a dynamic authorizer for realm dyn, which decide who gets in and what
they may do.
"""

import asyncio
import traceback

import interop_lib  # first: it selects asyncio for txaio
from interop_lib import Refused, arg_parser, close, connect, parse_args, run_scenarios

from autobahn.wamp import auth as wamp_auth  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402

JOIN_TIMEOUT = 15.0
SCENARIO_TIMEOUT = 60.0


async def join(opts, realm, label, **auth):
    """Joins realm, authenticating as auth says (see interop_lib.connect);
    returns the session, or raises Refused."""
    return await connect(opts, label, realm=realm, join_timeout=JOIN_TIMEOUT, **auth)


def ticket(secret):
    return dict(authmethods=["ticket"], on_challenge=lambda c: secret)


def wampcra(authid, secret):
    return dict(authmethods=["wampcra"], authenticator=wamp_auth.AuthWampCra(authid=authid, secret=secret))


def scram(authid, password):
    return dict(authmethods=["scram"], authenticator=wamp_auth.AuthScram(authid=authid, password=password))


def cryptosign(privkey):
    return dict(authmethods=["cryptosign"], authenticator=wamp_auth.AuthCryptoSign(privkey=privkey))


def check_welcome(checks, what, s, authid, authrole, authmethod, authprovider="static"):
    d = s.interop_details
    checks.equal(what + " WELCOME authid", d.authid, authid)
    checks.equal(what + " WELCOME authrole", d.authrole, authrole)
    checks.equal(what + " WELCOME authmethod", d.authmethod, authmethod)
    checks.equal(what + " WELCOME authprovider", d.authprovider, authprovider)


async def scenario_login(opts, checks):
    sessions = []
    try:
        for what, authid, kw, method in [
            ("ticket", "ticket-user", ticket("ticket-secret"), "ticket"),
            ("wampcra", "cra-user", wampcra("cra-user", "cra-secret"), "wampcra"),
            ("wampcra salted", "cra-salted", wampcra("cra-salted", "cra-secret"), "wampcra"),
            ("scram", "scram-user", scram("scram-user", "scram-secret"), "wamp-scram"),
        ]:
            try:
                s = await join(opts, "realm1", what, authid=authid, **kw)
            except Exception as e:  # noqa: BLE001
                checks.fail("%s login as %s: %s" % (what, authid, e))
                continue
            sessions.append(s)
            check_welcome(checks, what, s, authid, "backend", method)
            if what == "scram":
                checks.true("scram: WELCOME carries the server signature Autobahn verified",
                            "scram_server_signature" in (s.interop_details.authextra or {}))
        # cryptosign without an authid: the router finds device-1 by its key.
        try:
            s = await join(opts, "realm1", "cryptosign", **cryptosign(opts.device_key))
            sessions.append(s)
            check_welcome(checks, "cryptosign", s, "device-1", "device", "cryptosign")
        except Exception as e:  # noqa: BLE001
            checks.fail("cryptosign login as device-1: %s" % e)
        s = await join(opts, "realm1", "anonymous")
        sessions.append(s)
        checks.equal("anonymous authrole", s.interop_details.authrole, "public")
        checks.equal("anonymous authmethod", s.interop_details.authmethod, "anonymous")
    finally:
        await close(checks, *sessions)


async def scenario_failures(opts, checks):
    other_key = "0" * 63 + "1"
    messages = set()
    for what, authid, kw, want in [
        ("wrong ticket", "ticket-user", ticket("wrong"), "wamp.error.authentication_failed"),
        ("unknown authid (ticket)", "nobody", ticket("ticket-secret"), "wamp.error.authentication_failed"),
        ("wrong wampcra secret", "cra-user", wampcra("cra-user", "wrong"), "wamp.error.authentication_failed"),
        ("wrong salted secret", "cra-salted", wampcra("cra-salted", "wrong"), "wamp.error.authentication_failed"),
        ("unknown authid (wampcra)", "nobody", wampcra("nobody", "cra-secret"), "wamp.error.authentication_failed"),
        ("wrong scram password", "scram-user", scram("scram-user", "wrong"), "wamp.error.authentication_failed"),
        ("unknown cryptosign key", None, cryptosign(other_key), "wamp.error.authentication_failed"),
        ("method the realm lacks", "x", dict(authmethods=["tls"], on_challenge=lambda c: ""), "wamp.error.no_auth_method"),
    ]:
        try:
            s = await join(opts, "realm1", what, authid=authid, **kw)
            checks.fail("%s: joined as %s, want %s" % (what, s.interop_details.authid, want))
            await close(checks, s)
        except Refused as e:
            checks.equal(what + ": ABORT reason", e.reason, want)
            if want == "wamp.error.authentication_failed":
                messages.add(e.message)
        except Exception as e:  # noqa: BLE001
            checks.fail("%s: %s: %s, want ABORT %s" % (what, type(e).__name__, e, want))
    checks.equal("refusals all say the same (an authid's existence does not show)", len(messages), 1)


async def scenario_permissions(opts, checks):
    backend = device = public = None
    try:
        backend = await join(opts, "realm1", "backend", authid="ticket-user", **ticket("ticket-secret"))
        device = await join(opts, "realm1", "device", **cryptosign(opts.device_key))
        public = await join(opts, "realm1", "public")
        await backend.register(lambda: "tick", "public.time")
        await backend.register(lambda: "hidden", "private.time")

        # public: may call and subscribe under public., nothing else.
        checks.equal("public calls public.time", (await public.call("public.time")), "tick")
        await public.subscribe(lambda *a: None, "public.news")
        await checks.app_error("public calls private.time", "wamp.error.not_authorized", public.call("private.time"))
        await checks.app_error("public registers public.x", "wamp.error.not_authorized", public.register(lambda: 1, "public.x"))
        await checks.app_error("public publishes (acknowledged)", "wamp.error.not_authorized",
                               public.publish("public.news", 1, options=PublishOptions(acknowledge=True)))
        await checks.app_error("public subscribes private.news", "wamp.error.not_authorized", public.subscribe(lambda *a: None, "private.news"))
        await checks.app_error("public calls a meta procedure", "wamp.error.not_authorized", public.call("wamp.session.count"))

        # device: may register and publish under device.device-1., nothing else.
        got = []
        await backend.subscribe(lambda v: got.append(v), "device.device-1.temp")
        await device.register(lambda: "rebooting", "device.device-1.reboot")
        checks.equal("backend calls the device", (await backend.call("device.device-1.reboot")), "rebooting")
        await device.publish("device.device-1.temp", 21, options=PublishOptions(acknowledge=True))
        await checks.app_error("device registers another's procedure", "wamp.error.not_authorized",
                               device.register(lambda: 1, "device.device-2.reboot"))
        await checks.app_error("device publishes to another's topic", "wamp.error.not_authorized",
                               device.publish("device.device-2.temp", 1, options=PublishOptions(acknowledge=True)))
        await checks.app_error("device calls", "wamp.error.not_authorized", device.call("device.device-1.reboot"))
        await checks.app_error("device subscribes", "wamp.error.not_authorized", device.subscribe(lambda *a: None, "device.device-1.temp"))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        checks.equal("the device's publication reached the backend", got, [21])
    except Exception as e:  # noqa: BLE001
        checks.fail("%s: %s" % (type(e).__name__, e))
    finally:
        await close(checks, backend, device, public)


async def scenario_dynamic(opts, checks):
    trusted = alice = svc = None
    asked = []
    try:
        trusted = await join(opts, "trusted", "trusted component")

        def authenticate(realm, authid, details):
            asked.append((realm, authid, details.get("authmethod")))
            if authid == "alice" and details.get("ticket") == "letmein":
                return {"role": "reader", "extra": {"motd": "hello alice"}}
            if authid == "svc" and details.get("ticket") == "svc-secret":
                return "service"
            raise ApplicationError("wamp.error.not_authorized", "who are you?")

        def authorize(session, uri, action, options):
            return session["authrole"] == "reader" and uri.startswith("dyn.allowed.") and action in ("call", "subscribe")

        await trusted.register(authenticate, "interop.authenticate")
        await trusted.register(authorize, "interop.authorize")

        svc = await join(opts, "dyn", "service", authid="svc", **ticket("svc-secret"))
        check_welcome(checks, "service", svc, "svc", "service", "ticket", "dynamic")
        await svc.register(lambda x: x, "dyn.allowed.echo")
        await svc.register(lambda: "no", "dyn.secret")

        alice = await join(opts, "dyn", "alice", authid="alice", **ticket("letmein"))
        check_welcome(checks, "alice", alice, "alice", "reader", "ticket", "dynamic")
        checks.equal("alice's authextra", alice.interop_details.authextra, {"motd": "hello alice"})
        checks.equal("authenticator asked", asked[-1], ("dyn", "alice", "ticket"))
        checks.equal("alice calls dyn.allowed.echo", (await alice.call("dyn.allowed.echo", "hi")), "hi")
        await alice.subscribe(lambda *a: None, "dyn.allowed.news")
        await checks.app_error("alice calls dyn.secret", "wamp.error.not_authorized", alice.call("dyn.secret"))
        await checks.app_error("alice registers", "wamp.error.not_authorized", alice.register(lambda: 1, "dyn.allowed.mine"))
        try:
            s = await join(opts, "dyn", "mallory", authid="mallory", **ticket("guess"))
            checks.fail("mallory joined as %s" % s.interop_details.authrole)
            await close(checks, s)
        except Refused as e:
            checks.equal("mallory's ABORT", (e.reason, e.message), ("wamp.error.not_authorized", "who are you?"))
    except Exception as e:  # noqa: BLE001
        checks.fail("%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
    finally:
        await close(checks, alice, svc, trusted)


SCENARIOS = {
    "login": scenario_login,
    "failures": scenario_failures,
    "permissions": scenario_permissions,
    "dynamic": scenario_dynamic,
}


async def run(opts):
    return await run_scenarios(opts, SCENARIOS, timeout=SCENARIO_TIMEOUT)


def main():
    ap = arg_parser(__doc__, scenarios=SCENARIOS)
    ap.add_argument("--device-key", required=True, help="device-1's private key (hex seed)")
    interop_lib.run_main(run, parse_args(ap, SCENARIOS), "auth")


if __name__ == "__main__":
    main()
