// Helpers for the wampy.js interop script (client.mjs): sessions, a raw
// WAMP peer, checks and the RESULT lines the Go side parses. What does not
// depend on wampy (strict comparison, Checks, the RESULT line, the runner,
// parseArgs, runMain, the cross-client payload and roles) is
// ../jscheck/check.js, shared with js/lib.js (the Autobahn|JS harness) and
// built on Node alone, so that this directory needs only the wampy package
// pinned by its own package-lock.json; this file adds wampy's sessions,
// serializers and errors, how values look as wampy sends and receives
// them, and a raw callee.
//
// The Go test runs `node client.mjs suite --url ws://HOST:PORT/ws
// --serializer json|msgpack|cbor --prefix P --scenarios a,b` in this
// directory; each scenario prints one line
//
//   RESULT {"scenario":"rpc","ok":false,"errors":["..."],"seconds":0.1}
//
// Every wampy session is tapped: a wrapper around wampy's own serializer
// keeps each WAMP message the router sent it, as decoded, and each one
// wampy sends. wampy hides some of them (it drops an EVENT for a
// subscription it has forgotten, it does not tell why a connection closed,
// nor when it has answered an INVOCATION), and the checks need to see
// those.

import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import { CborSerializer } from 'wampy/CborSerializer.js';
import WebSocket from 'ws';
import check from '../jscheck/check.js';

const {
  CLOSE_TIMEOUT, EventQueue, FenceInbox, JOIN_TIMEOUT, REALM, WAIT, checkJoinDetails, deferred, describe, diff, isID, kind, withTimeout,
} = check;

export {
  EventQueue, FenceInbox, WAIT, checkJoinDetails, deferred, describe, diff, isID, kind, withTimeout,
};

// The cross-client payload and roles (see check.bytesRoles).
export const {
  BAD_PAYLOAD, BLOB, bytesKwargs, bytesRoles,
} = check;

// WAMP message types the scripts look for in what the router sent.
export const MSG = {
  HELLO: 1, WELCOME: 2, ABORT: 3, GOODBYE: 6, ERROR: 8, PUBLISH: 16, EVENT: 36, CALL: 48, CANCEL: 49, RESULT: 50,
  REGISTER: 64, REGISTERED: 65,
  INVOCATION: 68, INTERRUPT: 69, YIELD: 70,
};

const SERIALIZERS = { json: JsonSerializer, msgpack: MsgpackSerializer, cbor: CborSerializer };

function makeSerializer(name) {
  const S = SERIALIZERS[name];
  if (!S) throw new Error(`unknown serializer ${name} (want json, msgpack or cbor)`);
  return new S();
}

// tap wraps a wampy serializer so that every message decoded is also kept
// in received, and every message encoded is handed to onSent. wampy takes
// any object with protocol, isBinary, encode and decode (its documented
// custom serializer interface), and sends what encode returned right away
// (or, before WELCOME, queues it).
function tap(inner, received, onSent) {
  return {
    protocol: inner.protocol,
    isBinary: inner.isBinary,
    encode: (msg) => {
      const data = inner.encode(msg);
      onSent(msg);
      return data;
    },
    decode: (data) => {
      const msg = inner.decode(data);
      received.push(msg);
      return msg;
    },
  };
}

// --- values as wampy has them ----------------------------------------------

// beyond32 (an integer that fits in no 32-bit MessagePack integer) and
// mapLeaves (f applied to every leaf, bytes included) are check.js's.
const { beyond32, mapLeaves } = check;

// asSent returns v as an application hands it to wampy to send it intact:
//
// - bytes as plain Uint8Arrays, as a browser has them (under Node cbor-x
//   marks a Uint8Array with CBOR tag 64, "uint8 typed array", and sends a
//   Buffer untagged: so this is what wampy sends from a browser);
// - an integer beyond 32 bits as a BigInt: wampy's encoders (msgpackr,
//   cbor-x) send such a number as a float64, and a BigInt as a 64-bit
//   integer.
export function asSent(v) {
  return mapLeaves(v, (x) => {
    if (x instanceof Uint8Array) return new Uint8Array(x); // a copy, never a Buffer
    return beyond32(x) ? BigInt(x) : x;
  });
}

