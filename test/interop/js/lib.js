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
// table of scenarios and runMain for the whole process.
//
// Autobahn|JS's JSON serializer does not convert binary values: with json
// the sessions use a replacer and reviver that implement WAMP's convention
// (a Buffer travels as "\u0000" + base64). Autobahn|JS speaks RawSocket in
// Node with JSON only and without them.
'use strict';

const crypto = require('crypto');
const autobahn = require('autobahn');

const REALM = 'realm1';
const JOIN_TIMEOUT = 10000;
const CLOSE_TIMEOUT = 5000;
const SCENARIO_TIMEOUT = 30000;
const MAX_ERRORS = 20;

// Values shared with test/interop/python/interop_lib.py: both sides must
// agree on them byte for byte.
const BLOB = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from([0, 0]),
  Buffer.from('junction'),
  Buffer.from([0xff, 0xfe, 0x80]),
]);
const TYPED = {
  int: 42,
  neg: -7,
  big: 9007199254740991,
  float: 0.5,
  pi: 3.141592653589793,
  negbig: -9007199254740991,
  zero: 0,
  true: true,
  false: false,
  null: null,
  str: 'h\u00e9llo \u2713 \u{1F600}',
  list: [1, 'two', 3.5],
  map: { a: 1 },
};

function bytesKwargs() {
  return {
    blob: BLOB,
    empty: Buffer.alloc(0),
    nested: { list: [Buffer.from([1, 2, 3])], text: 'not binary' },
    typed: TYPED,
  };
}

function sha256(b) {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function describe(v, limit = 200) {
  let s;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    s = `<${v.constructor.name} ${v.length} bytes ${Buffer.from(v).subarray(0, 16).toString('hex')}>`;
  } else {
    try {
      s = JSON.stringify(v);
    } catch (e) {
      s = String(v);
    }
    if (s === undefined) s = String(v);
  }
  return s.length > limit ? `${s.slice(0, limit)}...(${s.length} chars)` : s;
}

function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

// Structural comparison; binary values must arrive as Buffer/Uint8Array, not
// as strings or arrays. Returns a list of differences.
function diff(got, want, path = '$') {
  if (kind(got) !== kind(want)) {
    return [`${path}: got ${kind(got)} ${describe(got)}, want ${kind(want)} ${describe(want)}`];
  }
  switch (kind(want)) {
    case 'bytes':
      return Buffer.from(got).equals(Buffer.from(want)) ? []
        : [`${path}: got ${describe(got)} (sha256 ${sha256(got)}), want ${describe(want)} (sha256 ${sha256(want)})`];
    case 'array': {
      if (got.length !== want.length) {
        return [`${path}: got ${got.length} items ${describe(got)}, want ${want.length} items ${describe(want)}`];
      }
      return want.flatMap((w, i) => diff(got[i], w, `${path}[${i}]`));
    }
    case 'object': {
      const keys = [...new Set([...Object.keys(got), ...Object.keys(want)])].sort();
      return keys.flatMap((k) => {
        if (!(k in got)) return [`${path}.${k}: missing`];
        if (!(k in want)) return [`${path}.${k}: unexpected ${describe(got[k])}`];
        return diff(got[k], want[k], `${path}.${k}`);
      });
    }
    default:
      return Object.is(got, want) || got === want ? [] : [`${path}: got ${describe(got)}, want ${describe(want)}`];
  }
}

class Checks {
  constructor() {
    this.errors = [];
  }

  fail(msg) {
    this.errors.push(msg);
  }

  equal(what, got, want) {
    for (const d of diff(got, want)) this.fail(`${what}: ${d}`);
  }

  true(what, cond) {
    if (!cond) this.fail(what);
  }

  // Awaits promise and checks that it is rejected with WAMP error wantURI.
  async appError(what, wantURI, promise) {
    let res;
    try {
      res = await promise;
    } catch (e) {
      if (e instanceof autobahn.Error) {
        if (e.error !== wantURI) {
          this.fail(`${what}: got error ${e.error} ${describe(e.args)} ${describe(e.kwargs)}, want ${wantURI}`);
        }
        return e;
      }
      this.fail(`${what}: got ${describe(e && e.stack ? e.stack : e)}, want WAMP error ${wantURI}`);
      return null;
    }
    this.fail(`${what}: succeeded with ${describe(res)}, want error ${wantURI}`);
    return null;
  }

