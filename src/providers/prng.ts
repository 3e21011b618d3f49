/**
 * A small seeded PRNG (xorshift32): fault injection that a seed can replay. The seed is mixed
 * first (a murmur3 finalizer): raw xorshift from a small seed starts with tiny values, which
 * made the first draws of nearby seeds nearly identical.
 */
export function prng(seed: number): () => number {
  let s = mix(seed >>> 0) || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
