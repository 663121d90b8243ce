// What the browser page (page.mjs) sends and how it compares what comes
// back: for a page, what ../lib.mjs is to the Node.js scripts. The
// cross-client payload (BLOB, TEXT, typed, bytesKwargs) and the strict
// comparison (kind, describe, diff) are ../../jscheck/values.js's, the
// same as the Node.js harnesses', which index.html loads as a classic
// script before this module (globalThis.jscheckValues).
// ../../wampy_browser_test.go holds the same payloads in Go and checks what
// the page sends against them, and the page checks what the Go client
// sends back.

const V = globalThis.jscheckValues;
if (!V) throw new Error('jscheck/values.js is not loaded (index.html loads it before page.mjs)');

export const {
  TEXT, BLOB, Checks, isID, kind, describe, diff,
} = V;
const { typed, beyond32, mapLeaves } = V;

// plain is the payload every serializer carries, wampy's JSON included:
// no bytes.
export function plain() {
  return {
    args: ['plain', TEXT, 42, -7, 0, 2 ** 53 - 1, -(2 ** 53 - 1), 0.5, Math.PI, true, false, null, [1, 'two', 3.5], {}],
    kwargs: { typed: typed(), empty_list: [], empty_map: {}, nested: { list: [1, null, 1.5, -1] } },
  };
}

// binary is the cross-client binary payload, check.js's [BLOB] and
// bytesKwargs(): bytes at the top, empty, and nested in a list in a map.
export function binary() {
  return { args: [BLOB.slice()], kwargs: V.bytesKwargs((b) => b.slice()) };
}

// --- values as wampy has them ----------------------------------------------

// asSent returns v as the page hands it to wampy with serializer so that
// it arrives intact (../lib.mjs's asSent): with msgpack and cbor an integer
// beyond 32 bits as a BigInt, which msgpackr and cbor-x send as a 64-bit
// integer (a number they send as a float64); bytes as fresh Uint8Arrays.
// JSON.stringify writes such integers exactly, and throws on a BigInt.
export function asSent(v, serializer) {
  if (serializer === 'json') return v;
  return mapLeaves(v, (x) => {
    if (x instanceof Uint8Array) return new Uint8Array(x);
    return beyond32(x) ? BigInt(x) : x;
  });
}

// asReceived returns v as wampy's browser build decodes it with serializer
// (../lib.mjs's asReceived, plus one quirk of the browser build):
// msgpackr, with its defaults, decodes a 64-bit integer as a BigInt;
// cbor-x, with wampy's int64AsNumber, as a number, but wrongly for a
// negative one below -2^32 (see cborNegative).
export function asReceived(v, serializer) {
  switch (serializer) {
    case 'msgpack': return mapLeaves(v, (x) => (beyond32(x) ? BigInt(x) : x));
    case 'cbor': return mapLeaves(v, (x) => (isNegative64(x) ? cborNegative(x) : x));
    default: return v;
  }
}

// isNegative64 says whether x is an integer that CBOR writes as a negative
// integer with a 64-bit argument (-1 - x >= 2^32).
export function isNegative64(x) {
  return Number.isInteger(x) && x < -(2 ** 32);
}

// cborNegative is what wampy 8.0.2's browser build (dist/browser/
// wampy-all.js) decodes the CBOR negative integer x as when -1 - x needs a
// 64-bit argument: the copy of cbor-x bundled into that file reads the
// argument as a number and returns ~argument, and ~ keeps only the low 32
// bits, so -9007199254740991 comes as 1. The cbor-x that npm installs next
// to wampy (1.6.9, which wampy's ES modules use under Node, and which a
// page that bundles wampy's ES modules itself gets) returns -1 - argument.
// Encoding is right both ways. The page checks the bytes such a value
// arrived in as well (cborNegativeBytes).
export function cborNegative(x) {
  return ~((-1 - x) | 0);
}

// cborNegativeBytes returns the CBOR encoding of the negative integer x
// with a 64-bit argument: 0x3b and -1 - x, big-endian.
export function cborNegativeBytes(x) {
  const b = new Uint8Array(9);
  b[0] = 0x3b;
  new DataView(b.buffer).setBigUint64(1, BigInt(-1 - x));
  return b;
}

// leaves returns the leaves of v (everything in it that is neither an
// array nor a plain object), in order.
export function leaves(v) {
  const out = [];
  mapLeaves(v, (x) => out.push(x));
  return out;
}

// count returns how many times needle occurs in haystack (both bytes).
export function count(haystack, needle) {
  let n = 0;
  for (let i = 0; i + needle.length <= haystack.length; i++) {
    let j = 0;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) n++;
  }
  return n;
}
