// wampy.js against Junction's Advanced Profile RPC features: the wampy
// side of rpc_advanced_test.go, like js/rpc_advanced.js.
//
//   node rpc_advanced.mjs --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x [--scenarios a,b]
//
// Scenarios, each with fresh sessions, one RESULT line each (see lib.mjs):
//
// - pattern: exact before the longest prefix before wildcard;
//   INVOCATION.Details.procedure is the called URI;
// - shared: roundrobin over two wampy callees with one registration id,
//   another policy refused with procedure_already_exists, first and last
//   with their standby, random reaching one of them;
// - identification: disclose_me gives caller, caller_authid and
//   caller_authrole; nothing without it;
// - timeout: the call option timeout gives wamp.error.timeout; a raw callee
//   (lib.mjs) with call canceling gets INTERRUPT killnowait with reason
//   wamp.error.timeout, a wampy callee (no call canceling) no INTERRUPT,
//   and its late YIELD is dropped;
// - cancel: wampy's cancel(reqId, {mode}) with kill, killnowait, skip and no
//   mode, to a raw callee with call canceling (INTERRUPT, or none for skip;
//   no mode is the router's default, killnowait) and to a wampy callee
//   (skip whatever the mode); the late answers are dropped;
// - progressive_invocations: wampy's progressiveCall streams chunks to a raw
//   callee with the feature, one INVOCATION each with the call's request;
//   to a wampy callee (without it) the call fails with
//   wamp.error.feature_not_supported.
//
// wampy quirks here: as a callee it announces neither call canceling nor
// progressive call invocations (its README lists the latter for callees),
// and it drops the connection on an INTERRUPT (it has no handler for one).
// As a caller it announces progressive_call_results, call_canceling and
// call_timeout but not progressive_call_invocations, although
// progressiveCall sends CALLs with progress: true; the specification makes
// that a protocol error, so the scenario announces the feature for wampy
// (and checks that the router does abort a caller that did not).

import { Errors } from 'wampy';
import {
  MSG, WAIT, close, connect, deferred, describe, parseArgs, rawCallee, runMain, runScenarios, sameID, sentMessage,
  withTimeout,
} from './lib.mjs';

// The request id of the call wampy sent last: call() sends synchronously
// and records it as the operation status (what wampy's README says to use
// for cancel).
function lastRequest(h) {
  return h.wampy.getOpStatus().reqId;
}

// interruptsOf returns the INTERRUPTs the router sent to session h.
function interruptsOf(h) {
  return h.received.filter((m) => m[0] === MSG.INTERRUPT);
}

