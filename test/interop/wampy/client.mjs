// wampy.js client that drives a Junction router for the interop tests.
//
// Run by test/interop/wampy_test.go with Node.js and the wampy package
// pinned by package-lock.json:
//
//   node client.mjs suite --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x [--scenarios pubsub,rpc]
//
// runs the scenarios pubsub, rpc, errors and binary (or those named), each
// with fresh sessions and its own time limit, prints one RESULT line per
// scenario (see lib.mjs) and exits 0 only if every one passed. binary needs
// msgpack or cbor: wampy's JSON serializer is plain JSON.stringify, without
// WAMP's convention for binary values.
//
// The roles sub-bytes, pub-bytes, callee-bytes and caller-bytes
// (../jscheck/check.js's bytesRoles, with --topic and --procedure) exchange
// the cross-client binary payload with another client, msgpack or cbor
// only, for the same reason; sub-bytes and callee-bytes print READY once
// subscribed or registered. wampy sends the payload as a browser
// application would to have it arrive intact (lib.mjs's asSent): bytes as
// Uint8Arrays, which cbor-x marks with CBOR tag 64, and the integers beyond
// 32 bits as BigInts.
//
// wampy quirks the scenarios work with (wampy 8.0.2):
//
// - publish always sets PUBLISH.Options.acknowledge, so every publication
//   here is acknowledged; and it sends exclude_me only when true, so a
//   publisher cannot ask for its own events (exclude_me: false).
// - wampy checks URIs itself (strictly by default, loosely on request,
//   both refusing whitespace and empty components) and rejects such a
//   request with UriError without sending it; the errors scenario switches
//   that check off for the requests the router must refuse.
// - it refuses, itself, a second registration of a procedure by the same
//   session (RPCAlreadyRegisteredError), so only another session's
//   duplicate reaches the router.
// - as a callee it announces neither progressive call results nor call
//   canceling, so the router never offers it progress; the progressive
//   results wampy receives as a caller come from a raw callee (lib.mjs).
// - its MessagePack serializer (msgpackr's defaults) decodes a uint64 as a
//   BigInt, so with msgpack IDs of 2^32 and more (session and publication
//   IDs) are BigInts; and msgpackr and cbor-x encode integers beyond 32
//   bits as float64, so such application values travel as floats.

import { Errors } from 'wampy';
import {
  BAD_PAYLOAD, BLOB, Checks, MSG, WAIT, asReceived, asSent, bytesKwargs, bytesRoles, close, connect, deferred, describe,
  isID, parseArgs, rawCallee, runMain, runScenarios, sameID, sentMessage,
} from './lib.mjs';

// Non-ASCII text, an emoji (a surrogate pair in JS) included.
const TEXT = 'h\u00e9llo \u2713 \u{1F600}';

// An application error a callee raises: handed to wampy's invocation
// error handler, which sends ERROR with error, argsList and argsDict.
class AppError extends Error {
  constructor(error, argsList, argsDict) {
    super(error);
    this.error = error;
    this.argsList = argsList;
    this.argsDict = argsDict;
  }
}

// payload picks the args and kwargs out of what wampy hands to an event
// handler, a procedure or a call's promise; an absent one stays undefined.
function payload(r) {
  return { argsList: r.argsList, argsDict: r.argsDict };
}

// --- pubsub ----------------------------------------------------------------

