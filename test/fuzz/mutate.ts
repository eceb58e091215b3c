/** Deterministic PRNG (mulberry32): a failing fuzz case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random bytes drawn from `rand` (not from crypto, so the case stays replayable). */
export function randomBytesFrom(rand: () => number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
}

export interface DerMutatorOptions {
  /** Also emit the input as base64 text with a damaged character (for parsers taking PEM or DER). */
  text?: boolean;
}

/**
 * Mutations of valid DER inputs for fuzzing parsers: bit flips, truncation, random bytes,
 * rewritten tag/length bytes, overwritten runs, splices of two inputs, insertions, with
 * `text` base64 text with a damaged character, or the input untouched (so the valid path
 * keeps being exercised under load).
 */
export function derMutator(rand: () => number, seeds: readonly Uint8Array[]): (src: Uint8Array) => Uint8Array;
export function derMutator(
  rand: () => number,
  seeds: readonly Uint8Array[],
  options: DerMutatorOptions,
): (src: Uint8Array) => Uint8Array | string;
export function derMutator(
  rand: () => number,
  seeds: readonly Uint8Array[],
  { text = false }: DerMutatorOptions = {},
): (src: Uint8Array) => Uint8Array | string {
  const int = (n: number) => Math.floor(rand() * n);
  return (src) => {
    const b = Uint8Array.from(src);
    switch (int(text ? 9 : 8)) {
      case 0: // a few bit flips anywhere
        for (let k = 1 + int(8); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
        return b;
      case 1: // truncation
        return b.slice(0, int(b.length));
      case 2: // random bytes of random length, sometimes starting like a SEQUENCE
        return Uint8Array.from({ length: int(600) }, (_, i) => (i === 0 && rand() < 0.5 ? 0x30 : int(256)));
      case 3: // a tag or length byte in the first 40 octets rewritten
        b[int(Math.min(40, b.length))] = int(256);
        return b;
      case 4: // a run of bytes overwritten
        for (let i = int(b.length), n = int(32); n > 0 && i < b.length; n--, i++) b[i] = int(256);
        return b;
      case 5: // splice with another input
        return Uint8Array.from([...b.slice(0, int(b.length)), ...seeds[int(seeds.length)].slice(int(200))]);
      case 6: // insertion
        return Uint8Array.from([
          ...b.slice(0, int(b.length)),
          ...Array.from({ length: 1 + int(8) }, () => int(256)),
          ...b.slice(int(b.length)),
        ]);
      case 7: // (text only) base64 text with a damaged character
        if (text) {
          return Buffer.from(b)
            .toString('base64')
            .replace(/./, (c) => (rand() < 0.5 ? c : '*'));
        }
        return b;
      default: // untouched
        return b;
    }
  };
}

/**
 * Structure-aware mutations of valid DER inputs: 1 to 4 rounds of bit flips, replaced bytes,
 * truncation, inserted random bytes, deleted runs, duplicated slices, length octets set to
 * long, indefinite or huge forms, splices with another input, and bytes retagged as common
 * ASN.1 tags.
 */
export function asn1Mutator(rand: () => number, seeds: readonly Uint8Array[]): (src: Uint8Array) => Buffer {
  const int = (n: number) => Math.floor(rand() * n);
  return (src) => {
    let b = Buffer.from(src);
    const rounds = 1 + int(4);
    for (let r = 0; r < rounds; r++) {
      const at = b.length ? int(b.length) : 0;
      switch (int(9)) {
        case 0: // flip bits
          if (b.length) b[at] ^= 1 << int(8);
          break;
        case 1: // replace a byte
          if (b.length) b[at] = int(256);
          break;
        case 2: // truncate
          b = b.subarray(0, at);
          break;
        case 3: // insert random bytes
          b = Buffer.concat([b.subarray(0, at), randomBytesFrom(rand, 1 + int(8)), b.subarray(at)]);
          break;
        case 4: // delete a run
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]);
          break;
        case 5: // duplicate a slice
          b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + int(24)), b.subarray(at)]);
          break;
        case 6: // corrupt a length octet: long forms, indefinite, huge
          if (b.length > 1) b[Math.max(1, at)] = [0x80, 0x81, 0x82, 0x84, 0x88, 0xff, 0x00, 0x7f][int(8)];
          break;
        case 7: // splice with another input
          b = Buffer.concat([b.subarray(0, at), seeds[int(seeds.length)].subarray(int(40))]);
          break;
        default: // retag a byte as a common ASN.1 tag
          if (b.length) b[at] = [0x30, 0x31, 0x04, 0x02, 0x05, 0x06, 0xa0, 0xa1, 0xa2, 0x80, 0x0a, 0x18][int(12)];
      }
    }
    return b;
  };
}