// asReceived returns v as wampy decodes it with serializer: msgpackr (its
// MessagePack, with msgpackr's defaults) decodes a uint64 or int64 as a
// BigInt, and the router sends an integer beyond 32 bits as one of those
// (the shortest form); cbor-x, with wampy's int64AsNumber, gives numbers.
export function asReceived(v, serializer) {
  return serializer === 'msgpack' ? mapLeaves(v, (x) => (beyond32(x) ? BigInt(x) : x)) : v;
}

// --- IDs and errors --------------------------------------------------------

// sameID compares IDs that may be numbers or BigInts: wampy's MessagePack
// serializer (msgpackr with its defaults) decodes any uint64 as a BigInt,
// and the router sends IDs of 2^32 and more as uint64 (their shortest
// MessagePack form), so with msgpack session and publication IDs are
// BigInts (check.isID takes them).
export function sameID(a, b) {
  return (typeof a === 'number' || typeof a === 'bigint') && String(a) === String(b);
}

// errorText describes a rejection or exception for a failed check: one
// of wampy's WAMP errors (Errors.CallError, ...) with its URI, args and
// kwargs, anything else as check.errorText does.
export function errorText(e) {
  if (e && typeof e.errorUri === 'string') {
    // wampy's own ProtocolViolationError says what it saw in its message.
    const msg = e.name === 'ProtocolViolationError' ? ` (${e.message})` : '';
    return `${e.name} ${e.errorUri}${msg} ${describe(e.argsList)} ${describe(e.argsDict)}`;
  }
  return check.errorText(e);
}

// Checks (../jscheck/check.js) with wampy's errors: wampError, and
// errorText for within and the runner.
export class Checks extends check.Checks {
  errorText(e) {
    return errorText(e);
  }

  // Awaits promise and checks that it is rejected with one of wampy's
  // error classes (Errors.CallError, Errors.RegisterError, ...), carrying
  // the router's error URI wantURI. Resolves to the error, or null.
  async wampError(what, ErrorClass, wantURI, promise) {
    const want = `${ErrorClass.name} ${wantURI}`;
    const r = await this.rejection(what, want, promise);
    if (!r) return null;
    if (!(r.error instanceof ErrorClass)) {
      this.fail(`${what}: got ${errorText(r.error)}, want ${want}`);
      return null;
    }
    if (r.error.errorUri !== wantURI) this.fail(`${what}: got ${errorText(r.error)}, want ${wantURI}`);
    return r.error;
  }
}

// --- wampy sessions --------------------------------------------------------

// connect opens a wampy session to opts.url with opts.serializer in realm
// (default --realm if given, else realm1) and resolves to a handle: label,
// wampy (the Wampy instance), id, authid, welcome (WELCOME.Details),
// received (every message the router sent, decoded),
// sent (every message wampy sent, before encoding; see sentMessage),
// errors (what wampy reported to onError), socket (the WebSocket wampy
// uses) and closed (a promise of the WebSocket's close event: code,
// reason, wasClean).
//
// wampy needs a WebSocket class on Node; it is ws's, as wampy's README
// says, subclassed to see the negotiated subprotocol and the close event.
// Reconnecting is off: a dropped connection must fail the scenario, not be
// hidden by a new session.
//
// auth holds wampy's authentication options (authid, authmethods,
// authextra, onChallenge, authPlugins, authMode, uriValidation...), passed
// to the Wampy constructor as they are; configure(wampy), if given, runs
// before connecting. A refused join rejects with an Error whose cause is
// wampy's own error (an Errors.AbortError for the router's ABORT).
export async function connect(opts, label, { realm = opts.realm || REALM, auth = {}, configure } = {}) {
  const received = [];
  const sent = [];
  const sendWatchers = new Set();
  const onSent = (msg) => {
    sent.push(msg);
    for (const w of sendWatchers) w(msg);
  };
  const errors = [];
  const closed = deferred();
  let protocol = null;
  let socket = null;
  class TappedWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      socket = this;
      this.addEventListener('open', () => { protocol = this.protocol; });
      this.addEventListener('close', (ev) => closed.resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean }));
    }
  }
  const wampy = new Wampy(opts.url, {
    ws: TappedWebSocket,
    realm,
    serializer: tap(makeSerializer(opts.serializer), received, onSent),
    autoReconnect: false,
    onError: (e) => errors.push(e),
    ...auth,
  });
  if (configure) configure(wampy);
  let welcome;
  try {
    welcome = await withTimeout(wampy.connect(), JOIN_TIMEOUT, 'join');
  } catch (e) {
    throw new Error(`${label}: joining ${realm} at ${opts.url} with ${opts.serializer}: ${errorText(e)}`, { cause: e });
  }
  // wampy goes on in JSON, silently, if the router picks wamp.2.json.
  if (protocol !== `wamp.2.${opts.serializer}`) {
    throw new Error(`${label}: the router chose WebSocket subprotocol ${describe(protocol)}, want wamp.2.${opts.serializer}`);
  }
  return {
    label, wampy, id: wampy.getSessionId(), authid: welcome.authid, welcome, received, sent, sendWatchers, errors,
    socket, closed: closed.promise,
  };
}

