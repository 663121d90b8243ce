// Autobahn|JS as the WAMP side of Junction's HTTP bridge.
//
// Run by test/interop/bridge_test.go with Node.js; mirrors
// test/interop/python/bridge.py (same command line, same checks, same
// output):
//
//   node bridge.js bridge --url ws://127.0.0.1:8080/ws --serializer json --prefix P
//
// It registers P.add and P.fail, subscribes to P.news, prints READY, waits
// for the event the test publishes over HTTP, prints RESULT
// {"scenario":"bridge",...} and exits 0 only if every check passed.
'use strict';

const autobahn = require('autobahn');
const {
  Checks, close, connect, parseArgs, resultLine, runMain, withTimeout,
} = require('./lib.js');

const EVENT_TIMEOUT = 30000;

async function run(opts) {
  const checks = new Checks();
  const h = await connect(opts, 'bridge');
  const p = opts.prefix;
  let gotEvent;
  const event = new Promise((resolve) => { gotEvent = resolve; });
  await h.session.register(`${p}.add`, (args) => new autobahn.Result([args[0] + args[1]], { by: 'js' }));
  await h.session.register(`${p}.fail`, () => {
    throw new autobahn.Error(`${p}.error.refused`, ['refused', 7], { why: 'test' });
  });
  await h.session.subscribe(`${p}.news`, (args, kwargs) => gotEvent([args || [], kwargs || {}]));
  console.log('READY');
  try {
    const [args, kwargs] = await withTimeout(event, EVENT_TIMEOUT, 'no event published over HTTP');
    checks.equal('event args', args, ['from the bridge', 1]);
    checks.equal('event kwargs', kwargs, { k: 'v' });
  } catch (e) {
    checks.fail(String(e.message || e));
  }
  await close(checks, h);
  resultLine('bridge', checks);
  return checks.errors.length === 0;
}

const opts = parseArgs(process.argv.slice(2), {
  usage: 'node bridge.js bridge --url URL --serializer json|msgpack|cbor [--prefix P]',
  roles: ['bridge'],
  defaults: { prefix: 'interop.bridge.js' },
});
runMain(() => run(opts), 'bridge');
