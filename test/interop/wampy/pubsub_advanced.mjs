// wampy.js scenarios for Junction's Advanced Profile PubSub features: the
// wampy side of pubsub_advanced_test.go, like js/pubsub_advanced.js.
//
//   node pubsub_advanced.mjs suite --url ws://127.0.0.1:8080/ws --serializer cbor --prefix interop.x [--scenarios a,b]
//
// Scenarios, each with fresh sessions, one RESULT line each (see lib.mjs):
//
// - listing: exclude and eligible by session id, exclude_authid and
//   eligible_authid (with the authids the router gave), exclude_authrole
//   and eligible_authrole, combinations, and wampy's single-value forms
//   (it sends a string or number as a list of one);
// - patterns: prefix and wildcard subscriptions next to an exact one: the
//   subscriptions each publication reaches, one EVENT per matching
//   subscription with one publication id, EVENT.Details.topic, one
//   subscription id per (match, pattern) across sessions;
// - disclose: disclose_me gives publisher, publisher_authid and
//   publisher_authrole, nothing without it; custom options (_name) are
//   accepted;
// - retained: retain and get_retained; whatever arrives before the next
//   live event is the latest retained event, marked retained.
//
// wampy quirks here: publish always asks for acknowledgement and sends
// exclude_me only when true, so a publisher never gets its own events and
// the rounds' fences reach the other sessions only; and it refuses an
// empty exclude or eligible list itself (InvalidParamError), so an empty
// eligible list cannot be sent.

import {
  FenceInbox, MSG, WAIT, close, connect, deferred, describe, parseArgs, runMain, runScenarios, sameID,
} from './lib.mjs';

// An Inbox collects the events of one subscription in rounds (jscheck's
// FenceInbox), each event as wampy hands it over.
class Inbox extends FenceInbox {
  handler() {
    return (ev) => this.take(ev.argsList || [], ev);
  }
}

// round publishes args with options, then the fence n, and returns the
// names of the inboxes that got the first publication.
async function round(checks, pub, topic, inboxes, n, args, options) {
  const waits = inboxes.map((ib) => ib.fence(n));
  for (const ib of inboxes) ib.events = [];
  await pub.wampy.publish(topic, args, options);
  await pub.wampy.publish(topic, ['fence', n]);
  await checks.within(WAIT, `round ${n}: fence`, Promise.all(waits));
  return inboxes.filter((ib) => ib.events.length).map((ib) => ib.name).sort();
}

async function scenarioListing(opts, checks) {
  const topic = `${opts.prefix}.listing`;
  const h = {};
  for (const n of ['a', 'b', 'c', 'pub']) h[n] = await connect(opts, n);
  const inboxes = [];
  for (const n of ['a', 'b', 'c']) {
    const ib = new Inbox(n);
    inboxes.push(ib);
    await h[n].wampy.subscribe(topic, ib.handler());
  }
  // IDs go in lists: wampy refuses a single session id that msgpack
  // decoded as a BigInt (see lib.mjs, sameID).
  const id = (n) => h[n].id;
  const authid = (n) => h[n].authid;
  const cases = [
    ['default', undefined, ['a', 'b', 'c']],
    ['exclude_me', { exclude_me: true }, ['a', 'b', 'c']],
    ['exclude', { exclude: [id('b')] }, ['a', 'c']],
    ['eligible', { eligible: [id('b'), id('pub')] }, ['b']],
    ['eligible and exclude', { eligible: [id('a'), id('b')], exclude: [id('a')] }, ['b']],
    ['exclude_authid', { exclude_authid: [authid('a'), authid('c')] }, ['b']],
    ['exclude_authid, one string', { exclude_authid: authid('a') }, ['b', 'c']],
    ['eligible_authid', { eligible_authid: [authid('c')] }, ['c']],
    ['eligible_authid, one string', { eligible_authid: authid('b') }, ['b']],
    ['eligible_authid and exclude', { eligible_authid: [authid('a'), authid('b')], exclude: [id('b')] }, ['a']],
    ['exclude_authrole', { exclude_authrole: ['anonymous'] }, []],
    ['exclude_authrole, one string', { exclude_authrole: 'nobody' }, ['a', 'b', 'c']],
    ['eligible_authrole', { eligible_authrole: ['anonymous'] }, ['a', 'b', 'c']],
    ['eligible_authrole of no session', { eligible_authrole: ['nobody'] }, []],
  ];
  if (typeof id('b') === 'number') cases.push(['exclude, one number', { exclude: id('b') }, ['a', 'c']]);
  for (const [i, [what, options, want]] of cases.entries()) {
    checks.equal(`${what}: receivers`, await round(checks, h.pub, topic, inboxes, i, ['p', i], options), want);
  }
  // What wampy sent for the single-value forms: lists of one.
  const sent = h.pub.sent.filter((m) => m[0] === MSG.PUBLISH && m[4] && m[4][0] === 'p');
  const single = cases.findIndex(([what]) => what === 'exclude_authid, one string');
  checks.equal('PUBLISH.Options of exclude_authid given one string', sent[single] && sent[single][2],
    { acknowledge: true, exclude_authid: [authid('a')] });
  await close(checks, ...Object.values(h));
}