// sentMessage resolves to the first message session h has sent for which
// pred is true, once wampy has handed it to its WebSocket, or rejects after
// WAIT: what is waited for.
export function sentMessage(h, pred, what) {
  const found = h.sent.find(pred);
  if (found) return Promise.resolve(found);
  const d = deferred();
  const watch = (msg) => {
    if (pred(msg)) d.resolve(msg);
  };
  h.sendWatchers.add(watch);
  return withTimeout(d.promise, WAIT, `${h.label}: ${what}`).finally(() => h.sendWatchers.delete(watch));
}

// close leaves with GOODBYE (wampy's disconnect) and waits for the
// connection to close; null handles are passed over. The router must
// answer with GOODBYE wamp.close.goodbye_and_out, and wampy must have
// reported no error during the session.
export async function close(checks, ...handles) {
  await Promise.all(handles.filter(Boolean).map(async (h) => {
    try {
      await withTimeout(h.wampy.disconnect(), CLOSE_TIMEOUT, `${h.label}: disconnect`);
      await withTimeout(h.closed, CLOSE_TIMEOUT, `${h.label}: WebSocket close`);
    } catch (e) {
      checks.fail(`${h.label}: no clean close: ${errorText(e)}`);
    }
    const goodbye = h.received.find((m) => m[0] === MSG.GOODBYE);
    if (!goodbye) {
      checks.fail(`${h.label}: the connection closed without the router's GOODBYE; last message: ${describe(h.received.at(-1))}`);
    } else {
      checks.equal(`${h.label}: reason of the router's GOODBYE`, goodbye[2], 'wamp.close.goodbye_and_out');
    }
    if (h.errors.length) {
      checks.fail(`${h.label}: wampy reported ${h.errors.map(errorText).join('; ')}; `
        + `the last messages from the router: ${describe(h.received.slice(-3), 400)}`);
    }
  }));
}

// --- raw WAMP --------------------------------------------------------------

