package dev.ncro.bench;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.sqlite.SQLiteConfig;

/**
 * The CPU floor of a warm hit that memory does not hold, for {@code bench/scale}: one thread looks
 * up random routes of a filled route database with the query ncro's readers prepare (every column
 * by {@code hash}, as {@code SqliteReaders}), on a read-only connection with SQLite's default page
 * cache, the file in the OS page cache. No HTTP, no event loop, no other thread: what is left is
 * SQLite's B-tree descent, the page reads and the JDBC calls. Prints "by_hash_us INDEX_ONLY_US"
 * (microseconds per lookup, median of 5 rounds of {@code lookups} each, after one warm-up round).
 *
 * <p>Usage: {@code java -cp ... dev.ncro.bench.SqliteLookupFloor DB N LOOKUPS}, routes {@code 0..N-1}
 * named as {@link ScaleFill#hash}.
 */
public final class SqliteLookupFloor {
  private static final String ROW =
      "SELECT hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo,"
          + " verified_at, expires_at, last_used FROM routes WHERE hash = ?";
  private static final String INDEX_ONLY = "SELECT rowid FROM routes WHERE hash = ?";

  private SqliteLookupFloor() {}

  public static void main(String[] args) throws Exception {
    String db = args[0];
    int n = Integer.parseInt(args[1]);
    int lookups = Integer.parseInt(args[2]);
    SQLiteConfig config = new SQLiteConfig();
    config.setReadOnly(true);
    try (Connection c = config.createConnection("jdbc:sqlite:" + db);
        PreparedStatement row = c.prepareStatement(ROW);
        PreparedStatement index = c.prepareStatement(INDEX_ONLY)) {
      SplittableRandom random = new SplittableRandom(1);
      double[] rows = new double[5];
      double[] indexes = new double[5];
      for (int round = -1; round < rows.length; round++) {
        double r = perLookup(row, true, n, lookups, random);
        double i = perLookup(index, false, n, lookups, random);
        if (round >= 0) {
          rows[round] = r;
          indexes[round] = i;
        }
      }
      Arrays.sort(rows);
      Arrays.sort(indexes);
      System.out.printf(Locale.ROOT, "%.1f %.1f%n", rows[2], indexes[2]);
    }
  }

  /** Microseconds per lookup of {@code lookups} random routes; fails on a route not found. */
  private static double perLookup(
      PreparedStatement ps, boolean wholeRow, int n, int lookups, SplittableRandom random)
      throws Exception {
    long bytes = 0;
    long t0 = System.nanoTime();
    for (int k = 0; k < lookups; k++) {
      ps.setString(1, ScaleFill.hash(random.nextInt(n)));
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          throw new IllegalStateException(
              "route missing: the database is not a filled scale store");
        }
        bytes += wholeRow ? rs.getBytes(8).length : rs.getLong(1);
      }
    }
    double us = (System.nanoTime() - t0) / 1e3 / lookups;
    if (bytes == 0) {
      throw new IllegalStateException("nothing read");
    }
    return us;
  }
}