async function scenarioPubSub(opts, checks) {
  const topic = `${opts.prefix}.pubsub.events`;
  const n = 50;
  const sub = await connect(opts, 'subscriber');
  const pub = await connect(opts, 'publisher');
  const expected = (i) => ({
    argsList: [i, `event-${i}`],
    argsDict: { seq: i, even: i % 2 === 0, text: TEXT, nested: { list: [i, null, 1.5, -i] } },
  });

  const received = [];
  const all = deferred();
  const subscription = await sub.wampy.subscribe(topic, (ev) => {
    received.push(payload(ev));
    if (received.length === n) all.resolve(true);
  });
  checks.true(`subscription id ${describe(subscription.subscriptionId)} is not a WAMP ID`, isID(subscription.subscriptionId));
  // The publisher subscribes too: it must get another session's events
  // there, never its own (publisher exclusion is the default).
  const own = [];
  const marker = deferred();
  await pub.wampy.subscribe(topic, (ev) => {
    if (ev.argsList && ev.argsList[0] === 'marker') marker.resolve();
    else own.push(payload(ev));
  });

  // All n in flight at once; wampy sends them in this order.
  const acks = await Promise.all(Array.from({ length: n }, (_, i) => pub.wampy.publish(topic, expected(i))));
  const ids = acks.map((a) => a.publicationId);
  for (const id of ids) {
    checks.true(`acknowledged publish: publication id ${describe(id)} is not a WAMP ID`, isID(id));
  }
  checks.true(`acknowledged publishes returned ${new Set(ids.map(String)).size} distinct publication ids for ${n}`,
    new Set(ids.map(String)).size === n);

  if (await checks.within(WAIT, `subscriber: ${n} events`, all.promise) === undefined) {
    checks.fail(`subscriber got ${received.length} of ${n} events`);
  }
  received.slice(0, n).forEach((got, i) => checks.equal(`event ${i}`, got, expected(i)));
  // Each EVENT carries the publication id its publisher was given.
  const events = sub.received.filter((m) => m[0] === MSG.EVENT);
  events.slice(0, n).forEach((m, i) => {
    checks.true(`event ${i}: publication id ${describe(m[2])}, want ${describe(ids[i])} from its PUBLISHED`, sameID(m[2], ids[i]));
  });

  // Another session's event reaches the publisher's subscription. The
  // publisher had all its PUBLISHED before the marker was published, so
  // any event of its own would have come first.
  await sub.wampy.publish(topic, ['marker']);
  await checks.within(WAIT, "publisher's subscription: another session's event", marker.promise);
  checks.true(`publisher received ${own.length} of its own events (want none): ${describe(own.slice(0, 3))}`, own.length === 0);
  const pubEvents = pub.received.filter((m) => m[0] === MSG.EVENT);
  checks.true(`publisher got ${pubEvents.length} EVENTs, want only the marker: ${describe(pubEvents.slice(0, 3))}`,
    pubEvents.length === 1);

  // After UNSUBSCRIBE no more events. wampy drops an EVENT for a
  // subscription it no longer has, so the check is on the messages the
  // router sent. Events of one publisher reach a subscriber in order, so an
  // event on a fence topic, published after, shows that none is coming.
  const fence = deferred();
  await sub.wampy.subscribe(`${topic}_fence`, () => fence.resolve());
  await sub.wampy.unsubscribe(subscription.subscriptionId);
  await pub.wampy.publish(topic, ['after-unsubscribe']);
  await pub.wampy.publish(`${topic}_fence`, ['fence']);
  await checks.within(WAIT, 'subscriber: event on the fence topic', fence.promise);
  const extra = sub.received.filter((m) => m[0] === MSG.EVENT && sameID(m[1], subscription.subscriptionId)).slice(n);
  checks.true(`subscriber got ${extra.length} more EVENTs on its subscription than the ${n} published before UNSUBSCRIBE: ${describe(extra.slice(0, 3))}`,
    extra.length === 0);
  checks.equal('events handed to the subscriber', received.length, n);
  await close(checks, sub, pub);
}

// --- rpc -------------------------------------------------------------------

