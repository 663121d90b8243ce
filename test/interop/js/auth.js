// Autobahn|JS authenticates to Junction: the interop tests of issue 5.
//
// Run by test/interop/auth_test.go against a router serving
// examples/config/auth.yaml (with one more public key for device-1, whose
// private key --devicekey gives):
//
//   node auth.js --url ws://127.0.0.1:8080/ws --serializer json --devicekey HEX --scenarios login,failures,permissions
//
// prints one line per scenario, RESULT {"scenario":...,"ok":...,"errors":[...]},
// and exits 0 only if every scenario passed.
//
// login: ticket, wampcra (autobahn.auth_cra), wampcra salted
// (auth_cra.derive_key), wamp-scram and cryptosign (auth_cryptosign, keys
// from tweetnacl) log in with the example's credentials. Autobahn|JS has no
// WAMP-SCRAM: this script computes it as the specification says (PBKDF2,
// Node's crypto), and checks the router's verifier.
// failures: wrong secrets and unknown authids are refused with
// wamp.error.authentication_failed, all with the same message.
// permissions: the public role is refused call, register, acknowledged
// publish and subscribe outside public., and may call and subscribe inside.
'use strict';

const crypto = require('crypto');
const autobahn = require('autobahn');
const {
  Refused, close, connect, parseArgs, runMain, runScenarios,
} = require('./lib.js');

const JOIN_TIMEOUT = 15000;
const SCENARIO_TIMEOUT = 60000;

// join opens a connection to realm with the authentication options auth
// (authmethods, authid, authextra, onchallenge) and resolves to a handle
// (see lib.js's connect), or rejects with Refused.
function join(opts, realm, label, auth = {}) {
  return connect(opts, label, { realm, auth, joinTimeout: JOIN_TIMEOUT });
}

function ticket(authid, secret) {
  return { authmethods: ['ticket'], authid, onchallenge: () => secret };
}

function wampcra(authid, secret) {
  return {
    authmethods: ['wampcra'], authid,
    onchallenge: (session, method, extra) => {
      let key = secret;
      if (extra.salt) key = autobahn.auth_cra.derive_key(secret, extra.salt, extra.iterations, extra.keylen);
      return autobahn.auth_cra.sign(key, extra.challenge);
    },
  };
}

// wampScram is a WAMP-SCRAM client as the specification describes it, with
// PBKDF2 (Autobahn|JS has none). It checks the router's verifier in
// WELCOME through verify().
function wampScram(authid, password) {
  const clientNonce = crypto.randomBytes(16).toString('base64');
  const hmac = (key, msg) => crypto.createHmac('sha256', key).update(msg).digest();
  const state = {};
  return {
    authmethods: ['wamp-scram'], authid,
    authextra: { nonce: clientNonce, channel_binding: null },
    onchallenge: (session, method, extra) => {
      if (method !== 'wamp-scram') throw new Error(`challenge for ${method}`);
      if (extra.kdf !== 'pbkdf2') throw new Error(`kdf ${extra.kdf}: this client has PBKDF2 only`);
      if (!extra.nonce.startsWith(clientNonce)) throw new Error('the server nonce does not extend ours');
      const saltedPassword = crypto.pbkdf2Sync(password, Buffer.from(extra.salt, 'base64'), extra.iterations, 32, 'sha256');
      const clientKey = hmac(saltedPassword, 'Client Key');
      const storedKey = crypto.createHash('sha256').update(clientKey).digest();
      const escaped = authid.replace(/=/g, '=3D').replace(/,/g, '=2C');
      const authMessage = `n=${escaped},r=${clientNonce},r=${extra.nonce},s=${extra.salt},i=${extra.iterations},c=biws,r=${extra.nonce}`;
      const signature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) proof[i] = clientKey[i] ^ signature[i];
      state.verifier = hmac(hmac(saltedPassword, 'Server Key'), authMessage).toString('base64');
      return [proof.toString('base64'), { nonce: extra.nonce, channel_binding: null, cbind_data: null }];
    },
    verify: (details) => details.authextra && details.authextra.verifier === state.verifier,
  };
}

function cryptosign(seedHex, authid) {
  const key = autobahn.nacl.sign.keyPair.fromSeed(Buffer.from(seedHex, 'hex'));
  return {
    authmethods: ['cryptosign'], authid,
    authextra: { pubkey: autobahn.auth_cryptosign.public_key(key) },
    onchallenge: (session, method, extra) => autobahn.auth_cryptosign.sign_challenge(key, extra),
  };
}

