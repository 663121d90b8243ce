// Helpers shared by the Autobahn|JS interop scripts (client.js,
// meta_session.js, rpc_advanced.js, pubsub_advanced.js, auth.js).
//
// The Go tests run each script as `node [--experimental-websocket] SCRIPT.js ...`
// in this directory; the scripts load this file with require('./lib.js').
//
// A script parses its command line with parseArgs, opens sessions with
// connect and closes them with close, collects failed checks in a Checks,
// and reports each scenario as one line
//
//   RESULT {"scenario":"rpc","ok":false,"errors":["..."],"seconds":0.1}
//
// (resultLine), which the Go side parses; runScenarios does that for a
// table of scenarios and runMain for the whole process. What does not
// depend on Autobahn|JS (comparison, Checks, the RESULT line, the runner,
// parseArgs, runMain) is ../jscheck/check.js, shared with wampy/lib.mjs;
// this file adds connecting, closing, serializers and Autobahn's errors.
// The values the Python scripts share (BLOB, TYPED, bytesKwargs) are
// check.js's too, and exported from here with the rest of it.
//
// Autobahn|JS's JSON serializer does not convert binary values: with json
// the sessions use a replacer and reviver that implement WAMP's convention
// (a Buffer travels as "\u0000" + base64). Autobahn|JS speaks RawSocket in
// Node with JSON only and without them.
'use strict';

const autobahn = require('autobahn');
const check = require('../jscheck/check.js');

const {
  CLOSE_TIMEOUT, JOIN_TIMEOUT, REALM, describe, withTimeout,
} = check;

// Checks (../jscheck/check.js) with Autobahn|JS's errors: appError, and
// errorText for within and the runner; finish reports non-canonical base64.
class Checks extends check.Checks {
  errorText(e) {
    return errorText(e);
  }

  finish() {
    finishJSONChecks(this);
  }

  // Awaits promise and checks that it is rejected with WAMP error wantURI.
  // Resolves to the error, or null.
  async appError(what, wantURI, promise) {
    const r = await this.rejection(what, `error ${wantURI}`, promise);
    if (!r) return null;
    const e = r.error;
    if (!(e instanceof autobahn.Error)) {
      this.fail(`${what}: got ${describe(e && e.stack ? e.stack : e)}, want WAMP error ${wantURI}`);
      return null;
    }
    if (e.error !== wantURI) {
      this.fail(`${what}: got error ${e.error} ${describe(e.args)} ${describe(e.kwargs)}, want ${wantURI}`);
    }
    return e;
  }
}

// Describes a rejection or exception for a failed check.
function errorText(e) {
  if (e instanceof autobahn.Error) return `unexpected WAMP error ${e.error} ${describe(e.args)}`;
  return check.errorText(e);
}

// WAMP's JSON convention for binary: "\u0000" followed by base64.
function jsonReplacer(key, value) {
  // JSON.stringify has already called Buffer.toJSON; look at the original.
  const orig = this[key];
  if (orig instanceof Uint8Array) {
    return '\u0000' + Buffer.from(orig.buffer, orig.byteOffset, orig.byteLength).toString('base64');
  }
  return value;
}

const nonCanonicalBase64 = [];

function jsonReviver(key, value) {
  if (typeof value === 'string' && value.length > 0 && value.charCodeAt(0) === 0) {
    const b64 = value.slice(1);
    const buf = Buffer.from(b64, 'base64');
    if (buf.toString('base64') !== b64) {
      nonCanonicalBase64.push(describe(value));
    }
    return buf;
  }
  return value;
}

function makeSerializer(name) {
  const s = autobahn.serializer;
  switch (name) {
    case 'json':
      return new s.JSONSerializer(jsonReplacer, jsonReviver);
    case 'msgpack':
      if (!s.MsgpackSerializer) throw new Error('autobahn has no msgpack serializer (msgpack5 missing?)');
      return new s.MsgpackSerializer();
    case 'cbor':
      if (!s.CBORSerializer) throw new Error('autobahn has no cbor serializer (cbor missing?)');
      return new s.CBORSerializer();
    default:
      throw new Error(`unknown serializer ${name}`);
  }
}

// Reports binary strings the router sent in non-canonical base64.
function finishJSONChecks(checks) {
  if (nonCanonicalBase64.length) {
    checks.fail(`router sent binary as non-canonical base64: ${nonCanonicalBase64.slice(0, 3).join(', ')}`);
    nonCanonicalBase64.length = 0;
  }
}

