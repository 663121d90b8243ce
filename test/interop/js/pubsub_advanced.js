// Autobahn|JS scenarios for Junction's Advanced Profile PubSub features.
//
// Run by test/interop/pubsub_advanced_test.go like client.js (with the
// connection and checking helpers of lib.js):
//
//   node pubsub_advanced.js suite --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x
//
// Scenarios, each with fresh sessions, one RESULT line each:
//
// - disclose: publisher_identification (disclose_me) with publisher,
//   publisher_authid and publisher_authrole, nothing without it;
// - listing: exclude_me, exclude and eligible by session id;
// - patterns: prefix and wildcard subscriptions with EVENT.Details.topic;
// - revocation: wamp.subscription.remove_subscriber revokes a subscription,
//   which Autobahn|JS learns from [UNSUBSCRIBED, 0, {subscription, reason}];
// - badoptions: options of the wrong type or value are refused with
//   wamp.error.invalid_argument and a readable message, the session goes on;
// - retained: retain and get_retained are accepted; a retained event, when
//   the router delivers one, is the latest and marked retained.
'use strict';

const {
  FenceInbox, close, connect, describe, parseArgs, runMain, runScenarios, withTimeout,
} = require('./lib.js');

// An inbox collects the events of one subscription in rounds (jscheck's
// FenceInbox), each event as {args, kwargs, details}.
class Inbox extends FenceInbox {
  handler() {
    return (args, kwargs, details) => this.take(args, { args, kwargs, details });
  }
}

// Publishes args with options, then an unrestricted fence, and returns the
// names of the inboxes that got the first event.
async function round(checks, pub, topic, inboxes, n, args, options) {
  const waits = inboxes.map((ib) => ib.fence(n));
  for (const ib of inboxes) ib.events = [];
  pub.session.publish(topic, args, {}, options);
  await pub.session.publish(topic, ['fence', n], {}, { acknowledge: true, exclude_me: false });
  await checks.within(10000, `round ${n}: fence`, Promise.all(waits));
  return inboxes.filter((ib) => ib.events.length).map((ib) => ib.name).sort();
}

async function scenarioDisclose(opts, checks) {
  const topic = `${opts.prefix}.disclose`;
  const sub = await connect(opts, 'subscriber');
  const pub = await connect(opts, 'publisher');
  const ib = new Inbox('sub');
  await sub.session.subscribe(topic, ib.handler());
  await round(checks, pub, topic, [ib], 1, ['disclosed'], { disclose_me: true });
  const d = ib.events[0] && ib.events[0].details;
  checks.equal('disclose_me: publisher, publisher_authid, publisher_authrole',
    d ? [d.publisher, typeof d.publisher_authid, d.publisher_authrole] : null,
    [pub.session.id, 'string', 'anonymous']);
  await round(checks, pub, topic, [ib], 2, ['anonymous']);
  const d2 = ib.events[0] && ib.events[0].details;
  checks.equal('without disclose_me: publisher', d2 ? [d2.publisher, d2.publisher_authid] : null, [undefined, undefined]);
  await close(checks, sub, pub);
}

async function scenarioListing(opts, checks) {
  const topic = `${opts.prefix}.listing`;
  const h = {};
  for (const n of ['a', 'b', 'c', 'pub']) h[n] = await connect(opts, n);
  const inboxes = [];
  for (const [n, s] of Object.entries(h)) {
    const ib = new Inbox(n);
    inboxes.push(ib);
    await s.session.subscribe(topic, ib.handler());
  }
  const id = (n) => h[n].session.id;
  const cases = [
    ['default', {}, ['a', 'b', 'c']],
    ['exclude_me false', { exclude_me: false }, ['a', 'b', 'c', 'pub']],
    ['exclude', { exclude: [id('b')] }, ['a', 'c']],
    ['eligible', { eligible: [id('b'), id('pub')] }, ['b']],
    ['eligible and exclude', { eligible: [id('a'), id('b')], exclude: [id('a')], exclude_me: false }, ['b']],
    ['exclude_authrole', { exclude_authrole: ['anonymous'] }, []],
  ];
  for (const [i, [what, options, want]] of cases.entries()) {
    checks.equal(`${what}: receivers`, await round(checks, h.pub, topic, inboxes, i, ['p', i], options), want);
  }
  await close(checks, ...Object.values(h));
}

async function scenarioPatterns(opts, checks) {
  const base = `${opts.prefix}.patterns`;
  const sub = await connect(opts, 'subscriber');
  const pub = await connect(opts, 'publisher');
  const prefix = new Inbox('prefix');
  const wildcard = new Inbox('wildcard');
  const sp = await sub.session.subscribe(`${base}.room`, prefix.handler(), { match: 'prefix' });
  const sw = await sub.session.subscribe(`${base}..temp`, wildcard.handler(), { match: 'wildcard' });
  checks.true(`prefix and wildcard subscriptions share id ${sp.id}`, sp.id !== sw.id);
  const fence = `${base}.room.temp`; // matches both
  const cases = [
    [`${base}.room.temp`, ['prefix', 'wildcard']],
    [`${base}.room.light.x`, ['prefix']],
    [`${base}.hall.temp`, ['wildcard']],
    [`${base}.hall.light`, []],
  ];
  for (const [i, [topic, want]] of cases.entries()) {
    const waits = [prefix.fence(i), wildcard.fence(i)];
    prefix.events = [];
    wildcard.events = [];
    await pub.session.publish(topic, ['on', topic], {}, { acknowledge: true });
    await pub.session.publish(fence, ['fence', i], {}, { acknowledge: true });
    await checks.within(10000, `${topic}: fence`, Promise.all(waits));
    const got = [prefix, wildcard].filter((ib) => ib.events.length).map((ib) => ib.name);
    checks.equal(`publication to ${topic}: subscriptions`, got, want);
    for (const ib of [prefix, wildcard].filter((x) => x.events.length)) {
      checks.equal(`publication to ${topic} on ${ib.name}: args and details.topic`,
        [ib.events.length, ib.events[0].args, ib.events[0].details.topic], [1, ['on', topic], topic]);
    }
  }
  await close(checks, sub, pub);
}