async function scenarioPattern(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.pattern`;
  const which = (name) => ({ details }) => [name, details.procedure === undefined ? null : details.procedure];
  await callee.wampy.register(`${p}.a.b`, which('exact'));
  await callee.wampy.register(`${p}.a`, which('prefix'), { match: 'prefix' });
  await callee.wampy.register(`${p}.a.b.c`, which('longer-prefix'), { match: 'prefix' });
  await callee.wampy.register(`${p}..b`, which('wildcard'), { match: 'wildcard' });
  for (const [uri, want] of [
    [`${p}.a.x`, 'prefix'], [`${p}.a.b.c.d`, 'longer-prefix'], [`${p}.a.b.c`, 'longer-prefix'], [`${p}.z.b`, 'wildcard'],
  ]) {
    checks.equal(`call ${uri}: registration and details.procedure`, (await caller.wampy.call(uri)).argsList, [want, uri]);
  }
  // The exact registration wins over the wildcard one; its INVOCATION
  // need not name the procedure.
  const exact = (await caller.wampy.call(`${p}.a.b`)).argsList;
  checks.equal(`call ${p}.a.b: registration`, exact[0], 'exact');
  checks.true(`call ${p}.a.b: details.procedure ${describe(exact[1])}`, exact[1] === null || exact[1] === `${p}.a.b`);
  await checks.wampError('call that matches nothing', Errors.CallError, 'wamp.error.no_such_procedure',
    caller.wampy.call(`${p}.q.r.s`));
  await close(checks, callee, caller);
}

async function scenarioShared(opts, checks) {
  const a = await connect(opts, 'callee a');
  const b = await connect(opts, 'callee b');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.shared.`;
  const calls = async (uri, n) => {
    const got = [];
    for (let i = 0; i < n; i++) got.push((await caller.wampy.call(uri)).argsList[0]);
    return got;
  };
  const ra = await a.wampy.register(`${p}rr`, () => ['a'], { invoke: 'roundrobin' });
  const rb = await b.wampy.register(`${p}rr`, () => ['b'], { invoke: 'roundrobin' });
  checks.true(`roundrobin: registration ids ${describe(ra.registrationId)} and ${describe(rb.registrationId)} differ`,
    sameID(ra.registrationId, rb.registrationId));
  checks.equal('roundrobin', await calls(`${p}rr`, 4), ['a', 'b', 'a', 'b']);
  await checks.wampError('register with another policy', Errors.RegisterError, 'wamp.error.procedure_already_exists',
    caller.wampy.register(`${p}rr`, () => ['c'], { invoke: 'first' }));
  await checks.wampError('register with no policy (single)', Errors.RegisterError, 'wamp.error.procedure_already_exists',
    caller.wampy.register(`${p}rr`, () => ['c']));

  await a.wampy.register(`${p}random`, () => ['a'], { invoke: 'random' });
  await b.wampy.register(`${p}random`, () => ['b'], { invoke: 'random' });
  const random = await calls(`${p}random`, 6);
  checks.true(`random: answers ${describe(random)} not all from a or b`, random.every((x) => x === 'a' || x === 'b'));

  await a.wampy.register(`${p}first`, () => ['a'], { invoke: 'first' });
  await b.wampy.register(`${p}first`, () => ['b'], { invoke: 'first' });
  await a.wampy.register(`${p}last`, () => ['a'], { invoke: 'last' });
  await b.wampy.register(`${p}last`, () => ['b'], { invoke: 'last' });
  checks.equal('first', await calls(`${p}first`, 2), ['a', 'a']);
  checks.equal('last', await calls(`${p}last`, 2), ['b', 'b']);
  await b.wampy.unregister(`${p}last`);
  checks.equal('last after it unregistered: the standby', await calls(`${p}last`, 1), ['a']);
  await close(checks, a);
  checks.equal('first after it left: the standby', await calls(`${p}first`, 1), ['b']);
  checks.equal('roundrobin after a left', await calls(`${p}rr`, 2), ['b', 'b']);
  await close(checks, b, caller);
}

