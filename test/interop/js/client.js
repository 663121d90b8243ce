// Autobahn|JS client that drives a Junction router for the interop tests.
//
// Run by test/interop/interop_test.go with Node.js and the autobahn package
// from package-lock.json. It mirrors test/interop/python/client.py: same
// command line, same scenarios, same output.
//
//   node client.js suite --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x
//
// runs the scenarios pubsub, rpc, errors, large and concurrent (and keepalive
// if asked for), each with fresh sessions and its own time limit, and prints
// one line per scenario:
//
//   RESULT {"scenario":"rpc","ok":false,"errors":["..."]}
//
// The roles sub-bytes, pub-bytes, callee-bytes and caller-bytes exchange one
// binary payload with another client; sub-bytes and callee-bytes print READY
// once they are subscribed or registered.
//
// The URL scheme picks the transport: ws:// is WebSocket, rs:// is RawSocket.
// Autobahn|JS speaks RawSocket in Node with JSON only, and its JSON
// serializer does not convert binary values: with --serializer json lib.js
// passes a replacer and reviver to autobahn's JSONSerializer that implement
// WAMP's convention (a Buffer travels as "\u0000" + base64), which
// autobahn's RawSocket transport cannot use, so binary checks are left out
// there. Connection, checks and output are lib.js's.
//
// Autobahn|JS >= 26 uses the global WebSocket of Node >= 22; Node 20 and 21
// have it behind --experimental-websocket, which the Go test passes.
'use strict';

const crypto = require('crypto');
const autobahn = require('autobahn');
const {
  BAD_PAYLOAD, BLOB, CLOSE_TIMEOUT, TYPED, Checks, bytesKwargs, bytesRoles, close, closeAll, connect, describe, diff,
  kind, parseArgs, runMain, runScenarios, sha256, sleep, withTimeout,
} = require('./lib.js');

// n deterministic pseudo-random bytes (same as pattern() in client.py).
function pattern(n, seed) {
  const chunks = [];
  let len = 0;
  for (let counter = 0; len < n; counter++) {
    const d = crypto.createHash('sha256').update(`${seed}:${counter}`).digest();
    chunks.push(d);
    len += d.length;
  }
  return Buffer.concat(chunks).subarray(0, n);
}

// Binary values can be used unless this is autobahn-js's JSON-only RawSocket.
function binaryOK(opts) {
  return new URL(opts.url).protocol !== 'rs:';
}

// --- scenarios -------------------------------------------------------------

