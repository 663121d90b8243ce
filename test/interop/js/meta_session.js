// Autobahn|JS checks of Junction's session and testament meta API.
//
// Run by test/interop/meta_session_test.go with Node.js; mirrors
// test/interop/python/meta_session.py (same command line, same checks, same
// output):
//
//   node meta_session.js meta --url ws://127.0.0.1:8080/ws --serializer json --realm R --prefix P
//
// R must be a realm no other client uses while the script runs: the script
// counts the sessions in it. A watcher session subscribes to
// wamp.session.on_join and on_leave and to the testament topic; the script
// then checks count, list and get; kill with a reason and a message;
// testaments published when a session's connection is closed without
// GOODBYE (detached first, then on_leave); flush_testaments; kill_by_authid,
// kill_by_authrole and kill_all (which announces no on_leave).
//
// It prints RESULT {"scenario":"meta","ok":...,"errors":[...]} and exits 0
// only if every check passed.
'use strict';

const {
  EventQueue, checkJoinDetails, closeAll, connect, parseArgs, runMain, runScenarios,
} = require('./lib.js');

const EVENT_TIMEOUT = 10000;
const SCENARIO_TIMEOUT = 60000;

// Leaves with GOODBYE (if still open) and waits for the connections to close.
async function close(checks, ...handles) {
  await closeAll(checks, handles, { timeout: EVENT_TIMEOUT });
}

// Records, in order, every meta event and testament the watcher receives
// (check.js's EventQueue).
class Watcher {
  constructor(checks, handle, prefix) {
    this.checks = checks;
    this.session = handle.session;
    this.prefix = prefix;
    this.events = new EventQueue(EVENT_TIMEOUT);
  }

  async subscribe() {
    const s = this.session;
    const q = this.events;
    await s.subscribe('wamp.session.on_join', (args) => q.push('join', args[0]));
    await s.subscribe('wamp.session.on_leave', (args) => q.push('leave', args));
    await s.subscribe(`${this.prefix}.gone`, (args, kwargs) => q.push('testament', args || [], kwargs || {}));
    await s.subscribe(`${this.prefix}.marker`, (args) => q.push('marker', args));
  }

  // Returns the next event, which must be of kind k (null otherwise).
  expect(k, what) {
    return this.events.expect(this.checks, k, what);
  }

  // Checks that no event is pending: whatever the router published before
  // reaches the watcher ahead of its own marker.
  async nothingMore(what) {
    await this.session.publish(`${this.prefix}.marker`, [what], {}, { acknowledge: true, exclude_me: false });
    const ev = await this.expect('marker', what);
    if (ev) this.checks.equal(`${what}: marker`, ev[1], [what]);
  }
}

// Drops the connection without GOODBYE.
function dropConnection(h) {
  h.session._socket.close(1000, 'dropped by the test');
}

