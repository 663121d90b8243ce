// The cross-client payload and the strict comparison, for every JavaScript
// harness: the Node.js ones through check.js (which re-exports all of this,
// with the bytes as Buffers), and the wampy.js page in Chromium
// (wampy/browser), which loads this file as a classic script and finds it
// as globalThis.jscheckValues. So it uses no Node built-in (no Buffer, no
// crypto): bytes are Uint8Arrays (a Buffer is one).
//
// Here: BLOB, TEXT, typed and bytesKwargs (the payload, the same as
// python/interop_lib.py's and the Go browser test's), isID, the leaf walk
// the harnesses use to shape values for a library (mapLeaves, beyond32),
// kind, describe and diff, and the Checks collector's base.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.jscheckValues = factory();
}(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  // Non-ASCII text, an emoji (a surrogate pair in JS) included.
  const TEXT = 'h\u00e9llo \u2713 \u{1F600}';

  // BLOB is every byte value and a few more. Both sides of a cross-client
  // check must agree on it byte for byte.
  const BLOB = Uint8Array.from([
    ...Array.from({ length: 256 }, (_, i) => i),
    0, 0,
    ...new TextEncoder().encode('junction'),
    0xff, 0xfe, 0x80,
  ]);

  // typed returns the other kinds of value that travel next to the bytes,
  // a fresh object each time.
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

  // bytesKwargs is the kwargs of the cross-client binary payload (its args
  // are [BLOB]): bytes at the top, empty and nested in a list in a map,
  // each made by bytes from a Uint8Array (check.js makes Buffers).
  function bytesKwargs(bytes = (b) => b) {
    return {
      blob: bytes(BLOB),
      empty: bytes(new Uint8Array(0)),
      nested: { list: [bytes(Uint8Array.of(1, 2, 3))], text: 'not binary' },
      typed: typed(),
    };
  }

  // isID says whether v is a WAMP ID: an integer in [1, 2^53], a number or
  // a BigInt (what some MessagePack decoders make of a uint64).
  function isID(v) {
    if (typeof v === 'bigint') return v >= 1n && v <= 2n ** 53n;
    return Number.isInteger(v) && v >= 1 && v <= 2 ** 53;
  }

  // beyond32 says whether x is an integer that fits in no 32-bit
  // MessagePack integer, signed or unsigned.
  function beyond32(x) {
    return Number.isInteger(x) && (x < -(2 ** 31) || x >= 2 ** 32);
  }

  function kind(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    if (v instanceof Uint8Array) return 'bytes';
    return typeof v; // bigint is a kind of its own: a number must not come back as one
  }

  // mapLeaves returns v with f applied to everything in it that is neither
  // an array nor a plain object (bytes included).
  function mapLeaves(v, f) {
    if (Array.isArray(v)) return v.map((x) => mapLeaves(x, f));
    if (kind(v) === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapLeaves(x, f)]));
    return f(v);
  }

  function hex(b) {
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // describe shows a value in a failed check's message, at most limit
  // characters of it: bytes (also inside lists and maps) as their type,
  // length and first 16 bytes in hex, a BigInt as 123n, anything else as
  // JSON (or String where JSON fails).
  function describe(v, limit = 200) {
    let s;
    if (v instanceof Uint8Array) {
      s = `<${v.constructor.name} ${v.length} bytes ${hex(v.subarray(0, 16))}>`;
    } else if (typeof v === 'bigint') {
      s = `${v}n`;
    } else {
      try {
        s = JSON.stringify(v, function (k, x) {
          if (typeof x === 'bigint') return `${x}n`;
          const raw = this[k]; // before toJSON: a Buffer's makes it a plain object
          if (raw instanceof Uint8Array) return describe(raw);
          return x;
        });
      } catch (e) {
        s = String(v);
      }
      if (s === undefined) s = String(v);
    }
    return s.length > limit ? `${s.slice(0, limit)}...(${s.length} chars)` : s;
  }

  // diff compares structurally and strictly: an integer must stay an
  // integer of the same value (and a JS number, not a BigInt, nor the
  // other way round), binary must arrive as a Uint8Array (a Buffer is one)
  // with the same bytes, not as a string or an array (else the first byte
  // that differs is named), and an absent value must stay absent. Returns
  // the differences.
  function diff(got, want, path = '$') {
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

  // Checks collects failed checks: the base of check.js's (which adds
  // waits and a library's errors) and the browser page's.
  class Checks {
    constructor() {
      this.errors = [];
    }

    fail(msg) {
      this.errors.push(msg);
    }

    equal(what, got, want) {
      for (const d of diff(got, want)) this.fail(`${what}: ${d}`);
    }

    true(what, cond) {
      if (!cond) this.fail(what);
    }
  }

  return { TEXT, BLOB, typed, bytesKwargs, isID, beyond32, kind, mapLeaves, describe, diff, Checks };
}));