async function scenarioRPC(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.rpc.`;

  // echo answers with what it was called with: nothing for nothing, args
  // only for args only (wampy sends an args list and a kwargs dict as
  // given in { argsList, argsDict }, and an empty list before kwargs).
  const invocations = [];
  await callee.wampy.register(`${p}echo`, (inv) => {
    invocations.push({ ...payload(inv), details: inv.details });
    if (inv.argsList === undefined && inv.argsDict === undefined) return undefined;
    return { argsList: inv.argsList || [], argsDict: inv.argsDict };
  });
  await callee.wampy.register(`${p}add`, ({ argsList }) => [argsList[0] + argsList[1]]);
  const appError = ['com.example.interop.custom_error', ['first', 2, { three: 3 }], { detail: 'something', code: 42, nested: { x: [1, 2] } }];
  await callee.wampy.register(`${p}fail`, () => {
    throw new AppError(...appError);
  });

  checks.equal('call add(2, 3)', payload(await caller.wampy.call(`${p}add`, [2, 3])), { argsList: [5], argsDict: undefined });

  const cases = [
    ['args and kwargs', {
      argsList: ['a', 1, null, [1, 2], { k: 'v' }, 2.25, true, false, -7, 0, 2 ** 53 - 1, -(2 ** 53 - 1), Math.PI, TEXT],
      argsDict: { unicode: TEXT, n: 7, f: 0.5, empty_list: [], empty_map: {}, nested: { list: [1, 'two', 3.5, null] } },
    }],
    ['args only', { argsList: [1, 'two'], argsDict: undefined }],
    ['kwargs only', { argsList: [], argsDict: { only: 'kw' } }],
  ];
  for (const [what, sent] of cases) {
    const res = await caller.wampy.call(`${p}echo`, sent.argsDict ? sent : sent.argsList);
    checks.equal(`call echo with ${what}: callee got`, payload(invocations.at(-1)), sent);
    checks.equal(`call echo with ${what}: result`, payload(res), sent);
  }
  const none = await caller.wampy.call(`${p}echo`);
  checks.equal('call echo without arguments: callee got', payload(invocations.at(-1)), { argsList: undefined, argsDict: undefined });
  checks.equal('call echo without arguments: result', payload(none), { argsList: undefined, argsDict: undefined });
  checks.equal('invocations of echo', invocations.length, cases.length + 1);

  const e = await checks.wampError('call fail', Errors.CallError, appError[0], caller.wampy.call(`${p}fail`));
  if (e) {
    checks.equal('application error: args and kwargs', payload(e), { argsList: appError[1], argsDict: appError[2] });
  }
  // The callee still works after raising.
  checks.equal('call add after an application error', payload(await caller.wampy.call(`${p}add`, [40, 2])),
    { argsList: [42], argsDict: undefined });

  // Progressive results, from a callee that announces them and call
  // canceling, reach wampy's progress_callback in order, before the final
  // result; without progress_callback wampy does not ask for them.
  const stream = await rawCallee(opts, 'raw callee', { progressive_call_results: true, call_canceling: true },
    (raw, request, details, args) => {
      const asked = details.receive_progress === true;
      if (asked) {
        for (let i = 0; i < args[0]; i++) raw.send([MSG.YIELD, request, { progress: true }, [i], { step: i }]);
      }
      raw.send([MSG.YIELD, request, {}, ['done', asked]]);
    });
  await stream.register(`${p}stream`);
  const progress = [];
  const final = await caller.wampy.call(`${p}stream`, [3], {
    progress_callback: (r) => progress.push({ ...payload(r), progress: r.details && r.details.progress }),
  });
  checks.equal('progressive results, in order, before the final one', progress,
    [0, 1, 2].map((i) => ({ argsList: [i], argsDict: { step: i }, progress: true })));
  checks.equal('final result of the progressive call', payload(final), { argsList: ['done', true], argsDict: undefined });
  checks.true(`final result's details ${describe(final.details)} say progress`, !(final.details && final.details.progress));
  checks.equal('call without progress_callback: final result only', payload(await caller.wampy.call(`${p}stream`, [3])),
    { argsList: ['done', false], argsDict: undefined });
  // wampy as a callee is not offered progress (see above): it just answers.
  const before = progress.length;
  await caller.wampy.call(`${p}echo`, ['progress?'], { progress_callback: (r) => progress.push(payload(r)) });
  checks.true(`wampy callee was offered progress: INVOCATION.Details ${describe(invocations.at(-1).details)}`,
    !('receive_progress' in (invocations.at(-1).details || {})));
  checks.equal('progressive results from a wampy callee', progress.length, before);

  await callee.wampy.unregister(`${p}add`);
  await checks.wampError('call after UNREGISTER', Errors.CallError, 'wamp.error.no_such_procedure',
    caller.wampy.call(`${p}add`, [1, 1]));
  await stream.close(checks);
  await close(checks, callee, caller);
}