async function scenarioPatterns(opts, checks) {
  const base = `${opts.prefix}.patterns`;
  const sub = await connect(opts, 'subscriber');
  const other = await connect(opts, 'other subscriber');
  const pub = await connect(opts, 'publisher');
  const exact = new Inbox('exact');
  const prefix = new Inbox('prefix');
  const wildcard = new Inbox('wildcard');
  const se = await sub.wampy.subscribe(`${base}.room.temp`, exact.handler());
  const sp = await sub.wampy.subscribe(`${base}.room`, prefix.handler(), { match: 'prefix' });
  const sw = await sub.wampy.subscribe(`${base}..temp`, wildcard.handler(), { match: 'wildcard' });
  const ids = [se, sp, sw].map((s) => String(s.subscriptionId));
  checks.equal('exact, prefix and wildcard subscriptions have distinct ids', new Set(ids).size, 3);
  // Another session's subscription to the same pattern shares its id.
  const op = await other.wampy.subscribe(`${base}.room`, () => {}, { match: 'prefix' });
  checks.true(`another session's prefix subscription got id ${describe(op.subscriptionId)}, want ${describe(sp.subscriptionId)}`,
    sameID(op.subscriptionId, sp.subscriptionId));
  const inboxes = [exact, prefix, wildcard];
  const fence = `${base}.room.temp`; // matches all three
  const cases = [
    [`${base}.room.temp`, ['exact', 'prefix', 'wildcard']],
    [`${base}.room.light.x`, ['prefix']],
    [`${base}.room`, ['prefix']],
    [`${base}.hall.temp`, ['wildcard']],
    [`${base}.hall.temp.x`, []],
    // A prefix is a string prefix (the spec's emergency-low example).
    [`${base}.roomx.light`, ['prefix']],
    [`${base}.roo.light`, []],
  ];
  for (const [i, [topic, want]] of cases.entries()) {
    const waits = inboxes.map((ib) => ib.fence(i));
    for (const ib of inboxes) ib.events = [];
    const ack = await pub.wampy.publish(topic, ['on', topic]);
    await pub.wampy.publish(fence, ['fence', i]);
    await checks.within(WAIT, `${topic}: fence`, Promise.all(waits));
    checks.equal(`publication to ${topic}: subscriptions`, inboxes.filter((ib) => ib.events.length).map((ib) => ib.name), want);
    for (const ib of inboxes.filter((x) => x.events.length)) {
      const ev = ib.events[0];
      // The exact subscription's EVENT need not name the topic.
      const wantTopic = ib.name === 'exact' ? ev.details.topic : topic;
      checks.equal(`publication to ${topic} on ${ib.name}: events, args, details.topic`,
        [ib.events.length, ev.argsList, ev.details.topic], [1, ['on', topic], wantTopic]);
    }
    // One publication id for all its events: the EVENT messages of the
    // publication, as the router sent them.
    const events = sub.received.filter((m) => m[0] === MSG.EVENT && m[4] && m[4][0] === 'on' && m[4][1] === topic);
    checks.equal(`publication to ${topic}: EVENTs`, events.length, want.length);
    for (const m of events) {
      checks.true(`publication to ${topic}: EVENT publication id ${describe(m[2])}, want ${describe(ack.publicationId)}`,
        sameID(m[2], ack.publicationId));
    }
  }
  await close(checks, sub, other, pub);
}

async function scenarioDisclose(opts, checks) {
  const topic = `${opts.prefix}.disclose`;
  const sub = await connect(opts, 'subscriber');
  const pub = await connect(opts, 'publisher');
  const ib = new Inbox('sub');
  // A custom option (wampy passes options named _[a-z0-9_]{3,} on) must be
  // accepted, and ignored.
  await sub.wampy.subscribe(topic, ib.handler(), { _interop_tag: 'subscribe' });
  await round(checks, pub, topic, [ib], 1, ['disclosed'], { disclose_me: true, _interop_tag: 'publish' });
  const d = ib.events[0] && ib.events[0].details;
  checks.equal('disclose_me: publisher, publisher_authid, publisher_authrole',
    d && [d.publisher, d.publisher_authid, d.publisher_authrole], [pub.id, pub.authid, 'anonymous']);
  await round(checks, pub, topic, [ib], 2, ['anonymous']);
  const d2 = ib.events[0] && ib.events[0].details;
  checks.equal('without disclose_me: publisher, publisher_authid, publisher_authrole',
    d2 && [d2.publisher, d2.publisher_authid, d2.publisher_authrole], [undefined, undefined, undefined]);
  const options = pub.sent.filter((m) => m[0] === MSG.PUBLISH).map((m) => m[2]);
  checks.equal('PUBLISH.Options wampy sent with disclose_me', options[0],
    { acknowledge: true, disclose_me: true, _interop_tag: 'publish' });
  await close(checks, sub, pub);
}

async function scenarioRetained(opts, checks) {
  const topic = `${opts.prefix}.retained`;
  const pub = await connect(opts, 'publisher');
  for (let i = 0; i < 3; i++) await pub.wampy.publish(topic, ['value', i], { retain: true });
  const sub = await connect(opts, 'subscriber');
  const got = [];
  const live = deferred();
  await sub.wampy.subscribe(topic, (ev) => {
    got.push([ev.argsList, ev.details.retained]);
    if (ev.argsList[0] === 'live') live.resolve();
  }, { get_retained: true });
  await pub.wampy.publish(topic, ['live']);
  await checks.within(WAIT, 'live event', live.promise);
  // The retention store is best effort; what arrives must be right.
  const want = [[['value', 2], true], [['live'], undefined]];
  checks.equal('events after subscribing with get_retained', got, got.length === 1 ? want.slice(1) : want);
  await close(checks, pub, sub);
}

const SCENARIOS = {
  listing: scenarioListing,
  patterns: scenarioPatterns,
  disclose: scenarioDisclose,
  retained: scenarioRetained,
};

const opts = parseArgs(process.argv.slice(2), {
  usage: 'node pubsub_advanced.mjs suite --url ws://HOST:PORT/ws --serializer json|msgpack|cbor [--prefix P] [--scenarios a,b]',
  roles: ['suite'],
  scenarios: SCENARIOS,
});
runMain(() => runScenarios(opts, SCENARIOS), 'suite');
