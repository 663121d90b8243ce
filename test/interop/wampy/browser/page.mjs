// The page's checks: wampy.js, from its browser build (wampy.js and
// wampy-all.js from the npm package's dist/browser, loaded by index.html as
// classic scripts: the globals Wampy, JsonSerializer, MsgpackSerializer and
// CborSerializer), joins the router over the browser's own WebSocket with
// each serializer and runs the CHECKS below, all serializers at once, with
// two wampy sessions each: A publishes and calls, B subscribes and answers
// calls (its procedure reply answers with what A sent, its procedure fail
// with an application error).
//
// The query string says where: router (the ws:// URL) and prefix (of every
// URI; each serializer adds its name). The Go test has a Go client session
// per serializer, of the same serializer, subscribed to PREFIX.S.go.events
// and registered as PREFIX.S.go.reply before the page opens.
//
// The result is window.report, once window.report.done:
//
//   { done, errors: [...], serializers: { json: { checks: { pubsub: [], rpc: ["..."] }, goPublication: "123" } } }
//
// with the failures of each check (none: it passed) and the publication id
// the router gave the event the Go client must have got. check.mjs, run by
// the Go test, waits for it and prints it.
//
// wampy 8.0.2 quirks the page works around:
//
// - publish sends exclude_me only when true, so a publisher cannot ask for
//   its own events. The page's publish (below) hands wampy
//   { exclude_me: false } as an application would, and the session's
//   serializer wrapper puts it back into the PUBLISH it encodes.
// - its browser build decodes a CBOR negative integer below -2^32 wrongly
//   (values.mjs's cborNegative): the page expects the value as it decodes
//   it and checks the bytes it arrived in (checkCborWire); B's procedure
//   answers with what A sent, not with what B decoded.

import {
  Checks, asReceived, asSent, binary, cborNegativeBytes, count, describe, isID, isNegative64, leaves, plain,
} from './values.mjs';

const params = new URLSearchParams(window.location.search);
const ROUTER = params.get('router');
const PREFIX = params.get('prefix') || 'interop.browser';
const REALM = 'realm1';

const SERIALIZERS = {
  json: globalThis.JsonSerializer,
  msgpack: globalThis.MsgpackSerializer,
  cbor: globalThis.CborSerializer,
};

// How long the page waits for one thing the router must make happen, and
// for a whole check; it reports, whatever happens, within DEADLINE of
// opening. Bounds against hanging, never measurements.
const WAIT = 5000;
const CHECK_WAIT = 8000;
const DEADLINE = 20000;
const started = performance.now();

const MSG = {
  HELLO: 1, GOODBYE: 6, PUBLISH: 16, EVENT: 36, RESULT: 50, INVOCATION: 68,
};