function checkWelcome(checks, what, h, authid, authrole, authmethod) {
  checks.equal(`${what} WELCOME`, [h.details.authid, h.details.authrole, h.details.authmethod], [authid, authrole, authmethod]);
}

async function scenarioLogin(opts, checks) {
  const handles = [];
  try {
    for (const [what, authid, auth, method] of [
      ['ticket', 'ticket-user', ticket('ticket-user', 'ticket-secret'), 'ticket'],
      ['wampcra', 'cra-user', wampcra('cra-user', 'cra-secret'), 'wampcra'],
      ['wampcra salted', 'cra-salted', wampcra('cra-salted', 'cra-secret'), 'wampcra'],
      ['wamp-scram', 'scram-user', wampScram('scram-user', 'scram-secret'), 'wamp-scram'],
      ['cryptosign', 'device-1', cryptosign(opts.devicekey, 'device-1'), 'cryptosign'],
    ]) {
      try {
        const h = await join(opts, 'realm1', what, auth);
        handles.push(h);
        checkWelcome(checks, what, h, authid, authid === 'device-1' ? 'device' : 'backend', method);
        if (auth.verify && !auth.verify(h.details)) checks.fail(`${what}: the router's verifier is wrong: ${JSON.stringify(h.details.authextra)}`);
      } catch (e) {
        checks.fail(`${what} login as ${authid}: ${e.message || e}`);
      }
    }
    const anon = await join(opts, 'realm1', 'anonymous');
    handles.push(anon);
    checks.equal('anonymous authrole', anon.details.authrole, 'public');
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
    ['wrong wampcra secret', wampcra('cra-user', 'wrong'), 'wamp.error.authentication_failed'],
    ['wrong salted secret', wampcra('cra-salted', 'wrong'), 'wamp.error.authentication_failed'],
    ['wrong scram password', wampScram('scram-user', 'wrong'), 'wamp.error.authentication_failed'],
    ['unknown scram authid', wampScram('nobody', 'scram-secret'), 'wamp.error.authentication_failed'],
    ['unknown cryptosign key', cryptosign(otherSeed), 'wamp.error.authentication_failed'],
    ['method the realm lacks', { authmethods: ['tls'], authid: 'x', onchallenge: () => '' }, 'wamp.error.no_auth_method'],
  ]) {
    try {
      const h = await join(opts, 'realm1', what, auth);
      checks.fail(`${what}: joined as ${h.details.authid}, want ${want}`);
      await close(checks, h);
    } catch (e) {
      if (!(e instanceof Refused)) {
        checks.fail(`${what}: ${e.message || e}, want ABORT ${want}`);
        continue;
      }
      checks.equal(`${what}: ABORT reason`, e.reason, want);
      if (want === 'wamp.error.authentication_failed') messages.add(e.msg);
    }
  }
  checks.equal('refusals all say the same', messages.size, 1);
}

async function scenarioPermissions(opts, checks) {
  let backend, pub;
  try {
    backend = await join(opts, 'realm1', 'backend', ticket('ticket-user', 'ticket-secret'));
    pub = await join(opts, 'realm1', 'public');
    await backend.session.register('public.js.time', () => 'tick');
    await backend.session.register('private.js.time', () => 'hidden');
    checks.equal('public calls public.js.time', await pub.session.call('public.js.time'), 'tick');
    await pub.session.subscribe('public.js.news', () => {});
    await checks.appError('public calls private.js.time', 'wamp.error.not_authorized', pub.session.call('private.js.time'));
    await checks.appError('public registers', 'wamp.error.not_authorized', pub.session.register('public.js.mine', () => 1));
    await checks.appError('public publishes (acknowledged)', 'wamp.error.not_authorized',
      pub.session.publish('public.js.news', [1], {}, { acknowledge: true }));
    await checks.appError('public subscribes private.js.news', 'wamp.error.not_authorized', pub.session.subscribe('private.js.news', () => {}));
  } catch (e) {
    checks.fail(`${e && e.error ? e.error : ''} ${e && e.message ? e.message : JSON.stringify(e)}`);
  } finally {
    await close(checks, backend, pub);
  }
}

const SCENARIOS = { login: scenarioLogin, failures: scenarioFailures, permissions: scenarioPermissions };

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage: 'node auth.js --url URL --serializer json|msgpack|cbor --devicekey HEX [--scenarios a,b]',
    defaults: { serializer: 'json' },
    required: ['url', 'serializer', 'devicekey'],
    scenarios: SCENARIOS,
  });
  runMain(() => runScenarios(opts, SCENARIOS, { timeout: SCENARIO_TIMEOUT }), 'auth');
}

main();