async function scenarioPubSub(opts, checks) {
  const topic = `${opts.prefix}.pubsub.events`;
  const n = 50;
  const sub = await connect(opts, 'subscriber');
  const pub = await connect(opts, 'publisher');
  const received = [];
  const own = [];
  let allReceived;
  const allReceivedP = new Promise((r) => { allReceived = r; });
  let marker;
  const markerP = new Promise((r) => { marker = r; });

  const expected = (i) => [
    [i, `event-${i}`],
    { seq: i, even: i % 2 === 0, text: TYPED.str, nested: { list: [i, null, 1.5] } },
  ];

  const subscription = await sub.session.subscribe(topic, (args, kwargs) => {
    received.push([args || [], kwargs || {}]);
    if (received.length === n) allReceived();
  });
  await pub.session.subscribe(topic, (args, kwargs) => {
    if (args && args[0] === 'marker') {
      marker();
      return;
    }
    own.push([args, kwargs]);
  });

  const pubIDs = [];
  for (let i = 0; i < n; i++) {
    const [args, kwargs] = expected(i);
    if (i === 0 || i === n - 1) {
      const p = await pub.session.publish(topic, args, kwargs, { acknowledge: true });
      pubIDs.push(p && p.id);
    } else {
      const r = pub.session.publish(topic, args, kwargs);
      checks.true(`unacknowledged publish returned ${describe(r)}, want undefined`, r === undefined);
    }
  }
  for (const id of pubIDs) {
    checks.true(`acknowledged publish: publication id ${describe(id)} is not an integer in [1, 2^53]`,
      Number.isInteger(id) && id >= 1 && id <= 2 ** 53);
  }
  checks.true(`acknowledged publishes returned the same publication id ${describe(pubIDs)}`,
    new Set(pubIDs).size === pubIDs.length);

  try {
    await withTimeout(allReceivedP, 10000, 'events');
  } catch (e) {
    checks.fail(`subscriber received ${received.length} of ${n} events within 10s`);
  }
  received.slice(0, n).forEach(([args, kwargs], i) => {
    const [wantArgs, wantKwargs] = expected(i);
    checks.equal(`event ${i} args`, args, wantArgs);
    checks.equal(`event ${i} kwargs`, kwargs, wantKwargs);
  });

  // The subscriber publishes a marker; the publisher's own subscription must
  // see it (so that subscription works) and nothing of its own before it.
  await sub.session.publish(topic, ['marker'], {}, { acknowledge: true });
  try {
    await withTimeout(markerP, 5000, 'marker');
  } catch (e) {
    checks.fail("publisher's own subscription did not receive another session's event within 5s");
  }
  await sleep(100);
  checks.true(`publisher received ${own.length} of its own events (want 0, publisher exclusion is the default): ${describe(own.slice(0, 3))}`,
    own.length === 0);

  // After UNSUBSCRIBE no more events; WAMP orders events of one publisher
  // across topics, so an event on a fence topic shows that none is coming.
  let fence;
  const fenceP = new Promise((r) => { fence = r; });
  await sub.session.subscribe(`${topic}_fence`, () => fence());
  await sub.session.unsubscribe(subscription);
  const count = received.length;
  await pub.session.publish(topic, ['after-unsubscribe'], {}, { acknowledge: true });
  await pub.session.publish(`${topic}_fence`, [], {}, { acknowledge: true });
  try {
    await withTimeout(fenceP, 5000, 'fence');
  } catch (e) {
    checks.fail('no event on the fence topic within 5s');
  }
  checks.true(`subscriber received ${describe(received.slice(count))} after unsubscribing`, received.length === count);
  await close(checks, sub, pub);
}