async function scenarioIdentification(opts, checks) {
  const callee = await connect(opts, 'callee');
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.ident.`;
  // (Only the keys present: wampy's MessagePack would send an undefined
  // value as extension type 0, which the router rightly refuses.)
  const keys = ['caller', 'caller_authid', 'caller_authrole'];
  await callee.wampy.register(`${p}who`, ({ details }) => ({
    argsList: [], argsDict: Object.fromEntries(keys.filter((k) => k in details).map((k) => [k, details[k]])),
  }), { _interop_tag: 'register' });
  // A custom option (wampy passes options named _[a-z0-9_]{3,} on) must be
  // accepted, and ignored.
  const res = await caller.wampy.call(`${p}who`, [], { disclose_me: true, _interop_tag: 'call' });
  checks.equal('disclose_me: caller, caller_authid, caller_authrole', res.argsDict,
    { caller: caller.id, caller_authid: caller.authid, caller_authrole: 'anonymous' });
  const call = caller.sent.find((m) => m[0] === MSG.CALL);
  checks.equal('CALL.Options wampy sent with disclose_me', call && call[2], { disclose_me: true, _interop_tag: 'call' });
  checks.equal('not disclosed', (await caller.wampy.call(`${p}who`)).argsDict, {});
  await close(checks, callee, caller);
}

// A raw callee with call canceling that records its INVOCATIONs and
// INTERRUPTs and answers an INTERRUPT kill with ERROR wamp.error.canceled
// ['interrupted']. nextInvocation(what) resolves to the request of the
// next INVOCATION, interrupted(n, what) once n INTERRUPTs have come.
async function cancelingCallee(opts, label) {
  const invoked = [];
  const interrupts = [];
  let invocation = null;
  const watchers = new Set();
  const raw = await rawCallee(opts, label, { call_canceling: true }, (r, request) => {
    invoked.push(request);
    if (invocation) invocation.resolve(request);
    invocation = null;
  }, (r, request, options) => {
    interrupts.push([request, options]);
    if (options.mode === 'kill') r.send([MSG.ERROR, MSG.INVOCATION, request, {}, 'wamp.error.canceled', ['interrupted']]);
    for (const w of watchers) w();
  });
  raw.invoked = invoked;
  raw.interrupts = interrupts;
  raw.nextInvocation = (what) => {
    invocation = deferred();
    return withTimeout(invocation.promise, WAIT, `${label}: ${what}`);
  };
  raw.interrupted = (n, what) => {
    const d = deferred();
    const w = () => {
      if (interrupts.length >= n) d.resolve();
    };
    watchers.add(w);
    w();
    return withTimeout(d.promise, WAIT, `${label}: ${what}`).finally(() => watchers.delete(w));
  };
  return raw;
}

// heldCallee joins a wampy callee whose procedure answers with what
// release is resolved with, once started has been resolved.
async function heldCallee(opts, procedure) {
  const callee = await connect(opts, 'callee');
  const release = deferred();
  const started = deferred();
  await callee.wampy.register(procedure, () => {
    started.resolve();
    return release.promise;
  });
  return { callee, started, release };
}

async function scenarioTimeout(opts, checks) {
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.timeout.`;
  const raw = await cancelingCallee(opts, 'raw callee');
  await raw.register(`${p}slow`);
  await checks.wampError('call with timeout 200 ms', Errors.CallError, 'wamp.error.timeout',
    caller.wampy.call(`${p}slow`, [], { timeout: 200 }));
  const call = caller.sent.find((m) => m[0] === MSG.CALL);
  checks.equal('CALL.Options wampy sent with timeout', call && call[2], { timeout: 200 });
  // The router's ERROR comes after its INTERRUPT went out; wait for it.
  await checks.within(WAIT, 'INTERRUPT after the timeout', raw.interrupted(1, 'INTERRUPT after the timeout'));
  checks.equal('INTERRUPTs after the timeout', raw.interrupts, [[raw.invoked[0], { mode: 'killnowait', reason: 'wamp.error.timeout' }]]);

  // A wampy callee (no call canceling) gets no INTERRUPT; its late answer is
  // dropped, and it goes on working.
  const { callee, started, release } = await heldCallee(opts, `${p}held`);
  await callee.wampy.register(`${p}echo`, ({ argsList }) => argsList);
  const held = caller.wampy.call(`${p}held`, [], { timeout: 100 });
  await checks.within(WAIT, 'invocation of held', started.promise);
  await checks.wampError('timeout at a callee without call canceling', Errors.CallError, 'wamp.error.timeout', held);
  release.resolve(['late']);
  await sentMessage(callee, (m) => m[0] === MSG.YIELD, 'the late YIELD');
  checks.equal('the callee still works', (await caller.wampy.call(`${p}echo`, [3])).argsList, [3]);
  checks.equal('INTERRUPTs to the wampy callee', interruptsOf(callee), []);
  const results = caller.received.filter((m) => m[0] === MSG.RESULT || m[0] === MSG.ERROR);
  checks.equal('answers to the caller: two timeouts, then the echo',
    results.map((m) => (m[0] === MSG.ERROR ? m[4] : m[3])), ['wamp.error.timeout', 'wamp.error.timeout', [3]]);
  await raw.close(checks);
  await close(checks, callee, caller);
}

