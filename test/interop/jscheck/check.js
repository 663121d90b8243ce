// What the Node.js interop harnesses share, whatever WAMP library they
// drive: js/lib.js (Autobahn|JS, require('../jscheck/check.js')) and
// wampy/lib.mjs (wampy.js, import check from '../jscheck/check.js'). It
// uses Node's built-ins only, so that each harness directory keeps needing
// just its own node_modules; package.json next to it says CommonJS, which
// ES modules import as their default export.
//
// Here: strict structural comparison (describe, kind, diff: values.js's,
// which the browser page shares), bounded waits
// (withTimeout, sleep, deferred), the Checks collector, an in-order event
// queue (EventQueue), the check of a session's details in the session meta
// API (checkJoinDetails), the RESULT line the Go side parses,
//
//   RESULT {"scenario":"rpc","ok":false,"errors":["..."],"seconds":0.1}
//
// the scenario runner, command-line parsing and the process wrapper, and
// the cross-client binary payload (BLOB, TYPED, bytesKwargs, the same as
// python/interop_lib.py's) with the four roles that exchange it
// (bytesRoles). What depends on the library stays in its harness:
// connecting and closing, serializers, raw peers, how the library's WAMP
// errors read (a harness's Checks subclass overrides errorText and adds its
// own check of a WAMP error), and how it subscribes, publishes, registers
// and calls for the roles.
'use strict';

const crypto = require('crypto');

const REALM = 'realm1';
const JOIN_TIMEOUT = 10000;
const CLOSE_TIMEOUT = 5000;
// How long a scenario waits for something the router must make happen;
// only a bound against hanging, never a measurement.
const WAIT = 10000;
const SCENARIO_TIMEOUT = 30000;
const MAX_ERRORS = 20;

// --- values and comparison -------------------------------------------------

// The cross-client payload and the strict comparison are values.js's,
// which the browser page loads too; here the bytes are Buffers, as Node's
// WAMP libraries have them. BLOB is every byte value and a few more, TYPED
// the other kinds of value that travel next to it (both shared with
// test/interop/python/interop_lib.py byte for byte). describe shows a
// value in a failed check's message; diff compares structurally and
// strictly (an integer stays an integer of the same value and a number,
// not a BigInt; bytes arrive as a Uint8Array, a Buffer being one, with the
// same bytes; an absent value stays absent).
const values = require('./values.js');

const { beyond32, describe, diff, isID, kind, mapLeaves } = values;
const BLOB = Buffer.from(values.BLOB);
const TYPED = values.typed();

// bytesKwargs is the kwargs of the cross-client binary payload (its args
// are [BLOB]): bytes at the top, empty and nested in a list in a map.
function bytesKwargs() {
  return values.bytesKwargs((b) => Buffer.from(b));
}

function sha256(b) {
  return crypto.createHash('sha256').update(b).digest('hex');
}

// A JSON.stringify replacer that shows a BigInt as 123n (JSON.stringify
// throws on one).
function bigintReplacer(k, x) {
  return typeof x === 'bigint' ? `${x}n` : x;
}

// errorText describes a rejection or exception for a failed check: an
// Error as its message, after its name unless that is plain Error
// (TypeError: ..., UriError: ...), anything else as describe shows it. A
// harness puts its library's WAMP errors first (see Checks.errorText).
function errorText(e) {
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return describe(e);
}

// --- waiting ---------------------------------------------------------------

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

// deferred returns a promise with its resolve function, for waiting on an
// event a callback reports.
function deferred() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

// --- checks ----------------------------------------------------------------

// Checks collects the failed checks of one scenario. A harness subclasses
// it to name its library's errors (errorText), to check that a request
// failed with a given WAMP error, and to add checks that span a whole
// scenario (finish).
// (fail, equal and true are values.js's, which the browser page shares.)
class Checks extends values.Checks {
  // rejection awaits promise, which must be rejected: resolves to
  // { error } with what it was rejected with, or, if it succeeded, fails
  // with "what: succeeded with ..., want <want>" and resolves to null. A
  // harness's check of its library's WAMP errors starts here.
  async rejection(what, want, promise) {
    let res;
    try {
      res = await promise;
    } catch (error) {
      return { error };
    }
    this.fail(`${what}: succeeded with ${describe(res)}, want ${want}`);
    return null;
  }

