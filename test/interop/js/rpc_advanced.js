'use strict';
// Autobahn|JS against Junction's Advanced Profile RPC features.
//
// Run by test/interop/rpc_advanced_test.go:
//
//   node [--experimental-websocket] rpc_advanced.js --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x [--scenarios a,b]
//
// Each scenario uses fresh sessions and prints one line
//
//   RESULT {"scenario": "progressive", "ok": true}
//
// and the exit status is 0 only if every scenario passed.
//
// Autobahn|JS as a callee supports neither call canceling nor call timeouts,
// so by the specification it gets neither INTERRUPT nor progressive-result
// requests; where a scenario needs a callee that does, it is a minimal
// raw-protocol callee (JSON over WebSocket) written here, and Autobahn|JS is
// the caller under test.

const {
  JOIN_TIMEOUT, REALM, closeAll, connect, describe, parseArgs, runMain, runScenarios, withTimeout,
} = require('./lib.js');

// How long a scenario waits for something the router must make happen;
// only a bound against hanging, never a measurement.
const WAIT = 10000;

// Leaves with GOODBYE and waits for the connections to close, cleanly.
async function close(checks, ...handles) {
  await closeAll(checks, handles, { clean: true });
}

// rawCallee is a minimal WAMP callee over a JSON WebSocket (ws:// URL of
// the same router) announcing features. onInvocation(raw, request, details,
// args) handles INVOCATIONs, onInterrupt(raw, request, options) INTERRUPTs.
function rawCallee(wsURL, features, onInvocation, onInterrupt) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL, ['wamp.2.json']);
    const raw = { ws, pending: new Map(), nextID: 1, messages: [] };
    raw.send = (m) => ws.send(JSON.stringify(m));
    raw.register = (procedure, options = {}) => new Promise((res) => {
      const id = raw.nextID++;
      raw.pending.set(id, res);
      raw.send([64, id, options, procedure]);
    });
    raw.close = () => new Promise((res) => {
      ws.onclose = () => res();
      raw.send([6, {}, 'wamp.close.close_realm']);
    });
    ws.onerror = (e) => reject(new Error(`raw callee: ${e.message || e.type}`));
    ws.onopen = () => raw.send([1, REALM, { roles: { callee: { features } } }]);
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      raw.messages.push(m);
      switch (m[0]) {
        case 2: raw.session = m[1]; resolve(raw); break; // WELCOME
        case 65: raw.pending.get(m[1])(m[2]); break; // REGISTERED
        case 68: onInvocation(raw, m[1], m[3], m[4] || []); break;
        case 69: onInterrupt(raw, m[1], m[2]); break;
        case 3: reject(new Error(`raw callee aborted: ${describe(m)}`)); break;
        default: break;
      }
    };
  }), JOIN_TIMEOUT, 'raw callee: join');
}

function wsURLOf(opts, rawWS) {
  // The raw callee always speaks WebSocket; with a rs:// URL it uses the
  // router's WebSocket endpoint on the same port.
  const url = new URL(opts.url);
  return url.protocol === 'rs:' ? `ws://${url.host}/ws` : opts.url;
}

// --- scenarios -------------------------------------------------------------

async function scenarioProgressive(opts, checks) {
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.progressive.`;
  // A callee with progressive results and call canceling streams three
  // results when asked to.
  const raw = await rawCallee(wsURLOf(opts), { progressive_call_results: true, call_canceling: true }, (r, req, details, args) => {
    if (details.receive_progress) {
      for (let i = 0; i < args[0]; i++) r.send([70, req, { progress: true }, [i]]);
    }
    r.send([70, req, {}, ['done', details.receive_progress === true]]);
  });
  await raw.register(`${p}stream`);
  const got = [];
  const call = caller.session.call(`${p}stream`, [3], {}, { receive_progress: true });
  const res = await withTimeout(call.then(null, null, (v) => got.push(v)), WAIT, 'progressive call');
  checks.equal('progressive results', got, [0, 1, 2]);
  checks.equal('final result', res.args || res, ['done', true]);
  const plain = await caller.session.call(`${p}stream`, [3]);
  checks.equal('final result without receive_progress', plain.args || plain, ['done', false]);

  // Autobahn|JS as callee announces progressive results but not call
  // canceling: the router does not offer it progress (the specification's
  // "Ignoring Requests for Progressive Call Results").
  const callee = await connect(opts, 'callee');
  await callee.session.register(`${p}js`, (args, kwargs, details) => details.progress === null || details.progress === undefined);
  checks.equal('Autobahn|JS callee not offered progress', await caller.session.call(`${p}js`, [], {}, { receive_progress: true }), true);
  await raw.close();
  await close(checks, caller, callee);
}

async function scenarioPattern(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.pattern`;
  const which = (name) => (args, kwargs, details) => [name, details.procedure];
  await callee.session.register(`${p}.a.b`, which('exact'));
  await callee.session.register(`${p}.a`, which('prefix'), { match: 'prefix' });
  await callee.session.register(`${p}.a.b.c`, which('longer-prefix'), { match: 'prefix' });
  await callee.session.register(`${p}..b`, which('wildcard'), { match: 'wildcard' });
  for (const [uri, want] of [[`${p}.a.b`, 'exact'], [`${p}.a.x`, 'prefix'], [`${p}.a.b.c.d`, 'longer-prefix'], [`${p}.z.b`, 'wildcard']]) {
    const res = await caller.session.call(uri);
    checks.equal(`call ${uri}: registration`, res[0], want);
    // Details.procedure is the called URI for pattern registrations;
    // autobahn-js gives the registered URI for an exact one.
    checks.equal(`call ${uri}: details.procedure`, res[1], uri);
  }
  await checks.appError('call that matches nothing', 'wamp.error.no_such_procedure', caller.session.call(`${p}.q.r.s`));
  await close(checks, callee, caller);
}

