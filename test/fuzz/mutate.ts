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

/**
 * Mutations of valid DER inputs for fuzzing parsers: bit flips, truncation, random bytes,
 * rewritten tag/length bytes, overwritten runs, splices of two inputs, insertions, or the
 * input untouched (so the valid path keeps being exercised under load).
 */
export function derMutator(rand: () => number, seeds: readonly Uint8Array[]): (src: Uint8Array) => Uint8Array {
  const int = (n: number) => Math.floor(rand() * n);
  return (src) => {
    const b = Uint8Array.from(src);
    switch (int(8)) {
      case 0:
        for (let k = 1 + int(8); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
        return b;
      case 1:
        return b.slice(0, int(b.length));
      case 2:
        return Uint8Array.from({ length: int(600) }, (_, i) => (i === 0 && rand() < 0.5 ? 0x30 : int(256)));
      case 3:
        b[int(Math.min(40, b.length))] = int(256);
        return b;
      case 4:
        for (let i = int(b.length), n = int(32); n > 0 && i < b.length; n--, i++) b[i] = int(256);
        return b;
      case 5:
        return Uint8Array.from([...b.slice(0, int(b.length)), ...seeds[int(seeds.length)].slice(int(200))]);
      case 6:
        return Uint8Array.from([
          ...b.slice(0, int(b.length)),
          ...Array.from({ length: 1 + int(8) }, () => int(256)),
          ...b.slice(int(b.length)),
        ]);
      default:
        return b;
    }
  };
}