async function scenarioCancel(opts, checks) {
  const caller = await connect(opts, 'caller');
  const p = `${opts.prefix}.cancel.`;
  const raw = await cancelingCallee(opts, 'raw callee');
  await raw.register(`${p}slow`);

  // cancel(mode) cancels a call to the raw callee once it is invoked and
  // resolves to the call's rejection (or null), checked to be
  // wamp.error.canceled.
  const cancel = async (mode) => {
    const invoked = raw.nextInvocation(`INVOCATION for ${mode}`);
    const call = caller.wampy.call(`${p}slow`, [mode || 'default']);
    const req = lastRequest(caller);
    const inv = await invoked;
    caller.wampy.cancel(req, mode ? { mode } : undefined);
    return [inv, await checks.wampError(`call canceled with ${mode || 'no mode'}`, Errors.CallError, 'wamp.error.canceled',
      withTimeout(call, WAIT, `${mode}: canceled call`))];
  };
  // INTERRUPT.Options.reason is the router's addition (the spec defines
  // only mode).
  const interrupt = (mode) => ({ mode, reason: 'wamp.error.canceled' });
  let [inv, e] = await cancel('kill');
  if (e) checks.equal('kill: the callee\'s ERROR args', e.argsList, ['interrupted']);
  checks.equal('kill: INTERRUPT', raw.interrupts.at(-1), [inv, interrupt('kill')]);

  // killnowait and no mode (the specification names no default; the
  // router's is killnowait): the router answers the caller itself, at
  // once, sends INTERRUPT and drops the callee's late answer.
  for (const mode of ['killnowait', undefined]) {
    const n = raw.interrupts.length + 1;
    [inv, e] = await cancel(mode);
    if (e) checks.true(`${mode}: the router's ERROR args ${describe(e.argsList)}`, e.argsList.length === 1 && typeof e.argsList[0] === 'string');
    await checks.within(WAIT, `INTERRUPT for ${mode}`, raw.interrupted(n, `INTERRUPT for ${mode}`));
    checks.equal(`${mode || 'no mode'}: INTERRUPT`, raw.interrupts.at(-1), [inv, interrupt('killnowait')]);
    raw.send([MSG.YIELD, inv, {}, ['too late']]);
  }

  const interrupts = raw.interrupts.length;
  [inv] = await cancel('skip');
  raw.send([MSG.YIELD, inv, {}, ['skipped']]);
  const cancels = caller.sent.filter((m) => m[0] === MSG.CANCEL).map((m) => m[2]);
  checks.equal('CANCEL.Options wampy sent', cancels, [{ mode: 'kill' }, { mode: 'killnowait' }, {}, { mode: 'skip' }]);

  // A wampy callee has no call canceling: kill becomes skip, it gets no
  // INTERRUPT, and its late answer is dropped.
  const { callee, started, release } = await heldCallee(opts, `${p}held`);
  const held = caller.wampy.call(`${p}held`);
  const req = lastRequest(caller);
  await checks.within(WAIT, 'invocation of held', started.promise);
  caller.wampy.cancel(req, { mode: 'kill' });
  await checks.wampError('kill to a callee without call canceling', Errors.CallError, 'wamp.error.canceled',
    withTimeout(held, WAIT, 'canceled call'));
  release.resolve(['late']);
  await sentMessage(callee, (m) => m[0] === MSG.YIELD, 'the late YIELD');

  // A last call to each callee: whatever the router sent them for the
  // canceled calls came before its INVOCATION.
  const lastRaw = raw.nextInvocation('last INVOCATION');
  const last = caller.wampy.call(`${p}slow`, ['last']);
  raw.send([MSG.YIELD, await lastRaw, {}, ['last']]);
  checks.equal('a call after the cancels', (await last).argsList, ['last']);
  checks.equal('INTERRUPTs for skip', raw.interrupts.length, interrupts);
  await callee.wampy.register(`${p}echo`, ({ argsList }) => argsList);
  checks.equal('the wampy callee still works', (await caller.wampy.call(`${p}echo`, [5])).argsList, [5]);
  checks.equal('INTERRUPTs to the wampy callee', interruptsOf(callee), []);
  // Only the answers to the calls that were not canceled.
  const results = caller.received.filter((m) => m[0] === MSG.RESULT).map((m) => m[3]);
  checks.equal('RESULTs to the caller', results, [['last'], [5]]);
  await raw.close(checks);
  await close(checks, callee, caller);
}