async function scenarioShared(opts, checks) {
  const a = await connect(opts, 'callee a');
  const b = await connect(opts, 'callee b');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.shared.`;
  const ra = await a.session.register(`${p}rr`, () => 'a', { invoke: 'roundrobin' });
  const rb = await b.session.register(`${p}rr`, () => 'b', { invoke: 'roundrobin' });
  checks.equal('one registration id for both callees', ra.id, rb.id);
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await caller.session.call(`${p}rr`));
  checks.equal('roundrobin', got, ['a', 'b', 'a', 'b']);
  await checks.appError('register with another policy', 'wamp.error.procedure_already_exists',
    caller.session.register(`${p}rr`, () => 'c', { invoke: 'first' }));
  await a.session.register(`${p}first`, () => 'a', { invoke: 'first' });
  await b.session.register(`${p}first`, () => 'b', { invoke: 'first' });
  checks.equal('first', [await caller.session.call(`${p}first`), await caller.session.call(`${p}first`)], ['a', 'a']);
  await close(checks, a);
  checks.equal('first after it left: the standby', await caller.session.call(`${p}first`), 'b');
  await close(checks, b, caller);
}

async function scenarioIdentification(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.ident.`;
  await callee.session.register(`${p}who`, (args, kwargs, details) => [details.caller || null, details.caller_authrole || null]);
  checks.equal('disclosed', await caller.session.call(`${p}who`, [], {}, { disclose_me: true }), [caller.session.id, 'anonymous']);
  checks.equal('not disclosed', await caller.session.call(`${p}who`), [null, null]);
  await close(checks, callee, caller);
}

async function scenarioCancel(opts, checks) {
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.cancel.`;
  // kill to a callee that supports canceling: INTERRUPT, and the callee's
  // ERROR reaches the caller. (Autobahn|JS 26 takes skip and killnowait as
  // final on its side and then treats the router's ERROR as a protocol
  // violation, so only kill is usable with it.)
  let invoked;
  const invokedP = new Promise((r) => { invoked = r; });
  const interrupts = [];
  const raw = await rawCallee(wsURLOf(opts), { call_canceling: true }, (r, req) => invoked(req), (r, req, options) => {
    interrupts.push(options.mode);
    r.send([8, 68, req, {}, 'wamp.error.canceled', ['interrupted']]);
  });
  await raw.register(`${p}slow`);
  let call = caller.session.call(`${p}slow`);
  await withTimeout(invokedP, WAIT, 'invocation');
  call.cancel({ mode: 'kill' });
  const e = await checks.appError('canceled with kill', 'wamp.error.canceled', withTimeout(call, WAIT, 'canceled call'));
  if (e) checks.equal('the callee\'s error', e.args, ['interrupted']);
  checks.equal('INTERRUPT modes', interrupts, ['kill']);

  // kill to Autobahn|JS, which does not support canceling: skip, so the
  // caller gets wamp.error.canceled at once and the callee no INTERRUPT.
  const callee = await connect(opts, 'callee');
  let release;
  const held = new Promise((r) => { release = r; });
  let started;
  const startedP = new Promise((r) => { started = r; });
  await callee.session.register(`${p}js`, () => { started(); return held; });
  await callee.session.register(`${p}echo`, (args) => args[0]);
  call = caller.session.call(`${p}js`);
  await withTimeout(startedP, WAIT, 'invocation');
  call.cancel({ mode: 'kill' });
  await checks.appError('canceled to a callee without canceling', 'wamp.error.canceled', withTimeout(call, WAIT, 'canceled call'));
  release('late'); // dropped by the router
  checks.equal('callee still works', await caller.session.call(`${p}echo`, [7]), 7);
  await raw.close();
  await close(checks, callee, caller);
}

async function scenarioTimeout(opts, checks) {
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.timeout.`;
  let interrupted;
  const interruptedP = new Promise((r) => { interrupted = r; });
  const raw = await rawCallee(wsURLOf(opts), { call_canceling: true }, () => {}, (r, req, options) => interrupted(options));
  await raw.register(`${p}slow`);
  await checks.appError('call with timeout 200 ms', 'wamp.error.timeout', caller.session.call(`${p}slow`, [], {}, { timeout: 200 }));
  const options = await withTimeout(interruptedP, WAIT, 'INTERRUPT after the timeout');
  checks.equal('INTERRUPT options', options, { mode: 'killnowait', reason: 'wamp.error.timeout' });

  // Autobahn|JS as callee (no call canceling) gets no INTERRUPT and stays.
  const callee = await connect(opts, 'callee');
  await callee.session.register(`${p}js`, () => new Promise((r) => setTimeout(() => r('late'), 500)));
  await checks.appError('timeout at a callee without canceling', 'wamp.error.timeout', caller.session.call(`${p}js`, [], {}, { timeout: 100 }));
  await callee.session.register(`${p}echo`, (args) => args[0]);
  checks.equal('callee still works', await caller.session.call(`${p}echo`, [3], {}, { timeout: 10000 }), 3);
  await raw.close();
  await close(checks, callee, caller);
}