  // Awaits promise for at most ms milliseconds and resolves to its value;
  // on a timeout or a rejection fails with its message and resolves to
  // undefined.
  async within(ms, what, promise) {
    try {
      return await withTimeout(promise, ms, what);
    } catch (e) {
      this.fail(this.errorText(e));
      return undefined;
    }
  }

  // errorText describes a rejection or exception; see errorText.
  errorText(e) {
    return errorText(e);
  }

  // finish adds the checks that span the whole scenario; runScenarios calls
  // it once the scenario has run.
  finish() {}
}

// --- rounds of events ------------------------------------------------------

// FenceInbox collects the events of one subscription in rounds. Events of
// one publisher reach a subscriber in order, so an event whose args are
// ['fence', n], published last, ends round n. A harness's subscription
// handler passes each event's args and the event as it wants to keep it
// to take.
class FenceInbox {
  constructor(name) {
    this.name = name;
    this.events = [];
    this.fences = new Map();
  }

  take(args, event) {
    if (args && args[0] === 'fence') {
      const f = this.fences.get(args[1]);
      if (f) f.resolve();
      return;
    }
    this.events.push(event);
  }

  // fence returns a promise of the end of round n.
  fence(n) {
    const d = deferred();
    this.fences.set(n, d);
    return d.promise;
  }
}

// --- events in order -------------------------------------------------------

// EventQueue keeps the events a subscriber receives, in the order they
// arrive, for a scenario to take one at a time and check that they come
// in the order it expects. An event is a list whose first item names its
// kind ('join', 'leave', ...); a subscription handler pushes it.
class EventQueue {
  constructor(ms = WAIT) {
    this.ms = ms;
    this.queue = [];
    this.waiting = null;
  }

  push(...ev) {
    this.queue.push(ev);
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w();
    }
  }

  // expect resolves to the next event, waiting at most ms for it, if it is
  // of kind k; else it fails checks (what names the wait) and resolves to
  // null.
  async expect(checks, k, what) {
    if (this.queue.length === 0) {
      try {
        await withTimeout(new Promise((r) => { this.waiting = r; }), this.ms, what);
      } catch (e) {
        this.waiting = null;
        checks.fail(`${what}: no ${k} event within ${this.ms / 1000}s`);
        return null;
      }
    }
    const ev = this.queue.shift();
    if (ev[0] !== k) {
      checks.fail(`${what}: got ${describe(ev)}, want a ${k} event`);
      return null;
    }
    return ev;
  }
}

// --- the session meta API ---------------------------------------------------

// checkJoinDetails checks the details dict wamp.session.on_join and
// wamp.session.get give for an anonymous session (id, authid) that came
// over transport ('websocket' or 'rawsocket') with serializer, without
// TLS: session, authid, authrole, authmethod, authprovider, and transport
// with type, serializer, peer (an address) and is_secure.
function checkJoinDetails(checks, what, details, { id, authid, transport, serializer }) {
  const tr = (details && details.transport) || {};
  checks.equal(what, details, {
    session: id,
    authid,
    authrole: 'anonymous',
    authmethod: 'anonymous',
    authprovider: 'static',
    transport: tr,
  });
  checks.equal(`${what}: transport type, serializer, is_secure`, [tr.type, tr.serializer, tr.is_secure],
    [transport, serializer, false]);
  checks.true(`${what}: transport.peer names an address: ${describe(tr.peer)}`, typeof tr.peer === 'string' && tr.peer.includes(':'));
}

// --- the cross-client binary roles ----------------------------------------

// How long a cross-client role waits for the other client's event or call.
const CROSS_WAIT = 20000;

// The error a callee-bytes role answers a call with whose payload differs,
// with the differences as its args.
const BAD_PAYLOAD = 'interop.error.bad_payload';