// announceProgressiveInvocations makes wampy announce progressive call
// invocations as a caller (see the quirks above).
function announceProgressiveInvocations(wampy) {
  wampy._wamp_features.roles.caller.features.progressive_call_invocations = true;
}

async function scenarioProgressiveInvocations(opts, checks) {
  const caller = await connect(opts, 'caller', { configure: announceProgressiveInvocations });
  const p = `${opts.prefix}.upload.`;
  const chunks = [];
  const raw = await rawCallee(opts, 'raw callee', { progressive_call_invocations: true, call_canceling: true },
    (r, request, details, args) => {
      chunks.push([request, details.progress === true, args]);
      if (details.progress !== true) r.send([MSG.YIELD, request, {}, [chunks.map((c) => c[2][0])]]);
    });
  await raw.register(`${p}sum`);
  const pc = caller.wampy.progressiveCall(`${p}sum`, [1]);
  pc.sendData([2]);
  pc.sendData([3]);
  pc.sendData([4], { progress: false });
  const res = await checks.within(WAIT, 'result of the progressive call', pc.result);
  checks.equal('result: the chunks in order', res && res.argsList, [[1, 2, 3, 4]]);
  checks.equal('INVOCATIONs: progress, args', chunks.map((c) => [c[1], c[2]]),
    [[true, [1]], [true, [2]], [true, [3]], [false, [4]]]);
  checks.true(`INVOCATIONs have one request id: ${describe(chunks.map((c) => c[0]))}`,
    chunks.every((c) => sameID(c[0], chunks[0][0])));
  const calls = caller.sent.filter((m) => m[0] === MSG.CALL);
  checks.true(`CALLs have one request id: ${describe(calls.map((m) => m[1]))}`, calls.every((m) => m[1] === calls[0][1]));

  // A wampy callee announces no progressive call invocations.
  const callee = await connect(opts, 'callee');
  await callee.wampy.register(`${p}plain`, () => ['plain']);
  const plain = caller.wampy.progressiveCall(`${p}plain`, [1]);
  await checks.wampError('progressive call to a wampy callee', Errors.CallError, 'wamp.error.feature_not_supported',
    withTimeout(plain.result, WAIT, 'progressive call to a wampy callee'));
  checks.equal('INVOCATIONs of the wampy callee', callee.received.filter((m) => m[0] === MSG.INVOCATION), []);

  // wampy as it comes, without the announcement: the router must treat
  // the progressive CALL as a protocol error.
  const bare = await connect(opts, 'caller without the feature');
  const rejected = bare.wampy.progressiveCall(`${p}sum`, [1]).result.catch((err) => err);
  await checks.within(WAIT, 'connection of the caller without the feature closing', bare.closed);
  const abort = bare.received.find((m) => m[0] === MSG.ABORT);
  checks.equal('ABORT of the caller without the feature', abort && abort[2], 'wamp.error.protocol_violation');
  await rejected;
  bare.errors.length = 0; // wampy reports the ABORT to onError
  await raw.close(checks);
  await close(checks, callee, caller);
}

const SCENARIOS = {
  pattern: scenarioPattern,
  shared: scenarioShared,
  identification: scenarioIdentification,
  timeout: scenarioTimeout,
  cancel: scenarioCancel,
  progressive_invocations: scenarioProgressiveInvocations,
};

const opts = parseArgs(process.argv.slice(2), {
  usage: 'node rpc_advanced.mjs --url ws://HOST:PORT/ws --serializer json|msgpack|cbor [--prefix P] [--scenarios a,b]',
  scenarios: SCENARIOS,
});
runMain(() => runScenarios(opts, SCENARIOS), 'rpc_advanced');