const report = { done: false, errors: [], serializers: {} };
window.report = report;
window.addEventListener('error', (e) => report.errors.push(`uncaught: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => report.errors.push(`unhandled rejection: ${errorText(e.reason)}`));

// --- waiting and checking --------------------------------------------------

function deferred() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

// withTimeout bounds promise by ms, and by what is left of DEADLINE.
function withTimeout(promise, ms, what) {
  const left = Math.max(0, DEADLINE - (performance.now() - started));
  const why = ms <= left ? `timed out after ${ms / 1000}s` : `the page's ${DEADLINE / 1000}s are up`;
  let timer;
  return Promise.race([
    Promise.resolve(promise).finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: ${why}`)), Math.min(ms, left));
    }),
  ]);
}

// errorText describes a rejection or exception: one of wampy's WAMP errors
// (CallError, ...) with its URI, args and kwargs, an Error as its message.
function errorText(e) {
  if (e && typeof e.errorUri === 'string') return `${e.name} ${e.errorUri} ${describe(e.argsList)} ${describe(e.argsDict)}`;
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return describe(e);
}

// --- wampy sessions --------------------------------------------------------

// connect joins REALM with a wampy session whose serializer is wrapped:
// the wrapper notes that wampy's HELLO went through it (wampy goes on in
// JSON, silently, if the router picks wamp.2.json), keeps the PUBLISH
// options as sent and the messages the router sent (received, and frames:
// their type and bytes), and restores exclude_me: false (see publish).
// Resolves to a handle.
async function connect(serializer, label) {
  const inner = new SERIALIZERS[serializer]();
  const h = {
    label, hello: false, published: [], received: [], frames: [], errors: [], publishing: null,
  };
  const tap = {
    protocol: inner.protocol,
    isBinary: inner.isBinary,
    encode: (msg) => {
      if (msg[0] === MSG.HELLO) h.hello = true;
      if (msg[0] === MSG.PUBLISH) {
        if (h.publishing && h.publishing.exclude_me === false && !('exclude_me' in msg[2])) msg[2].exclude_me = false;
        h.published.push(msg[2]);
      }
      return inner.encode(msg);
    },
    decode: (data) => {
      const msg = inner.decode(data);
      h.received.push(msg);
      h.frames.push({ type: msg[0], bytes: new Uint8Array(data) });
      return msg;
    },
  };
  h.wampy = new globalThis.Wampy(ROUTER, {
    realm: REALM,
    serializer: tap,
    autoReconnect: false,
    onError: (e) => h.errors.push(errorText(e)),
  });
  try {
    await withTimeout(h.wampy.connect(), WAIT, 'join');
  } catch (e) {
    throw new Error(`${label}: joining ${REALM} at ${ROUTER} with ${serializer}: ${errorText(e)}`);
  }
  if (!h.hello) throw new Error(`${label}: the router did not choose wamp.2.${serializer}: wampy sent its HELLO in another serializer`);
  return h;
}

// close leaves with GOODBYE: the router must answer with GOODBYE
// wamp.close.goodbye_and_out, and wampy must have reported no error.
async function close(c, h) {
  try {
    await withTimeout(h.wampy.disconnect(), WAIT, `${h.label}: disconnect`);
  } catch (e) {
    c.fail(`${h.label}: no clean close: ${errorText(e)}`);
  }
  const goodbye = h.received.find((m) => m[0] === MSG.GOODBYE);
  c.equal(`${h.label}: the router's GOODBYE`, goodbye && goodbye[2], 'wamp.close.goodbye_and_out');
  if (h.errors.length) c.fail(`${h.label}: wampy reported ${h.errors.join('; ')}`);
}

// publish publishes { args, kwargs } with options; wampy leaves out
// exclude_me: false, which the serializer wrapper puts back: wampy encodes
// the PUBLISH before publish returns its promise.
function publish(h, topic, p, serializer, options) {
  h.publishing = options;
  try {
    return h.wampy.publish(topic, { argsList: asSent(p.args, serializer), argsDict: asSent(p.kwargs, serializer) }, options);
  } finally {
    h.publishing = null;
  }
}

function call(h, procedure, p, serializer) {
  return h.wampy.call(procedure, { argsList: asSent(p.args, serializer), argsDict: asSent(p.kwargs, serializer) });
}

// payload picks args and kwargs out of what wampy hands to an event
// handler, a procedure or a call's promise.
function payload(r) {
  return { args: r.argsList, kwargs: r.argsDict };
}

// An application error a callee raises: wampy's invocation error handler
// sends ERROR with its error, argsList and argsDict.
class AppError extends Error {
  constructor(error, argsList, argsDict) {
    super(error);
    this.error = error;
    this.argsList = argsList;
    this.argsDict = argsDict;
  }
}

// --- the checks ------------------------------------------------------------

// want is p as wampy decodes it with serializer.
function want(p, serializer) {
  return { args: asReceived(p.args, serializer), kwargs: asReceived(p.kwargs, serializer) };
}

// checkCborWire checks, with cbor, that each negative integer of p that
// wampy's browser build decodes wrongly (values.mjs's cborNegative) came
// in the right bytes, in the last message of type session h received.
function checkCborWire(c, what, h, type, p, serializer) {
  const values = leaves(p).filter(isNegative64);
  if (serializer !== 'cbor' || !values.length) return;
  const frame = h.frames.findLast((f) => f.type === type);
  if (!frame) {
    c.fail(`${what}: no such message`);
    return;
  }
  for (const x of new Set(values)) {
    const n = values.filter((y) => y === x).length;
    const got = count(frame.bytes, cborNegativeBytes(x));
    c.true(`${what}: ${x} came ${got} times as CBOR ${describe(cborNegativeBytes(x))}, want ${n}`, got === n);
  }
}

// eventRoundTrip: B and A subscribe to topic, A publishes p with
// exclude_me: false; both get it intact, and the PUBLISH went out
// acknowledged with exclude_me: false.
async function eventRoundTrip(c, s, topic, p) {
  const { A, B, serializer } = s;
  const toB = deferred();
  const toA = deferred();
  await B.wampy.subscribe(topic, (ev) => toB.resolve(payload(ev)));
  await A.wampy.subscribe(topic, (ev) => toA.resolve(payload(ev)));
  const ack = await publish(A, topic, p, serializer, { exclude_me: false });
  c.true(`acknowledged publish: publication id ${describe(ack && ack.publicationId)} is not a WAMP ID`, isID(ack && ack.publicationId));
  c.equal('PUBLISH.Options as sent', A.published.at(-1), { acknowledge: true, exclude_me: false });
  c.equal("the subscriber's event", await withTimeout(toB.promise, WAIT, "the subscriber's event"), want(p, serializer));
  checkCborWire(c, "the subscriber's EVENT", B, MSG.EVENT, p, serializer);
  c.equal("the publisher's own event", await withTimeout(toA.promise, WAIT, "the publisher's own event (exclude_me: false)"),
    want(p, serializer));
  checkCborWire(c, "the publisher's own EVENT", A, MSG.EVENT, p, serializer);
}

// callRoundTrip: A calls B's reply with p, which B answers with p too;
// B gets it intact, A gets it back intact.
async function callRoundTrip(c, s, p) {
  const { A, B, serializer } = s;
  const before = s.invocations.length;
  s.reply = p;
  const res = await call(A, `${s.prefix}.reply`, p, serializer);
  c.equal('invocations of reply', s.invocations.length - before, 1);
  c.equal('the callee got', s.invocations.at(-1), want(p, serializer));
  checkCborWire(c, "the callee's INVOCATION", B, MSG.INVOCATION, p, serializer);
  c.equal('the result', payload(res), want(p, serializer));
  checkCborWire(c, "the caller's RESULT", A, MSG.RESULT, p, serializer);
}

// fromGo is what the page sends the Go client, and the Go client answers
// with: the binary payload where the serializer carries bytes.
function fromGo(serializer) {
  return serializer === 'json' ? plain() : binary();
}

const APP_ERROR = ['com.example.interop.browser_error', ['first', 2, { three: 3 }], { detail: 'something', code: 42, nested: { x: [1, 2] } }];

// CHECKS run in order, each with its own Checks. setup (before them) has
// joined A and B and registered B's procedures; session, last, leaves.
const CHECKS = {
  pubsub: (c, s) => eventRoundTrip(c, s, `${s.prefix}.pubsub`, plain()),
  rpc: (c, s) => callRoundTrip(c, s, plain()),
  'rpc-error': async (c, s) => {
    const [uri, args, kwargs] = APP_ERROR;
    try {
      const res = await s.A.wampy.call(`${s.prefix}.fail`, ['x']);
      c.fail(`call fail: succeeded with ${describe(payload(res))}, want CallError ${uri}`);
    } catch (e) {
      c.equal('call fail: the error', { name: e.name, uri: e.errorUri, args: e.argsList, kwargs: e.argsDict },
        { name: 'CallError', uri, args, kwargs });
    }
    // The callee still works.
    await callRoundTrip(c, s, { args: ['after the error'], kwargs: { n: 1 } });
  },
  'binary-call': (c, s) => callRoundTrip(c, s, binary()),
  'binary-event': (c, s) => eventRoundTrip(c, s, `${s.prefix}.binary`, binary()),
  // The Go client checks the event; its publication id goes in the report.
  'go-event': async (c, s) => {
    const ack = await publish(s.A, `${s.prefix}.go.events`, fromGo(s.serializer), s.serializer);
    const id = ack && ack.publicationId;
    c.true(`acknowledged publish: publication id ${describe(id)} is not a WAMP ID`, isID(id));
    s.result.goPublication = String(id);
  },
  // The Go callee checks what it got and answers with its own encoding of
  // the same payload.
  'go-call': async (c, s) => {
    const p = fromGo(s.serializer);
    const res = await call(s.A, `${s.prefix}.go.reply`, p, s.serializer);
    c.equal('the result from the Go callee', payload(res), want(p, s.serializer));
    checkCborWire(c, 'the RESULT from the Go callee', s.A, MSG.RESULT, p, s.serializer);
  },
};

// checksFor names the checks of serializer: wampy's JSON serializer is
// plain JSON.stringify, without WAMP's convention for binary values.
function checksFor(serializer) {
  return Object.keys(CHECKS).filter((name) => serializer !== 'json' || !name.startsWith('binary-'));
}

async function runSerializer(serializer) {
  const result = { checks: {} };
  report.serializers[serializer] = result;
  const s = {
    serializer, prefix: `${PREFIX}.${serializer}`, result, invocations: [], reply: null,
  };
  try {
    s.A = await connect(serializer, 'A');
    s.B = await connect(serializer, 'B');
    await withTimeout(s.B.wampy.register(`${s.prefix}.reply`, (inv) => {
      s.invocations.push(payload(inv));
      return { argsList: asSent(s.reply.args, serializer), argsDict: asSent(s.reply.kwargs, serializer) };
    }), WAIT, 'register reply');
    await withTimeout(s.B.wampy.register(`${s.prefix}.fail`, () => {
      throw new AppError(...APP_ERROR);
    }), WAIT, 'register fail');
  } catch (e) {
    const why = `not run: ${errorText(e)}`;
    for (const name of [...checksFor(serializer), 'session']) result.checks[name] = [why];
    return;
  }
  for (const name of checksFor(serializer)) {
    const c = new Checks();
    try {
      await withTimeout(CHECKS[name](c, s), CHECK_WAIT, name);
    } catch (e) {
      c.fail(errorText(e));
    }
    result.checks[name] = c.errors;
  }
  const c = new Checks();
  await close(c, s.A);
  await close(c, s.B);
  result.checks.session = c.errors;
}

(async () => {
  try {
    if (!ROUTER) throw new Error('no ?router=ws://HOST:PORT/ws in the page URL');
    const missing = ['Wampy', 'JsonSerializer', 'MsgpackSerializer', 'CborSerializer'].filter((g) => typeof globalThis[g] !== 'function');
    if (missing.length) throw new Error(`wampy's browser build did not load: no global ${missing.join(', ')}`);
    await Promise.all(Object.keys(SERIALIZERS).map(runSerializer));
  } catch (e) {
    report.errors.push(errorText(e));
  }
  document.getElementById('status').textContent = 'done';
  report.done = true;
})();