// bytesRoles returns the roles sub-bytes, pub-bytes, callee-bytes and
// caller-bytes, which the Go test pairs across libraries and serializers:
// a subscriber or callee prints READY once subscribed or registered, the
// other side then publishes or calls with [BLOB] and bytesKwargs(), which
// the subscriber, the callee and, from the callee's echo, the caller must
// get intact. Each role is a function of opts (--topic, --procedure and
// the connection's flags) that prints the role's RESULT line and resolves
// to whether it passed. lib is the harness's library:
//
// - Checks: its Checks class (its errorText, its finish);
// - connect(opts, label) resolves to a session handle, close(checks, h)
//   leaves with GOODBYE and checks that;
// - subscribe(h, topic, onEvent) calls onEvent(args, kwargs) per event;
// - publish(h, topic, args, kwargs), acknowledged, resolves to the
//   publication id;
// - register(h, procedure, serve): serve(args, kwargs) returns the failed
//   checks of an invocation; the callee answers with an ERROR BAD_PAYLOAD
//   carrying them, or else echoes args and kwargs;
// - answered(h) resolves once the callee's answer to its invocation has
//   gone out (GOODBYE follows it);
// - call(h, procedure, args, kwargs) resolves to { args, kwargs } of the
//   result;
// - expected(opts), if given, returns { args, kwargs } as the library
//   decodes the payload with opts.serializer (default [BLOB] and
//   bytesKwargs()).
function bytesRoles(lib) {
  const want = (opts) => (lib.expected ? lib.expected(opts) : { args: [BLOB], kwargs: bytesKwargs() });
  const checkPayload = (checks, opts, what, args, kwargs) => {
    const w = want(opts);
    checks.equal(`${what} args`, args || [], w.args);
    checks.equal(`${what} kwargs`, kwargs || {}, w.kwargs);
  };
  // role joins as label, runs body(checks, h), leaves, and prints the
  // RESULT line of role.
  const role = (name, label, body) => async (opts) => {
    const checks = new lib.Checks();
    const h = await lib.connect(opts, label);
    try {
      await body(opts, checks, h);
    } catch (e) {
      checks.fail(checks.errorText(e));
    }
    await lib.close(checks, h);
    checks.finish();
    resultLine(name, checks);
    return checks.errors.length === 0;
  };
  return {
    'sub-bytes': role('sub-bytes', 'subscriber', async (opts, checks, h) => {
      const event = deferred();
      await lib.subscribe(h, opts.topic, (args, kwargs) => event.resolve([args, kwargs]));
      console.log('READY');
      const [args, kwargs] = await withTimeout(event.promise, CROSS_WAIT, `event on ${opts.topic}`);
      checkPayload(checks, opts, 'event', args, kwargs);
    }),
    'pub-bytes': role('pub-bytes', 'publisher', async (opts, checks, h) => {
      const id = await lib.publish(h, opts.topic, [BLOB], bytesKwargs());
      checks.true(`acknowledged publish returned ${describe(id)}, not a publication id`, isID(id));
    }),
    'callee-bytes': role('callee-bytes', 'callee', async (opts, checks, h) => {
      const served = deferred();
      await lib.register(h, opts.procedure, (args, kwargs) => {
        const c = new lib.Checks();
        checkPayload(c, opts, 'invocation', args, kwargs);
        checks.errors.push(...c.errors);
        served.resolve();
        return c.errors;
      });
      console.log('READY');
      await withTimeout(served.promise, CROSS_WAIT, `invocation of ${opts.procedure}`);
      await lib.answered(h);
    }),
    'caller-bytes': role('caller-bytes', 'caller', async (opts, checks, h) => {
      let res;
      try {
        res = await lib.call(h, opts.procedure, [BLOB], bytesKwargs());
      } catch (e) {
        checks.fail(`call failed: ${checks.errorText(e)}`);
        return;
      }
      checkPayload(checks, opts, 'result', res.args, res.kwargs);
    }),
  };
}

// --- running ---------------------------------------------------------------