  // Awaits promise for at most ms milliseconds and resolves to its value;
  // on a timeout or a rejection fails with its message and resolves to
  // undefined.
  async within(ms, what, promise) {
    try {
      return await withTimeout(promise, ms, what);
    } catch (e) {
      this.fail(errorText(e));
      return undefined;
    }
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    Promise.resolve(promise).finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000}s`)), ms);
    }),
  ]);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Describes a rejection or exception for a failed check.
function errorText(e) {
  if (e instanceof autobahn.Error) return `unexpected WAMP error ${e.error} ${describe(e.args)}`;
  return e instanceof Error ? e.message : describe(e);
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
      let closedResolve;
      const closed = new Promise((r) => { closedResolve = r; });
      handle = { label, session, conn, details, id: session.id, authid: details.authid, closed, closedResolve };
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

// Prints the RESULT line of one scenario, which the Go test parses.
function resultLine(scenario, checks, info, seconds) {
  const out = { scenario, ok: checks.errors.length === 0 };
  if (checks.errors.length) {
    out.errors = checks.errors.slice(0, MAX_ERRORS);
    if (checks.errors.length > MAX_ERRORS) out.errors.push(`... and ${checks.errors.length - MAX_ERRORS} more`);
  }
  if (info) out.info = info;
  if (seconds !== undefined) out.seconds = Math.round(seconds * 1000) / 1000;
  console.log('RESULT ' + JSON.stringify(out));
}

// Runs the scenarios named by --scenarios (else names, else all), each as
// scenarios[name](opts, checks) within timeout ms, and prints a RESULT line
// for each, with what the scenario resolved to as its info. Resolves to
// whether all passed.
async function runScenarios(opts, scenarios, { names, timeout = SCENARIO_TIMEOUT } = {}) {
  let ok = true;
  for (const name of opts.scenarios ? opts.scenarios.split(',') : (names || Object.keys(scenarios))) {
    const checks = new Checks();
    let info;
    const start = performance.now();
    try {
      info = await withTimeout(scenarios[name](opts, checks), timeout, 'scenario');
    } catch (e) {
      checks.fail(errorText(e));
      if (e && e.stack) console.error(e.stack);
    }
    finishJSONChecks(checks);
    resultLine(name, checks, info, (performance.now() - start) / 1000);
    ok = ok && checks.errors.length === 0;
  }
  return ok;
}

// Parses `[ROLE] --flag value ...` into an object with defaults; flags are
// lower-case words. roles (if given) are the allowed first words, required
// the flags that must be given, scenarios the table --scenarios chooses
// from. A bad command line prints usage and exits 2.
function parseArgs(argv, { usage, roles, defaults = {}, required = ['url', 'serializer'], scenarios }) {
  const fail = (msg) => {
    console.error(`${msg}\nusage: ${usage}`);
    process.exit(2);
  };
  const opts = { scenarios: '', ...defaults };
  const rest = [...argv];
  if (roles) {
    opts.role = rest.shift();
    if (!roles.includes(opts.role)) fail(`unknown role ${opts.role}`);
  }
  while (rest.length) {
    const flag = rest.shift();
    const m = /^--([a-z]+)$/.exec(flag);
    if (!m || !rest.length) fail(`bad argument ${flag}`);
    opts[m[1]] = rest.shift();
  }
  const missing = required.filter((k) => !opts[k]);
  if (missing.length) fail(`${missing.map((k) => `--${k}`).join(' and ')} required`);
  for (const name of opts.scenarios.split(',').filter(Boolean)) {
    if (scenarios && !(name in scenarios)) fail(`unknown scenario ${name}`);
  }
  return opts;
}

// Runs fn and exits 0 if it resolved to true. If it throws (the router
// refused the connection, say), prints a failed RESULT for scenario and
// exits 1.
async function runMain(fn, scenario) {
  let ok = false;
  try {
    ok = await fn();
  } catch (e) {
    console.error(e && e.stack ? e.stack : e);
    console.log('RESULT ' + JSON.stringify({ scenario, ok: false, errors: [errorText(e)] }));
  }
  await sleep(0);
  process.exit(ok ? 0 : 1);
}

module.exports = {
  BLOB,
  CLOSE_TIMEOUT,
  JOIN_TIMEOUT,
  REALM,
  SCENARIO_TIMEOUT,
  TYPED,
  Checks,
  Refused,
  bytesKwargs,
  close,
  closeAll,
  connect,
  describe,
  diff,
  errorText,
  finishJSONChecks,
  kind,
  parseArgs,
  resultLine,
  runMain,
  runScenarios,
  sha256,
  sleep,
  withTimeout,
};