async function scenarioMeta(opts, checks) {
  const transport = new URL(opts.url).protocol === 'rs:' ? 'rawsocket' : 'websocket';
  const w = await connect(opts, 'watcher');
  const ws = w.session;
  const watcher = new Watcher(checks, w, opts.prefix);
  await watcher.subscribe();
  const handles = [w];
  try {
    // --- count, list, get -------------------------------------------------
    checks.equal('count with the watcher alone', await ws.call('wamp.session.count'), 1);
    checks.equal('list with the watcher alone', await ws.call('wamp.session.list'), [w.id]);

    const a = await connect(opts, 'alice');
    handles.push(a);
    let ev = await watcher.expect('join', 'on_join of a');
    if (ev) {
      const details = ev[1];
      checkJoinDetails(checks, 'on_join details', details, {
        id: a.id, authid: a.authid, transport, serializer: opts.serializer,
      });
      checks.equal('get(a)', await ws.call('wamp.session.get', [a.id]), details);
    }
    checks.equal('count', await ws.call('wamp.session.count'), 2);
    checks.equal('count anonymous', await ws.call('wamp.session.count', [['anonymous']]), 2);
    checks.equal('count of no role', await ws.call('wamp.session.count', [['nobody']]), 0);
    const list = await ws.call('wamp.session.list');
    checks.equal('list', Array.isArray(list) ? [...list].sort() : list, [w.id, a.id].sort());
    checks.equal('list of no role', await ws.call('wamp.session.list', [['nobody']]), []);
    await checks.appError('get of no session', 'wamp.error.no_such_session', ws.call('wamp.session.get', [4242]));
    await checks.appError('get of a string', 'wamp.error.invalid_argument', ws.call('wamp.session.get', ['alice']));
    await checks.appError('count of a string', 'wamp.error.invalid_argument', ws.call('wamp.session.count', ['anonymous']));

    // --- kill -------------------------------------------------------------
    await checks.appError('kill of oneself', 'wamp.error.no_such_session', ws.call('wamp.session.kill', [w.id]));
    await checks.appError('kill of no session', 'wamp.error.no_such_session', ws.call('wamp.session.kill', [4242]));
    await checks.appError('kill with a bad reason', 'wamp.error.invalid_uri',
      ws.call('wamp.session.kill', [a.id], { reason: 'not a uri' }));
    checks.equal('kill result', await ws.call('wamp.session.kill', [a.id], { reason: 'com.example.kicked', message: 'bye alice' }), null);
    const ac = await checks.within(EVENT_TIMEOUT, 'killed session', a.closed);
    if (ac) checks.equal("killed session's GOODBYE", [ac.details.reason, ac.details.message], ['com.example.kicked', 'bye alice']);
    ev = await watcher.expect('leave', 'on_leave of a');
    if (ev) checks.equal('on_leave args', ev[1], [a.id, a.authid, 'anonymous']);
    checks.equal('count after the kill', await ws.call('wamp.session.count'), 1);

    // --- testaments, published on a lost connection ----------------------
    const gone = `${opts.prefix}.gone`;
    const b = await connect(opts, 'bob');
    handles.push(b);
    await watcher.expect('join', 'on_join of b');
    checks.equal('add_testament result',
      await b.session.call('wamp.session.add_testament', [gone, ['destroyed', 1], { who: 'bob' }]), null);
    await b.session.call('wamp.session.add_testament', [gone, ['detached', 2], { who: 'bob' }], { scope: 'detached' });
    await checks.appError('add_testament with a bad scope', 'wamp.error.invalid_argument',
      b.session.call('wamp.session.add_testament', [gone, [], {}], { scope: 'forever' }));
    await checks.appError('add_testament with args not a list', 'wamp.error.invalid_argument',
      b.session.call('wamp.session.add_testament', [gone, 'bye', {}]));
    dropConnection(b);
    ev = await watcher.expect('testament', 'first testament');
    if (ev) checks.equal('detached testament', [ev[1], ev[2]], [['detached', 2], { who: 'bob' }]);
    ev = await watcher.expect('testament', 'second testament');
    if (ev) checks.equal('destroyed testament', [ev[1], ev[2]], [['destroyed', 1], { who: 'bob' }]);
    ev = await watcher.expect('leave', 'on_leave of b');
    if (ev) checks.equal('on_leave of b', ev[1][0], b.id);

    // --- flush_testaments, then a clean leave ---------------------------
    const c = await connect(opts, 'carol');
    await watcher.expect('join', 'on_join of c');
    await c.session.call('wamp.session.add_testament', [gone, ['never'], {}]);
    await c.session.call('wamp.session.add_testament', [gone, ['never'], {}], { scope: 'detached' });
    checks.equal('flush destroyed', await c.session.call('wamp.session.flush_testaments'), 1);
    checks.equal('flush detached', await c.session.call('wamp.session.flush_testaments', [], { scope: 'detached' }), 1);
    checks.equal('flush again', await c.session.call('wamp.session.flush_testaments', [], { scope: 'detached' }), 0);
    await close(checks, c);
    ev = await watcher.expect('leave', 'on_leave of c (and no testament)');
    if (ev) checks.equal('on_leave of c', ev[1][0], c.id);

    // --- kill_by_authid, kill_by_authrole, kill_all ----------------------
    const d1 = await connect(opts, 'd1');
    const d2 = await connect(opts, 'd2');
    handles.push(d1, d2);
    await watcher.expect('join', 'on_join of d1');
    await watcher.expect('join', 'on_join of d2');
    checks.equal('kill_by_authid', await ws.call('wamp.session.kill_by_authid', [d1.authid]), [d1.id]);
    const d1c = await checks.within(EVENT_TIMEOUT, 'd1 leaving', d1.closed);
    if (d1c) checks.equal('kill_by_authid GOODBYE reason', d1c.details.reason, 'wamp.close.killed');
    ev = await watcher.expect('leave', 'on_leave of d1');
    if (ev) checks.equal('on_leave of d1', ev[1][0], d1.id);
    checks.equal('kill_by_authid of nobody', await ws.call('wamp.session.kill_by_authid', ['nobody']), []);

    checks.equal('kill_by_authrole',
      await ws.call('wamp.session.kill_by_authrole', ['anonymous'], { message: 'all anonymous out' }), 1);
    const d2c = await checks.within(EVENT_TIMEOUT, 'd2 leaving', d2.closed);
    if (d2c) checks.equal('kill_by_authrole GOODBYE message', d2c.details.message, 'all anonymous out');
    ev = await watcher.expect('leave', 'on_leave of d2');
    if (ev) checks.equal('on_leave of d2', ev[1][0], d2.id);

    const e = await connect(opts, 'e');
    handles.push(e);
    await watcher.expect('join', 'on_join of e');
    await e.session.call('wamp.session.add_testament', [gone, ['not after kill_all'], {}]);
    checks.equal('kill_all', await ws.call('wamp.session.kill_all'), 1);
    await checks.within(EVENT_TIMEOUT, 'e leaving', e.closed);
    // kill_all publishes neither on_leave nor testaments.
    await watcher.nothingMore('after kill_all');
    checks.equal('count after kill_all', await ws.call('wamp.session.count'), 1);
  } finally {
    await close(checks, ...handles);
  }
}

const SCENARIOS = { meta: scenarioMeta };

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage: 'node meta_session.js meta --url URL --serializer json|msgpack|cbor --realm R [--prefix P]',
    roles: ['meta'],
    defaults: { prefix: 'interop.meta.js' },
    required: ['url', 'serializer', 'realm'],
    scenarios: SCENARIOS,
  });
  runMain(() => runScenarios(opts, SCENARIOS, { timeout: SCENARIO_TIMEOUT }), 'meta');
}

main();