// resultLine prints the RESULT line of one scenario, which the Go test
// parses: at most MAX_ERRORS errors, info if given, seconds if given.
function resultLine(scenario, checks, info, seconds) {
  const out = { scenario, ok: checks.errors.length === 0 };
  if (checks.errors.length) {
    out.errors = checks.errors.slice(0, MAX_ERRORS);
    if (checks.errors.length > MAX_ERRORS) out.errors.push(`... and ${checks.errors.length - MAX_ERRORS} more`);
  }
  if (info) out.info = info;
  if (seconds !== undefined) out.seconds = Math.round(seconds * 1000) / 1000;
  console.log('RESULT ' + JSON.stringify(out, bigintReplacer));
}

// The Checks of the scenario runScenarios is running, which a promise
// rejection nobody handled fails, and how many such rejections came when
// none was running (they fail the process, in runMain).
let current = null;
let strayRejections = 0;
let watchingRejections = false;

function watchRejections() {
  if (watchingRejections) return;
  watchingRejections = true;
  process.on('unhandledRejection', (e) => {
    console.error('unhandled rejection:', e);
    if (current) {
      current.fail(`unhandled rejection: ${current.errorText(e)}`);
    } else {
      strayRejections++;
    }
  });
}

// runScenarios runs the scenarios named by --scenarios (else names, else
// all), each as scenarios[name](opts, checks) with a new Checks (or the
// harness's subclass) within timeout ms, and prints a RESULT line for
// each, with what the scenario resolved to as its info. A promise
// rejection nobody handled (wampy rejects the requests still pending when
// a connection drops) fails the scenario running at the time, or, outside
// one, the process. Resolves to whether all passed.
async function runScenarios(opts, scenarios, { Checks: NewChecks = Checks, names, timeout = SCENARIO_TIMEOUT } = {}) {
  watchRejections();
  let ok = true;
  for (const name of opts.scenarios ? opts.scenarios.split(',') : (names || Object.keys(scenarios))) {
    const checks = new NewChecks();
    current = checks;
    let info;
    const start = performance.now();
    try {
      info = await withTimeout(scenarios[name](opts, checks), timeout, 'scenario');
    } catch (e) {
      checks.fail(checks.errorText(e));
      if (e && e.stack) console.error(e.stack);
    }
    checks.finish();
    resultLine(name, checks, info, (performance.now() - start) / 1000);
    ok = ok && checks.errors.length === 0;
  }
  current = null;
  return ok;
}

// parseArgs parses `[ROLE] --flag value ...` into an object with defaults;
// flags are lower-case words. roles (if given) are the allowed first
// words, required the flags that must be given, scenarios the table
// --scenarios chooses from, and check(opts) (if given) returns a problem
// with the whole, or a falsy value. A bad command line prints usage and
// exits 2.
function parseArgs(argv, { usage, roles, defaults = {}, required = ['url', 'serializer'], scenarios, check }) {
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
  const problem = check && check(opts);
  if (problem) fail(problem);
  return opts;
}

// runMain runs fn and exits 0 if it resolved to true (and no promise
// rejection went unhandled outside a scenario). If it throws (the router
// refused the connection, say), prints a failed RESULT for scenario, with
// the error as text(e), and exits 1. It exits explicitly (a session a
// failed scenario left open would keep Node running), once stdout, a pipe
// to the Go test, has taken the RESULT lines.
async function runMain(fn, scenario, text = errorText) {
  let ok = false;
  try {
    ok = await fn();
  } catch (e) {
    console.error(e && e.stack ? e.stack : e);
    resultLine(scenario, { errors: [text(e)] });
  }
  if (strayRejections) {
    console.error(`${strayRejections} promise rejection(s) went unhandled outside the scenarios`);
    ok = false;
  }
  process.stdout.write('', () => process.exit(ok ? 0 : 1));
}

module.exports = {
  BAD_PAYLOAD,
  BLOB,
  CLOSE_TIMEOUT,
  CROSS_WAIT,
  JOIN_TIMEOUT,
  REALM,
  SCENARIO_TIMEOUT,
  TYPED,
  WAIT,
  Checks,
  EventQueue,
  FenceInbox,
  beyond32,
  bytesKwargs,
  bytesRoles,
  checkJoinDetails,
  deferred,
  describe,
  diff,
  errorText,
  isID,
  kind,
  mapLeaves,
  parseArgs,
  resultLine,
  runMain,
  runScenarios,
  sha256,
  sleep,
  withTimeout,
};