async function scenarioRevocation(opts, checks) {
  const topic = `${opts.prefix}.revocation`;
  const sub = await connect(opts, 'subscriber');
  const admin = await connect(opts, 'admin');
  const ib = new Inbox('sub');
  const subscription = await sub.session.subscribe(topic, ib.handler());
  const reason = 'wamp.subscription.revoked_by_test';
  const res = await admin.session.call('wamp.subscription.remove_subscriber', [subscription.id, sub.session.id, reason]);
  checks.equal('remove_subscriber result', res, null);
  try {
    const why = await withTimeout(subscription.on_unsubscribe, 10000, 'revocation notice');
    checks.equal('revocation reason', why, reason);
  } catch (e) {
    checks.fail(e.message);
  }
  checks.equal('subscription active after revocation', subscription.active, false);
  await checks.appError('count_subscribers of the revoked subscription', 'wamp.error.no_such_subscription',
    admin.session.call('wamp.subscription.count_subscribers', [subscription.id]));
  await checks.appError('remove_subscriber again', 'wamp.error.no_such_subscription',
    admin.session.call('wamp.subscription.remove_subscriber', [subscription.id, sub.session.id]));
  // The session goes on: it can subscribe again and receive.
  const again = new Inbox('again');
  await sub.session.subscribe(topic, again.handler());
  await round(checks, admin, topic, [again], 1, ['after']);
  checks.equal('events after subscribing again', again.events.map((e) => e.args), [['after']]);
  await close(checks, sub, admin);
}

async function scenarioBadOptions(opts, checks) {
  const topic = `${opts.prefix}.badoptions`;
  const s = await connect(opts, 'session');
  const cases = [
    ['exclude_me', 'no', 'must be a boolean'],
    ['exclude', 12, 'must be a list of session ids'],
    ['eligible', ['x'], 'element 0 must be a session id'],
    ['exclude_authid', [1], 'element 0 must be a string'],
    ['disclose_me', 1, 'must be a boolean'],
    ['retain', 'yes', 'must be a boolean'],
  ];
  for (const [key, value, text] of cases) {
    const e = await checks.appError(`publish with ${key}=${describe(value)}`, 'wamp.error.invalid_argument',
      s.session.publish(topic, [], {}, { acknowledge: true, [key]: value }));
    if (e) checks.true(`error message ${describe(e.args)} does not say "${text}"`, String(e.args[0]).includes(text));
  }
  for (const [key, value, text] of [['match', 'regex', 'must be one of'], ['get_retained', 1, 'must be a boolean']]) {
    const e = await checks.appError(`subscribe with ${key}=${describe(value)}`, 'wamp.error.invalid_argument',
      s.session.subscribe(topic, () => {}, { [key]: value }));
    if (e) checks.true(`error message ${describe(e.args)} does not say "${text}"`, String(e.args[0]).includes(text));
  }
  await checks.appError('subscribe to an invalid wildcard pattern', 'wamp.error.invalid_uri',
    s.session.subscribe(`${topic}..a b`, () => {}, { match: 'wildcard' }));
  const p = await s.session.publish(topic, [], {}, { acknowledge: true, exclude: [] });
  checks.true('the session goes on after refused options', p && Number.isInteger(p.id));
  await close(checks, s);
}

async function scenarioRetained(opts, checks) {
  const topic = `${opts.prefix}.retained`;
  const pub = await connect(opts, 'publisher');
  for (let i = 0; i < 3; i++) {
    await pub.session.publish(topic, ['value', i], {}, { acknowledge: true, retain: true });
  }
  const sub = await connect(opts, 'subscriber');
  const got = [];
  let live;
  const liveP = new Promise((r) => { live = r; });
  await sub.session.subscribe(topic, (args, kwargs, details) => {
    got.push([args, details.retained]);
    if (args[0] === 'live') live();
  }, { get_retained: true });
  await pub.session.publish(topic, ['live'], {}, { acknowledge: true });
  await checks.within(10000, 'live event', liveP);
  // The retention store is best effort; what arrives must be right.
  const want = [[['value', 2], true], [['live'], false]];
  checks.equal('events after subscribing with get_retained', got, got.length === 1 ? want.slice(1) : want);
  await close(checks, pub, sub);
}

const SCENARIOS = {
  disclose: scenarioDisclose,
  listing: scenarioListing,
  patterns: scenarioPatterns,
  revocation: scenarioRevocation,
  badoptions: scenarioBadOptions,
  retained: scenarioRetained,
};

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage: 'node pubsub_advanced.js suite --url URL --serializer S [--prefix P] [--scenarios a,b]',
    roles: ['suite'],
    defaults: { prefix: 'interop.js.adv' },
    scenarios: SCENARIOS,
  });
  runMain(() => runScenarios(opts, SCENARIOS), 'suite');
}

main();