async function scenarioMeta(opts, checks) {
  const watcher = await connect(opts, 'watcher');
  const a = await connect(opts, 'callee');
  const p = `${opts.prefix}.meta.`;
  const events = [];
  let notify = () => {};
  // Meta events are realm-wide: other clients' registrations come too.
  for (const topic of ['on_create', 'on_register', 'on_unregister', 'on_delete']) {
    await watcher.session.subscribe(`wamp.registration.${topic}`, (args) => {
      if (args[0] !== a.session.id) return;
      events.push([topic, args]);
      notify();
    });
  }
  const eventCount = (n) => withTimeout(new Promise((r) => {
    notify = () => { if (events.length >= n) r(); };
    notify();
  }), WAIT, `${n} meta events`);

  const reg = await a.session.register(`${p}proc`, () => 1, { match: 'wildcard' });
  await eventCount(2);
  checks.equal('on_create', [events[0][0], events[0][1][0], events[0][1][1].uri, events[0][1][1].match], ['on_create', a.session.id, `${p}proc`, 'wildcard']);
  checks.equal('on_register', events[1], ['on_register', [a.session.id, reg.id]]);
  checks.equal('lookup', await watcher.session.call('wamp.registration.lookup', [`${p}proc`, { match: 'wildcard' }]), reg.id);
  checks.equal('match', await watcher.session.call('wamp.registration.match', [`${p}proc`]), reg.id);
  const info = await watcher.session.call('wamp.registration.get', [reg.id]);
  checks.equal('get', [info.id, info.uri, info.match, info.invoke], [reg.id, `${p}proc`, 'wildcard', 'single']);
  checks.equal('list_callees', await watcher.session.call('wamp.registration.list_callees', [reg.id]), [a.session.id]);
  checks.equal('count_callees', await watcher.session.call('wamp.registration.count_callees', [reg.id]), 1);
  await checks.appError('count_callees of nothing', 'wamp.error.no_such_registration', watcher.session.call('wamp.registration.count_callees', [1]));
  await a.session.unregister(reg);
  await eventCount(4);
  checks.equal('on_unregister, on_delete', events.slice(2), [['on_unregister', [a.session.id, reg.id]], ['on_delete', [a.session.id, reg.id]]]);
  await close(checks, watcher, a);
}

async function scenarioRevocation(opts, checks) {
  const callee = await connect(opts, 'callee');
  const admin = await connect(opts, 'admin');
  const p = `${opts.prefix}.revoke.`;
  const reg = await callee.session.register(`${p}proc`, () => 'here');
  checks.equal('call before', await admin.session.call(`${p}proc`), 'here');
  await admin.session.call('wamp.registration.remove_callee', [reg.id, callee.session.id, 'moving']);
  const reason = await withTimeout(reg.on_unregister, WAIT, 'registration.on_unregister');
  checks.equal('revocation reason', reason, 'moving');
  checks.true('registration inactive', reg.active === false);
  await checks.appError('call after revocation', 'wamp.error.no_such_procedure', admin.session.call(`${p}proc`));
  await close(checks, callee, admin);
}

const SCENARIOS = {
  progressive: scenarioProgressive,
  pattern: scenarioPattern,
  shared: scenarioShared,
  identification: scenarioIdentification,
  cancel: scenarioCancel,
  timeout: scenarioTimeout,
  meta: scenarioMeta,
  revocation: scenarioRevocation,
};

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage: 'node rpc_advanced.js --url URL --serializer json|msgpack|cbor [--prefix P] [--scenarios a,b]',
    defaults: { prefix: 'interop.js.rpc_advanced' },
    scenarios: SCENARIOS,
  });
  runMain(() => runScenarios(opts, SCENARIOS), 'rpc_advanced');
}

main();