// rawCallee is a minimal WAMP callee over WebSocket, with the scenario's
// serializer (wampy's serializer classes encode and decode its messages),
// for what no wampy session can be: wampy as a callee announces neither
// progressive call results nor call canceling, so the router rightly
// never offers it progress. features are HELLO.Details.roles.callee.features;
// onInvocation(raw, request, details, args, kwargs) answers INVOCATIONs
// with raw.send, and onInterrupt(raw, request, options), if given, handles
// INTERRUPTs (without it an INTERRUPT fails close). Resolves once joined
// to a handle with register(procedure) and close(checks).
export function rawCallee(opts, label, features, onInvocation, onInterrupt) {
  const ser = makeSerializer(opts.serializer);
  const raw = { label, messages: [], pending: new Map(), nextID: 1 };
  const closed = deferred();
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, [`wamp.2.${ser.protocol}`]);
    ws.binaryType = 'arraybuffer';
    raw.send = (m) => ws.send(ser.encode(m));
    raw.register = (procedure) => withTimeout(new Promise((res, rej) => {
      const id = raw.nextID++;
      raw.pending.set(id, { res, rej });
      raw.send([MSG.REGISTER, id, {}, procedure]);
    }), WAIT, `${label}: register ${procedure}`);
    raw.close = async (checks) => {
      raw.send([MSG.GOODBYE, {}, 'wamp.close.close_realm']);
      try {
        await withTimeout(closed.promise, CLOSE_TIMEOUT, `${label}: close`);
      } catch (e) {
        checks.fail(errorText(e));
      }
      const goodbye = raw.messages.find((m) => m[0] === MSG.GOODBYE);
      checks.equal(`${label}: reason of the router's GOODBYE`, goodbye && goodbye[2], 'wamp.close.goodbye_and_out');
      const expected = [MSG.WELCOME, MSG.REGISTERED, MSG.INVOCATION, MSG.GOODBYE, ...(onInterrupt ? [MSG.INTERRUPT] : [])];
      const odd = raw.messages.filter((m) => !expected.includes(m[0]));
      checks.true(`${label}: unexpected messages from the router: ${describe(odd)}`, odd.length === 0);
    };
    ws.onerror = (e) => reject(new Error(`${label}: WebSocket error: ${e.message || e.type}`));
    ws.onclose = () => {
      closed.resolve();
      reject(new Error(`${label}: connection closed before WELCOME: ${describe(raw.messages)}`));
    };
    ws.onopen = () => raw.send([MSG.HELLO, REALM, { roles: { callee: { features } } }]);
    ws.onmessage = (ev) => {
      const m = ser.decode(ev.data);
      raw.messages.push(m);
      // Anything else (an ABORT, an answer to no request) is reported by close.
      switch (m[0]) {
        case MSG.WELCOME: resolve(raw); break;
        case MSG.REGISTERED: raw.pending.get(m[1])?.res(m[2]); break;
        case MSG.ERROR:
          if (m[1] === MSG.REGISTER) raw.pending.get(m[2])?.rej(new Error(`${label}: REGISTER refused: ${describe(m)}`));
          break;
        case MSG.INVOCATION: onInvocation(raw, m[1], m[3], m[4], m[5]); break;
        case MSG.INTERRUPT: if (onInterrupt) onInterrupt(raw, m[1], m[2]); break;
        default: break;
      }
    };
  }), JOIN_TIMEOUT, `${label}: join`);
}

// --- running ---------------------------------------------------------------

// runScenarios runs the scenarios named by --scenarios (else all), each as
// scenarios[name](opts, checks) with this file's Checks, within
// timeout ms (default check.SCENARIO_TIMEOUT), and prints a RESULT line
// for each. A promise rejection nobody handled (wampy rejects the requests
// still pending when a connection drops) fails the scenario running at the
// time. Resolves to whether all passed.
export function runScenarios(opts, scenarios, { timeout } = {}) {
  return check.runScenarios(opts, scenarios, { Checks, timeout });
}

// parseArgs parses `ROLE --flag value ...` (check.parseArgs), ROLE one of
// roles (if given); flags are lower-case words, --url and --serializer
// (json, msgpack or cbor) are required, and so are the flags in required,
// if given; check(opts), if given, returns a problem with the whole. A bad
// command line prints usage and exits 2.
export function parseArgs(argv, {
  usage, roles, scenarios, required = [], check: checkOpts,
}) {
  return check.parseArgs(argv, {
    usage,
    roles,
    required: ['url', 'serializer', ...required],
    defaults: { prefix: 'interop.wampy', topic: 'interop.cross.bytes', procedure: 'interop.cross.echo_bytes' },
    scenarios,
    check: (opts) => (opts.serializer in SERIALIZERS ? checkOpts && checkOpts(opts) : `unknown serializer ${opts.serializer}`),
  });
}

// runMain runs fn and exits 0 if it resolved to true. If it throws,
// prints a failed RESULT for scenario and exits 1 (check.runMain, with
// wampy's errors).
export function runMain(fn, scenario) {
  return check.runMain(fn, scenario, errorText);
}