// The router closed a connection before its session joined (an ABORT):
// reason and msg are the ABORT's.
class Refused extends Error {
  constructor(label, reason, details) {
    super(`${label}: connection closed before joining: ${reason} ${describe(details)}`);
    this.reason = details && details.reason;
    this.msg = details && details.message;
  }
}

// Opens a connection to opts.url with opts.serializer, joins a realm (by
// default --realm if given, else realm1) and resolves to a handle: label,
// session, conn, the WELCOME details, id and authid, and closed, a promise
// of {reason, details} of the connection's end (also set as closeReason and
// closeDetails). auth holds Autobahn|JS's authentication options
// (authmethods, authid, authextra, onchallenge). A refused join rejects
// with Refused.
function connect(opts, label, { realm, auth = {}, joinTimeout = JOIN_TIMEOUT } = {}) {
  const url = new URL(opts.url);
  let transport;
  if (url.protocol === 'ws:') {
    if (typeof WebSocket === 'undefined') {
      throw new Error('no global WebSocket: use Node >= 22, or Node 20/21 with --experimental-websocket');
    }
    transport = { type: 'websocket', url: opts.url, serializers: [makeSerializer(opts.serializer)] };
  } else if (url.protocol === 'rs:') {
    if (opts.serializer !== 'json') {
      throw new Error(`autobahn-js RawSocket supports only json, not ${opts.serializer}`);
    }
    transport = { type: 'rawsocket', host: url.hostname, port: Number(url.port) };
  } else {
    throw new Error(`unsupported URL scheme in ${opts.url} (want ws:// or rs://)`);
  }

  return withTimeout(new Promise((resolve, reject) => {
    let handle = null;
    const conn = new autobahn.Connection({
      transports: [transport],
      realm: realm || opts.realm || REALM,
      max_retries: 0,
      retry_if_unreachable: false,
      ...auth,
    });
    conn.onopen = (session, details) => {
      const closed = check.deferred();
      handle = {
        label, session, conn, details, id: session.id, authid: details.authid,
        closed: closed.promise, closedResolve: closed.resolve,
      };
      resolve(handle);
    };
    conn.onclose = (reason, details) => {
      if (handle) {
        handle.closeReason = reason;
        handle.closeDetails = details;
        handle.closedResolve({ reason, details });
      } else {
        reject(new Refused(label, reason, details));
      }
      return true; // no reconnect
    };
    conn.open();
  }), joinTimeout, `${label}: join`);
}

// Leaves the realm with GOODBYE and waits for the connections to close;
// null handles are passed over. With clean, a connection must end as
// 'closed' (not lost).
async function closeAll(checks, handles, { timeout = CLOSE_TIMEOUT, clean = false } = {}) {
  await Promise.all(handles.filter(Boolean).map(async (h) => {
    try {
      if (h.session.isOpen) h.conn.close();
      const { reason } = await withTimeout(h.closed, timeout, `${h.label}: close`);
      if (clean && reason !== 'closed') checks.fail(`${h.label}: connection ended with ${reason}, not a clean close`);
    } catch (e) {
      checks.fail(`${h.label}: no clean close: ${e.message || e}`);
    }
  }));
}

async function close(checks, ...handles) {
  await closeAll(checks, handles);
}

// check.runScenarios with this file's Checks: the scenarios named by
// --scenarios (else names, else all), each within timeout ms, one RESULT
// line each. Resolves to whether all passed.
function runScenarios(opts, scenarios, { names, timeout } = {}) {
  return check.runScenarios(opts, scenarios, { Checks, names, timeout });
}

// check.runMain with Autobahn's errors: runs fn, prints a failed RESULT
// for scenario if it throws, and exits 0 only if it resolved to true.
function runMain(fn, scenario) {
  return check.runMain(fn, scenario, errorText);
}

// Everything ../jscheck/check.js exports (comparison, waits, resultLine,
// parseArgs, the timeouts, the cross-client payload and roles), with this
// file's Checks, errorText, runScenarios and runMain, and what is
// Autobahn|JS's own.
module.exports = {
  ...check,
  Checks,
  Refused,
  close,
  closeAll,
  connect,
  errorText,
  finishJSONChecks,
  runMain,
  runScenarios,
};