// --- errors ----------------------------------------------------------------

// withoutURICheck runs fn with wampy's own URI validation switched off for
// session h, so that the router gets the bad URI and must refuse it. wampy
// has no option for that (uriValidation is 'strict' or 'loose', and both
// refuse these URIs), so this replaces the instance's _validateURI.
async function withoutURICheck(h, fn) {
  const own = Object.getOwnPropertyDescriptor(h.wampy, '_validateURI');
  h.wampy._validateURI = () => true;
  try {
    return await fn();
  } finally {
    if (own) Object.defineProperty(h.wampy, '_validateURI', own);
    else delete h.wampy._validateURI;
  }
}

async function scenarioErrors(opts, checks) {
  const a = await connect(opts, 'session-a');
  const b = await connect(opts, 'session-b');
  const p = `${opts.prefix}.errors.`;

  await checks.wampError('call of an unregistered procedure', Errors.CallError, 'wamp.error.no_such_procedure',
    b.wampy.call(`${p}nonexistent`, [1]));

  await a.wampy.register(`${p}dup`, () => ['first']);
  await checks.wampError('register of a procedure another session registered', Errors.RegisterError,
    'wamp.error.procedure_already_exists', b.wampy.register(`${p}dup`, () => ['second']));
  checks.equal('call of the first registration after the duplicate', payload(await b.wampy.call(`${p}dup`)),
    { argsList: ['first'], argsDict: undefined });

  // wampy refuses a bad URI itself, sending nothing ...
  let local = null;
  try {
    await b.wampy.call('bad uri with spaces');
  } catch (e) {
    local = e;
  }
  checks.true(`wampy's own URI check: got ${describe(local && local.name)}, want UriError`, local instanceof Errors.UriError);
  // ... so it is switched off for the requests the router must refuse.
  const bad = ['bad uri with spaces', `${p}.empty`];
  for (const uri of bad) {
    await withoutURICheck(b, () => checks.wampError(`call of '${uri}'`, Errors.CallError, 'wamp.error.invalid_uri',
      b.wampy.call(uri)));
    await withoutURICheck(a, () => checks.wampError(`register of '${uri}'`, Errors.RegisterError, 'wamp.error.invalid_uri',
      a.wampy.register(uri, () => [])));
    await withoutURICheck(a, () => checks.wampError(`subscribe to '${uri}'`, Errors.SubscribeError, 'wamp.error.invalid_uri',
      a.wampy.subscribe(uri, () => {})));
    await withoutURICheck(a, () => checks.wampError(`publish to '${uri}'`, Errors.PublishError, 'wamp.error.invalid_uri',
      a.wampy.publish(uri, ['x'])));
  }

  // Both sessions survive the errors.
  checks.equal('call after the errors', payload(await b.wampy.call(`${p}dup`)), { argsList: ['first'], argsDict: undefined });

  // A session that leaves takes its registrations with it.
  await a.wampy.register(`${p}gone`, () => ['a']);
  await close(checks, a);
  await checks.wampError('call of a procedure whose callee left', Errors.CallError, 'wamp.error.no_such_procedure',
    b.wampy.call(`${p}gone`));
  await b.wampy.register(`${p}gone`, () => ['b']);
  checks.equal('call of the procedure registered again by another session', payload(await b.wampy.call(`${p}gone`)),
    { argsList: ['b'], argsDict: undefined });
  await close(checks, b);
}

// --- binary ----------------------------------------------------------------

