// What the browser page (page.mjs) sends and how it compares what comes
// back: for a page, what ../../jscheck/check.js and ../lib.mjs are to the
// Node.js scripts. check.js is CommonJS built on Node's Buffer and crypto,
// which a page cannot load without a bundler, so the cross-client payload
// (BLOB, TYPED, bytesKwargs) and the strict comparison (kind, describe,
// diff) are repeated here with the same values and rules, on Uint8Arrays.
// ../../wampy_browser_test.go holds the same payloads in Go and checks what
// the page sends against them, and the page checks what the Go client
// sends back, so a copy that drifts fails the test.

// Non-ASCII text, an emoji (a surrogate pair in JS) included.
export const TEXT = 'h\u00e9llo \u2713 \u{1F600}';

// BLOB is every byte value and a few more, as check.js's.
export const BLOB = Uint8Array.from([
  ...Array.from({ length: 256 }, (_, i) => i),
  0, 0,
  ...new TextEncoder().encode('junction'),
  0xff, 0xfe, 0x80,
]);

// typed returns check.js's TYPED: the other kinds of value that travel
// next to the bytes.
function typed() {
  return {
    int: 42,
    neg: -7,
    big: 9007199254740991,
    float: 0.5,
    pi: 3.141592653589793,
    negbig: -9007199254740991,
    zero: 0,
    true: true,
    false: false,
    null: null,
    str: TEXT,
    list: [1, 'two', 3.5],
    map: { a: 1 },
  };
}

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
  return {
    args: [BLOB.slice()],
    kwargs: {
      blob: BLOB.slice(),
      empty: new Uint8Array(0),
      nested: { list: [Uint8Array.of(1, 2, 3)], text: 'not binary' },
      typed: typed(),
    },
  };
}

// --- values as wampy has them ----------------------------------------------

// beyond32 says whether x is an integer that fits in no 32-bit MessagePack
// integer, signed or unsigned.
function beyond32(x) {
  return Number.isInteger(x) && (x < -(2 ** 31) || x >= 2 ** 32);
}

// mapLeaves returns v with f applied to everything in it that is neither
// an array nor a plain object (bytes included).
function mapLeaves(v, f) {
  if (Array.isArray(v)) return v.map((x) => mapLeaves(x, f));
  if (kind(v) === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapLeaves(x, f)]));
  return f(v);
}

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

// isID says whether v is a WAMP ID: an integer in [1, 2^53], a number or a
// BigInt (what msgpackr makes of a uint64).
export function isID(v) {
  if (typeof v === 'bigint') return v >= 1n && v <= 2n ** 53n;
  return Number.isInteger(v) && v >= 1 && v <= 2 ** 53;
}

// --- comparison ------------------------------------------------------------

export function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v; // bigint is a kind of its own: a number must not come back as one
}

function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// describe shows a value in a failed check's message, at most limit
// characters of it: bytes as their type, length and first 16 bytes in hex,
// a BigInt as 123n, anything else as JSON (or String where JSON fails).
export function describe(v, limit = 200) {
  let s;
  if (v instanceof Uint8Array) {
    s = `<${v.constructor.name} ${v.length} bytes ${hex(v.subarray(0, 16))}>`;
  } else if (typeof v === 'bigint') {
    s = `${v}n`;
  } else {
    try {
      s = JSON.stringify(v, (k, x) => {
        if (typeof x === 'bigint') return `${x}n`;
        if (x instanceof Uint8Array) return describe(x);
        return x;
      });
    } catch (e) {
      s = String(v);
    }
    if (s === undefined) s = String(v);
  }
  return s.length > limit ? `${s.slice(0, limit)}...(${s.length} chars)` : s;
}

// diff compares structurally and strictly, as check.js's diff: the same
// kind and value (a number must not come back as a BigInt nor the other way
// round), bytes as a Uint8Array with the same bytes (else the first byte
// that differs is named), an absent value absent. Returns the differences.
export function diff(got, want, path = '$') {
  if (kind(got) !== kind(want)) {
    return [`${path}: got ${kind(got)} ${describe(got)}, want ${kind(want)} ${describe(want)}`];
  }
  switch (kind(want)) {
    case 'bytes': {
      if (got.length === want.length && got.every((b, i) => b === want[i])) return [];
      const at = got.findIndex((b, i) => b !== want[i]);
      const where = at >= 0 && at < want.length
        ? `first difference at byte ${at}: ${got[at]}, want ${want[at]}` : 'the lengths differ';
      return [`${path}: got ${describe(got)}, want ${describe(want)} (${where})`];
    }
    case 'array':
      if (got.length !== want.length) {
        return [`${path}: got ${got.length} items ${describe(got)}, want ${want.length} items ${describe(want)}`];
      }
      return want.flatMap((w, i) => diff(got[i], w, `${path}[${i}]`));
    case 'object': {
      const keys = [...new Set([...Object.keys(got), ...Object.keys(want)])].sort();
      return keys.flatMap((k) => {
        if (!(k in got)) return [`${path}.${k}: missing`];
        if (!(k in want)) return [`${path}.${k}: unexpected ${describe(got[k])}`];
        return diff(got[k], want[k], `${path}.${k}`);
      });
    }
    default:
      return Object.is(got, want) || got === want ? [] : [`${path}: got ${describe(got)}, want ${describe(want)}`];
  }
}
