// An Autobahn|JS session for the cluster's interop tests
// (cluster/interop_test.go): node [--experimental-websocket] autobahn.js
// ROLE URL SERIALIZER ARGS... It prints "ready" once it can be used, then
// one JSON line per thing it saw, and exits 0 when its role is done.
//
//   subscriber URL SER TOPIC N   prefix-subscribes to TOPIC, prints N events
//   publisher  URL SER TOPIC N   publishes N events (acknowledged, disclosed)
//   callee     URL SER PROC      registers PROC; runs until stdin closes
//   caller     URL SER PROC      calls PROC, prints its result and its error
//   progress   URL SER PROC N    calls PROC with receive_progress, prints the
//                                progressive results and the final one
//
// autobahn is found through NODE_PATH (test/interop/js/node_modules).
'use strict';

const autobahn = require('autobahn');

const [role, url, ser, name, count] = process.argv.slice(2);
const n = Number(count || 0);
const out = (v) => process.stdout.write((typeof v === 'string' ? v : JSON.stringify(v)) + '\n');
const fail = (e) => {
  process.stderr.write(`${role}: ${e && e.stack ? e.stack : JSON.stringify(e)}\n`);
  process.exit(1);
};

const serializers = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer(),
  cbor: () => new autobahn.serializer.CBORSerializer(),
};

const conn = new autobahn.Connection({
  transports: [{ type: 'websocket', url, serializers: [serializers[ser]()] }],
  realm: 'realm1',
  max_retries: 0,
  retry_if_unreachable: false,
});

conn.onclose = (reason) => {
  if (reason !== 'closed') fail(`connection ${reason}`);
};

conn.onopen = async (session) => {
  try {
    switch (role) {
      case 'subscriber': {
        let seen = 0;
        await session.subscribe(name, (args, kwargs, details) => {
          out({ args, kwargs, publisher: details.publisher, topic: details.topic });
          if (++seen === n) conn.close();
        }, { match: 'prefix' });
        out('ready');
        break;
      }
      case 'publisher': {
        out('ready');
        for (let i = 0; i < n; i++) {
          await session.publish(`${name}.${i}`, [i, 'h\u00e9'], { n: i }, { acknowledge: true, disclose_me: true });
        }
        out({ published: n, session: session.id });
        conn.close();
        break;
      }
      case 'callee': {
        await session.register(name, (args, kwargs, details) => {
          if (args[0] === 'fail') {
            throw new autobahn.Error('com.example.failed', ['no', 1], { why: 'asked' });
          }
          return new autobahn.Result(['echo', ...args], { caller: details.caller, offered_progress: typeof details.progress === 'function' });
        }, { disclose_caller: true });
        out('ready');
        process.stdin.on('end', () => conn.close());
        process.stdin.resume();
        break;
      }
      case 'caller': {
        out('ready');
        const res = await session.call(name, ['x', 2], { k: 'v' }, { receive_progress: true });
        out({ args: res.args, kwargs: res.kwargs, session: session.id });
        try {
          await session.call(name, ['fail']);
          out({ error: null });
        } catch (e) {
          out({ error: e.error, args: e.args, kwargs: e.kwargs });
        }
        conn.close();
        break;
      }
      case 'progress': {
        out('ready');
        const got = [];
        const res = await session.call(name, [n], {}, { receive_progress: true }).then(null, null, (p) => got.push(p.args ? p.args : p));
        out({ progress: got, result: res.args ? res.args : res });
        conn.close();
        break;
      }
      default:
        fail(`unknown role ${role}`);
    }
  } catch (e) {
    fail(e);
  }
};

conn.open();