async function scenarioBinary(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.binary.`;
  // A plain Uint8Array, as a browser has it (under Node, cbor-x marks one
  // with CBOR tag 64, "uint8 typed array"; a Buffer it sends untagged).
  const blob = Uint8Array.from({ length: 256 }, (_, i) => i);
  const sent = {
    argsList: [blob],
    argsDict: { blob, empty: new Uint8Array(0), nested: { list: [Uint8Array.of(0, 255, 0)], text: 'not binary' } },
  };

  let got = null;
  await callee.wampy.register(`${p}echo`, (inv) => {
    got = payload(inv);
    return { argsList: inv.argsList, argsDict: inv.argsDict };
  });
  const res = await caller.wampy.call(`${p}echo`, sent);
  checks.equal('callee got', got, sent);
  checks.equal('result', payload(res), sent);

  // The same payload as an event.
  const event = deferred();
  await callee.wampy.subscribe(`${p}event`, (ev) => event.resolve(payload(ev)));
  await caller.wampy.publish(`${p}event`, sent);
  checks.equal('event', await checks.within(WAIT, 'subscriber: binary event', event.promise), sent);
  await close(checks, callee, caller);
}

// --- cross-client binary roles ---------------------------------------------

// The roles (../jscheck/check.js's bytesRoles) with wampy sessions. What
// wampy sends goes through asSent; what it gets is expected as it decodes
// it (asReceived).
const BYTES_ROLES = bytesRoles({
  Checks,
  connect,
  close,
  subscribe: (h, topic, onEvent) => h.wampy.subscribe(topic, (ev) => onEvent(ev.argsList, ev.argsDict)),
  publish: async (h, topic, args, kwargs) => {
    const ack = await h.wampy.publish(topic, { argsList: asSent(args), argsDict: asSent(kwargs) });
    return ack && ack.publicationId;
  },
  register: (h, procedure, serve) => h.wampy.register(procedure, (inv) => {
    const errors = serve(inv.argsList, inv.argsDict);
    if (errors.length) throw new AppError(BAD_PAYLOAD, errors);
    return { argsList: asSent(inv.argsList), argsDict: asSent(inv.argsDict) };
  }),
  // wampy sends its YIELD (or ERROR) once the procedure's value has
  // settled; the tap sees it go.
  answered: (h) => sentMessage(h, (m) => m[0] === MSG.YIELD || (m[0] === MSG.ERROR && m[1] === MSG.INVOCATION),
    'its answer to the INVOCATION'),
  call: async (h, procedure, args, kwargs) => {
    const res = await h.wampy.call(procedure, { argsList: asSent(args), argsDict: asSent(kwargs) });
    return { args: res.argsList, kwargs: res.argsDict };
  },
  expected: (opts) => ({ args: asReceived([BLOB], opts.serializer), kwargs: asReceived(bytesKwargs(), opts.serializer) }),
});

// --- main ------------------------------------------------------------------

const SCENARIOS = {
  pubsub: scenarioPubSub,
  rpc: scenarioRPC,
  errors: scenarioErrors,
  binary: scenarioBinary,
};

const ROLES = {
  suite: (o) => runScenarios(o, SCENARIOS),
  ...BYTES_ROLES,
};

const opts = parseArgs(process.argv.slice(2), {
  usage: `client.mjs {${Object.keys(ROLES).join('|')}} --url ws://HOST:PORT/ws --serializer json|msgpack|cbor` +
    ' [--prefix P] [--scenarios a,b] [--topic T] [--procedure P]',
  roles: Object.keys(ROLES),
  scenarios: SCENARIOS,
  check: (o) => {
    if (!/^ws:\/\//.test(o.url)) return `wampy speaks WebSocket only: want a ws:// URL, not ${o.url}`;
    const names = o.scenarios ? o.scenarios.split(',') : Object.keys(SCENARIOS);
    if (o.serializer === 'json' && (o.role !== 'suite' || names.includes('binary'))) {
      const what = o.role === 'suite' ? 'scenario binary' : `role ${o.role}`;
      return `${what} needs msgpack or cbor: wampy's JSON serializer has no binary convention`;
    }
    return null;
  },
});

runMain(() => ROLES[opts.role](opts), opts.role);
