// wampy.js authenticates to Junction: the wampy side of auth_test.go,
// against the same router as js/auth.js (examples/config/auth.yaml with
// one more public key for device-1, whose private key --devicekey gives):
//
//   node auth.mjs --url ws://127.0.0.1:8080/ws --serializer json --devicekey HEX --scenarios login,failures,permissions
//
// prints one RESULT line per scenario (see lib.mjs) and exits 0 only if
// every scenario passed.
//
// login: ticket (onChallenge), wampcra and salted wampcra (wampy/wampcra.js
// as an authPlugin, authMode 'auto', and its sign as onChallenge),
// cryptosign (wampy/cryptosign.js, the public key from tweetnacl, which
// that module uses) and anonymous; WELCOME names the authid, role and
// method. wampy has no WAMP-SCRAM, and cannot be given one: it always sends
// AUTHENTICATE with an empty Extra, where WAMP-SCRAM needs the nonce.
// failures: wrong secrets, unknown authids and an unknown key are refused
// with ABORT wamp.error.authentication_failed, all with one message; a
// method the realm lacks with wamp.error.no_auth_method.
// permissions: the public role is refused call, register, publish and
// subscribe outside public. (and wamp.session.count); the device role may
// register and publish under device.device-1. only. The URIs name the
// serializer, so that every combination can run this at once.

import { Errors } from 'wampy';
import * as wampyCra from 'wampy/wampcra.js';
import * as wampyCS from 'wampy/cryptosign.js';
import tweetnacl from 'tweetnacl';
import {
  close, connect, describe, parseArgs, runMain, runScenarios,
} from './lib.mjs';

const SCENARIO_TIMEOUT = 60000;

function ticket(authid, secret) {
  return { authid, authmethods: ['ticket'], onChallenge: () => secret };
}

// wampcra signs with wampy's plugin, which derives the key itself when
// the CHALLENGE carries a salt: as an authPlugin in authMode 'auto' (auto
// true), or called from onChallenge.
function wampcra(authid, secret, auto) {
  const sign = wampyCra.sign(secret);
  return auto
    ? { authid, authmethods: ['wampcra'], authPlugins: { wampcra: sign }, authMode: 'auto' }
    : { authid, authmethods: ['wampcra'], onChallenge: (method, extra) => sign(method, extra) };
}

// cryptosign signs with wampy's plugin; wampy needs the public key in
// authextra.pubkey.
function cryptosign(authid, seedHex) {
  const pair = tweetnacl.sign.keyPair.fromSeed(wampyCS.hex2bytes(seedHex));
  return {
    authid,
    authmethods: ['cryptosign'],
    authextra: { pubkey: wampyCS.bytes2hex(pair.publicKey) },
    authPlugins: { cryptosign: wampyCS.sign(seedHex) },
    authMode: 'auto',
  };
}

// refused tries to join with auth and resolves to wampy's AbortError for
// the router's ABORT, or fails the check and resolves to null.
async function refused(checks, opts, what, auth, want) {
  let h;
  try {
    h = await connect(opts, what, { auth });
  } catch (e) {
    if (e.cause instanceof Errors.AbortError) return e.cause;
    checks.fail(`${what}: ${e.message}, want ABORT ${want}`);
    return null;
  }
  checks.fail(`${what}: joined as ${h.welcome.authid}, want ABORT ${want}`);
  await close(checks, h);
  return null;
}

async function scenarioLogin(opts, checks) {
  const handles = [];
  try {
    for (const [what, auth, want] of [
      ['ticket', ticket('ticket-user', 'ticket-secret'), ['ticket-user', 'backend', 'ticket']],
      ['wampcra (authPlugins)', wampcra('cra-user', 'cra-secret', true), ['cra-user', 'backend', 'wampcra']],
      ['wampcra (onChallenge)', wampcra('cra-user', 'cra-secret', false), ['cra-user', 'backend', 'wampcra']],
      ['wampcra salted', wampcra('cra-salted', 'cra-secret', true), ['cra-salted', 'backend', 'wampcra']],
      ['cryptosign', cryptosign('device-1', opts.devicekey), ['device-1', 'device', 'cryptosign']],
      ['anonymous', {}, [undefined, 'public', 'anonymous']],
    ]) {
      let h;
      try {
        h = await connect(opts, what, { auth });
      } catch (e) {
        checks.fail(`${what}: ${e.message}`);
        continue;
      }
      handles.push(h);
      const w = h.welcome;
      // An anonymous session gets an authid the router makes up.
      if (want[0] === undefined) {
        checks.true(`${what}: WELCOME authid ${describe(w.authid)} is not a string`, typeof w.authid === 'string' && w.authid !== '');
        want[0] = w.authid;
      }
      checks.equal(`${what}: WELCOME authid, authrole, authmethod`, [w.authid, w.authrole, w.authmethod], want);
    }
  } finally {
    await close(checks, ...handles);
  }
}

