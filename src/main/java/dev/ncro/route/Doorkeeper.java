package dev.ncro.route;

import java.util.Arrays;

/**
 * Lets a route read from the database into the memory layer only on its second read within the
 * last {@code window} to {@code 2 × window} database reads (RouteStore: an eighth of the memory
 * layer's size, 2 500 for 20 000 routes): a route read once is served and left to the database.
 *
 * <p>Why. Random hits over a store larger than the memory layer (100 000 routes, 20 000 in
 * memory, {@code bench/scale/run}) made the memory layer churn: Caffeine's frequency admission let
 * a share of the once-read routes in, each with its ~1 KB narinfo, and every young collection
 * copied the seconds-old ones again (8 to 24 ms pauses under SerialGC: a random-hit p99 of 15 ms
 * against 4 ms for one hot key). Without any admission of database reads the same run had a p99
 * of 4.7 ms and more random hits per second (33 000 against 26 000): at that spread the memory
 * layer cannot raise the hit rate, only cost copying. With this doorkeeper (and recency recorded
 * once per grain, {@link RouteMemoryCache}): p99 6.0 to 7.5 ms, peak RSS 235 against 277 MiB; a
 * window of half the memory layer gave 8 to 18 ms. The doorkeeper keeps what it is for: a route
 * read again soon, as a busy closure's paths are, enters at its second read. The window counts
 * reads, not seconds, so it shortens under load, when admission costs the most. (The doorkeeper
 * of TinyLFU, in front of Caffeine's own frequency admission.)
 *
 * <p>Two generations of a one-hash Bloom filter: 2^18 bits each (32 KiB), rotated every
 * {@code window} reads: a false "seen" (about 4 % at 10 000 keys) only admits a route early.
 */
final class Doorkeeper {
  private static final int BITS = 1 << 18;

  private final int window;
  private long[] current = new long[BITS / 64];
  private long[] previous = new long[BITS / 64];
  private int recorded;

  Doorkeeper(int window) {
    this.window = Math.max(1, window);
  }

  /**
   * FNV-1a over the characters, then murmur3's 64-bit finalizer: {@code String.hashCode} maps
   * base-32 strings that differ in two neighbouring characters to the same value often enough
   * (20 000 test hashes: 13 574 distinct codes) to turn a third of once-read routes into "seen".
   */
  static long index(String s) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < s.length(); i++) {
      h = (h ^ s.charAt(i)) * 0x100000001b3L;
    }
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    return h ^ (h >>> 33);
  }

  /** Records a database read of {@code hash}; true when it was read within the window before. */
  synchronized boolean admit(String hash) {
    int bit = (int) (index(hash) & (BITS - 1));
    long mask = 1L << (bit & 63);
    int word = bit >>> 6;
    if ((current[word] & mask) != 0 || (previous[word] & mask) != 0) {
      return true;
    }
    current[word] |= mask;
    if (++recorded >= window) {
      long[] cleared = previous;
      Arrays.fill(cleared, 0L);
      previous = current;
      current = cleared;
      recorded = 0;
    }
    return false;
  }
}