async function scenarioRPC(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.rpc.`;

  const addRegistration = await callee.session.register(`${p}add`, (args) => args[0] + args[1]);
  await callee.session.register(`${p}echo`, (args, kwargs) => new autobahn.Result(args, kwargs));
  await callee.session.register(`${p}fail`, () => {
    throw new autobahn.Error('com.example.interop.custom_error', ['first', 2, { three: 3 }],
      { detail: 'something', code: 42, nested: { x: [1, 2] } });
  });

  checks.equal('call add(2, 3)', await caller.session.call(`${p}add`, [2, 3]), 5);

  const args = ['a', 1, null, [1, 2], { k: 'v' }, 2.25, true];
  const kwargs = { unicode: TYPED.str, n: 7, empty_list: [], empty_map: {} };
  let res = await caller.session.call(`${p}echo`, args, kwargs);
  if (res instanceof autobahn.Result) {
    checks.equal('call echo: args', res.args, args);
    checks.equal('call echo: kwargs', res.kwargs, kwargs);
  } else {
    checks.fail(`call echo: got ${describe(res)}, want Result with args and kwargs`);
  }

  res = await caller.session.call(`${p}echo`, [], { only: 'kw' });
  if (res instanceof autobahn.Result) {
    checks.equal('call echo(only kwargs): args', res.args, []);
    checks.equal('call echo(only kwargs): kwargs', res.kwargs, { only: 'kw' });
  } else {
    checks.fail(`call echo(only kwargs): got ${describe(res)}, want Result`);
  }

  checks.equal('call echo() without arguments', await caller.session.call(`${p}echo`), null);

  const e = await checks.appError('call fail', 'com.example.interop.custom_error', caller.session.call(`${p}fail`));
  if (e) {
    checks.equal('application error args', e.args, ['first', 2, { three: 3 }]);
    checks.equal('application error kwargs', e.kwargs, { detail: 'something', code: 42, nested: { x: [1, 2] } });
  }

  if (binaryOK(opts)) {
    res = await caller.session.call(`${p}echo`, [BLOB], bytesKwargs());
    if (res instanceof autobahn.Result) {
      checks.equal('call echo with bytes: args', res.args, [BLOB]);
      checks.equal('call echo with bytes: kwargs', res.kwargs, bytesKwargs());
    } else {
      checks.fail(`call echo with bytes: got ${describe(res)}, want Result`);
    }
  }

  // the callee still works after raising
  checks.equal('call add after an error', await caller.session.call(`${p}add`, [40, 2]), 42);

  await callee.session.unregister(addRegistration);
  await checks.appError('call after UNREGISTER', 'wamp.error.no_such_procedure', caller.session.call(`${p}add`, [1, 1]));
  await close(checks, callee, caller);
}

async function scenarioErrors(opts, checks) {
  const a = await connect(opts, 'session-a');
  const b = await connect(opts, 'session-b');
  const p = `${opts.prefix}.errors.`;

  await checks.appError('call of an unregistered procedure', 'wamp.error.no_such_procedure',
    b.session.call(`${p}nonexistent`, [1]));

  await a.session.register(`${p}dup`, () => 'first');
  await checks.appError('register of a procedure another session registered',
    'wamp.error.procedure_already_exists', b.session.register(`${p}dup`, () => 'second'));
  await checks.appError('second register of a procedure by the same session',
    'wamp.error.procedure_already_exists', a.session.register(`${p}dup`, () => 'again'));
  checks.equal('call of the first registration after the duplicates', await b.session.call(`${p}dup`), 'first');

  await checks.appError("call of 'bad uri with spaces'", 'wamp.error.invalid_uri',
    b.session.call('bad uri with spaces'));
  await checks.appError(`call of '${p}.empty'`, 'wamp.error.invalid_uri', b.session.call(`${p}.empty`));
  await checks.appError(`register of '${p}.empty'`, 'wamp.error.invalid_uri',
    a.session.register(`${p}.empty`, () => null));
  await checks.appError("subscribe to 'bad topic with spaces'", 'wamp.error.invalid_uri',
    a.session.subscribe('bad topic with spaces', () => {}));
  await checks.appError(`acknowledged publish to '${p}.empty'`, 'wamp.error.invalid_uri',
    a.session.publish(`${p}.empty`, [], {}, { acknowledge: true }));

  // both sessions survive the errors
  checks.equal('call after the errors', await b.session.call(`${p}dup`), 'first');

  // A session that leaves takes its registrations with it.
  await a.session.register(`${p}gone`, () => 'a');
  await close(checks, a);
  await checks.appError('call of a procedure whose callee left', 'wamp.error.no_such_procedure',
    b.session.call(`${p}gone`));
  await b.session.register(`${p}gone`, () => 'b');
  checks.equal('call of the procedure registered again by another session', await b.session.call(`${p}gone`), 'b');
  await close(checks, b);
}

async function scenarioLarge(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const proc = `${opts.prefix}.large.echo`;
  await callee.session.register(proc, (args, kwargs) => new autobahn.Result(args, kwargs));

  const size = 1 << 20;
  const text = pattern(size * 3 / 4, 1).toString('hex').slice(0, size);
  let res = await caller.session.call(proc, [text], { sha256: sha256(text) });
  const got = res instanceof autobahn.Result ? res.args[0] : res;
  if (typeof got !== 'string' || got !== text) {
    checks.fail(`1 MiB string echo: got ${kind(got)} of length ${got && got.length}, want string of length ${size}`);
  }

  if (binaryOK(opts)) {
    const blob = pattern(size, 2);
    res = await caller.session.call(proc, [blob]);
    if (!(res instanceof Uint8Array) || !Buffer.from(res).equals(blob)) {
      checks.fail(`1 MiB bytes echo: got ${kind(res)} of length ${res && res.length}` +
        `${res instanceof Uint8Array ? ` (sha256 ${sha256(res)})` : ''}, want bytes of length ${size} (sha256 ${sha256(blob)})`);
    }
  }
  await close(checks, callee, caller);
}

async function scenarioConcurrent(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const proc = `${opts.prefix}.concurrent.triple`;
  const n = 500;
  let inFlight = 0;
  let maxInFlight = 0;

  await callee.session.register(proc, async (args) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // random delays make the callee answer out of order
    await sleep(Math.random() * 20);
    inFlight--;
    return new autobahn.Result([args[0], args[0] * 3], { tag: args[1] });
  });

  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => Promise.resolve(caller.session.call(proc, [i, `t${i}`]))));
  let bad = 0;
  results.forEach((r, i) => {
    let d;
    if (r.status === 'rejected') {
      d = [`failed: ${describe(r.reason)}`];
    } else if (r.value instanceof autobahn.Result) {
      d = diff([r.value.args, r.value.kwargs], [[i, i * 3], { tag: `t${i}` }]);
    } else {
      d = [`got ${describe(r.value)}, want Result`];
    }
    if (d.length) {
      bad++;
      if (bad <= 5) checks.fail(`call ${i}: ${d.join('; ')}`);
    }
  });
  checks.true(`${bad} of ${n} concurrent calls failed or got a wrong result`, bad === 0);
  checks.true(`callee saw at most ${maxInFlight} invocations at once; want the ${n} calls to overlap`, maxInFlight > 1);
  await close(checks, callee, caller);
  return { max_in_flight: maxInFlight };
}

// Sessions idle for --idle seconds (the test's router pings idle
// connections every 1.5s), then must still work.
async function scenarioKeepalive(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const proc = `${opts.prefix}.keepalive.ping`;
  const idle = Number(opts.idle);
  await callee.session.register(proc, () => 'pong');
  await sleep(idle * 1000);
  for (const h of [callee, caller]) {
    checks.true(`${h.label}: connection lost (${h.closeReason}) while idle for ${idle}s (keep-alive pings)`,
      h.closeReason === undefined);
  }
  try {
    checks.equal('call after idling', await withTimeout(caller.session.call(proc), 3000, 'call'), 'pong');
  } catch (e) {
    checks.fail(`call after idling ${idle}s: ${e instanceof Error ? e.message : describe(e)}`);
  }
  // a connection found dead need not be waited for
  await closeAll(checks, [callee, caller], { timeout: checks.errors.length ? 1000 : CLOSE_TIMEOUT });
}

const SCENARIOS = {
  pubsub: scenarioPubSub,
  rpc: scenarioRPC,
  errors: scenarioErrors,
  large: scenarioLarge,
  concurrent: scenarioConcurrent,
  keepalive: scenarioKeepalive,
};

// run when --scenarios is not given; keepalive needs a router that pings
const DEFAULT_SCENARIOS = ['pubsub', 'rpc', 'errors', 'large', 'concurrent'];

async function runSuite(opts) {
  return runScenarios(opts, SCENARIOS, { names: DEFAULT_SCENARIOS });
}

// --- cross-client binary roles ---------------------------------------------

// The roles (../jscheck/check.js's bytesRoles) with Autobahn|JS sessions.
const BYTES_ROLES = bytesRoles({
  Checks,
  connect,
  close,
  subscribe: (h, topic, onEvent) => h.session.subscribe(topic, (args, kwargs) => onEvent(args, kwargs)),
  publish: async (h, topic, args, kwargs) => {
    const p = await h.session.publish(topic, args, kwargs, { acknowledge: true });
    return p && p.id;
  },
  register: (h, procedure, serve) => h.session.register(procedure, (args, kwargs) => {
    const errors = serve(args, kwargs);
    if (errors.length) throw new autobahn.Error(BAD_PAYLOAD, errors);
    return new autobahn.Result(args, kwargs);
  }),
  // Autobahn|JS sends the YIELD once the procedure's value has settled,
  // and tells nobody.
  answered: () => sleep(200),
  call: async (h, procedure, args, kwargs) => {
    const res = await h.session.call(procedure, args, kwargs);
    if (!(res instanceof autobahn.Result)) {
      throw new Error(`result: got ${describe(res)}, want Result with args and kwargs`);
    }
    return { args: res.args, kwargs: res.kwargs };
  },
});

const ROLES = {
  suite: runSuite,
  ...BYTES_ROLES,
};

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage: `node client.js {${Object.keys(ROLES).join('|')}} --url URL --serializer json|msgpack|cbor` +
      ' [--prefix P] [--scenarios a,b] [--topic T] [--procedure P] [--idle SECONDS]',
    roles: Object.keys(ROLES),
    defaults: { prefix: 'interop.js', idle: '3', topic: 'interop.cross.bytes', procedure: 'interop.cross.echo_bytes' },
    scenarios: SCENARIOS,
  });
  runMain(() => ROLES[opts.role](opts), opts.role);
}

main();