async function scenarioFailures(opts, checks) {
  const messages = new Set();
  const otherSeed = '11'.repeat(32);
  for (const [what, auth, want] of [
    ['wrong ticket', ticket('ticket-user', 'wrong'), 'wamp.error.authentication_failed'],
    ['unknown authid (ticket)', ticket('nobody', 'ticket-secret'), 'wamp.error.authentication_failed'],
    ['wrong wampcra secret', wampcra('cra-user', 'wrong', true), 'wamp.error.authentication_failed'],
    ['wrong salted secret', wampcra('cra-salted', 'wrong', false), 'wamp.error.authentication_failed'],
    ['unknown authid (wampcra)', wampcra('nobody', 'cra-secret', true), 'wamp.error.authentication_failed'],
    ['unknown cryptosign key', cryptosign('device-1', otherSeed), 'wamp.error.authentication_failed'],
    ['method the realm lacks', { authid: 'x', authmethods: ['tls'], onChallenge: () => '' }, 'wamp.error.no_auth_method'],
  ]) {
    const e = await refused(checks, opts, what, auth, want);
    if (!e) continue;
    checks.equal(`${what}: ABORT reason`, e.errorUri, want);
    if (want === 'wamp.error.authentication_failed') messages.add(e.details && e.details.message);
  }
  checks.equal(`refusals all say the same: ${describe([...messages])}`, messages.size, 1);
}

async function scenarioPermissions(opts, checks) {
  const p = `public.wampy_${opts.serializer}`;
  const priv = `private.wampy_${opts.serializer}`;
  const dev = `device.device-1.wampy_${opts.serializer}`;
  // wampy's strict URI check allows letters, digits and _ only, so
  // "device-1" needs its loose check.
  const backend = await connect(opts, 'backend', { auth: { ...ticket('ticket-user', 'ticket-secret'), uriValidation: 'loose' } });
  const pub = await connect(opts, 'public');
  const device = await connect(opts, 'device', { auth: { ...cryptosign('device-1', opts.devicekey), uriValidation: 'loose' } });
  try {
    await backend.wampy.register(`${p}.time`, () => ['tick']);
    await backend.wampy.register(`${priv}.time`, () => ['hidden']);
    checks.equal('public calls public.*.time', (await pub.wampy.call(`${p}.time`)).argsList, ['tick']);
    const news = await pub.wampy.subscribe(`${p}.news`, () => {});
    checks.true('public subscribes to public.*.news', news && news.subscriptionId !== undefined);
    const denied = 'wamp.error.not_authorized';
    await checks.wampError('public calls private.*.time', Errors.CallError, denied, pub.wampy.call(`${priv}.time`));
    await checks.wampError('public calls wamp.session.count', Errors.CallError, denied, pub.wampy.call('wamp.session.count'));
    await checks.wampError('public registers', Errors.RegisterError, denied, pub.wampy.register(`${p}.mine`, () => []));
    await checks.wampError('public publishes', Errors.PublishError, denied, pub.wampy.publish(`${p}.news`, ['x']));
    await checks.wampError('public subscribes to private.*.news', Errors.SubscribeError, denied,
      pub.wampy.subscribe(`${priv}.news`, () => {}));

    await device.wampy.register(`${dev}.status`, () => ['ok']);
    checks.equal("backend calls the device's procedure", (await backend.wampy.call(`${dev}.status`)).argsList, ['ok']);
    const ack = await device.wampy.publish(`${dev}.reading`, [1]);
    checks.true('device publishes under device.device-1.', ack && ack.publicationId !== undefined);
    await checks.wampError('device registers under device.device-2.', Errors.RegisterError, denied,
      device.wampy.register(`device.device-2.wampy_${opts.serializer}.status`, () => []));
    await checks.wampError('device publishes under device.device-2.', Errors.PublishError, denied,
      device.wampy.publish(`device.device-2.wampy_${opts.serializer}.reading`, [1]));
    await checks.wampError('device calls', Errors.CallError, denied, device.wampy.call(`${p}.time`));
    await checks.wampError('device subscribes', Errors.SubscribeError, denied, device.wampy.subscribe(`${dev}.reading`, () => {}));
  } finally {
    await close(checks, backend, pub, device);
  }
}

const SCENARIOS = { login: scenarioLogin, failures: scenarioFailures, permissions: scenarioPermissions };

const opts = parseArgs(process.argv.slice(2), {
  usage: 'node auth.mjs --url ws://HOST:PORT/ws --serializer json|msgpack|cbor --devicekey HEX [--scenarios a,b]',
  required: ['devicekey'],
  scenarios: SCENARIOS,
});
runMain(() => runScenarios(opts, SCENARIOS, { timeout: SCENARIO_TIMEOUT }), 'auth');
