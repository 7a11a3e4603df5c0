package dev.ncro.bench;

import dev.ncro.config.CacheConfig;
import dev.ncro.config.Config;
import dev.ncro.config.StoreConfig;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Postgres;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 17: warm narinfo hits through the PostgreSQL route store, against the SQLite store in the
 * same run. Three in-process nodes in front of one {@link TestUpstream} (never asked during the
 * measured phases: every request is a hit), and {@code wrk -t1 -c64 --latency}:
 * <ol>
 *   <li>SQLite store, a set of {@link #HOT} routes in memory (the baseline);
 *   <li>PostgreSQL store, the same routes in its memory (requested once more before each phase:
 *       a PostgreSQL-only phase pushes them out of the memory layer);
 *   <li>PostgreSQL store, routes only in the database: {@code DB_ROUTES} rows inserted directly,
 *       each requested once (wrk walks the list), so every request is a memory miss and one
 *       indexed lookup.
 * </ol>
 * Rounds alternate the order. Goals: (2) >= 0.95 x (1) req/s; (3) >= 0.3 x (1) req/s with p99 <= 5 ms.
 * Run by {@code bench/store/run}; not a test.
 */
public final class StoreBench {
  private static final int HOT = 1000;

  private StoreBench() {}

  /** One wrk run: its figures, and the CPU each party used meanwhile ({@link CpuUse}). */
  record Wrk(double rps, double p99ms, long requests, CpuUse cpu) {
    /** Microseconds of CPU per request: ncro (this JVM), wrk, PostgreSQL. */
    double[] perRequest() {
      return cpu.microsPer(requests);
    }
  }

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    int dbRoutes = args.length > 2 ? Integer.parseInt(args[2]) : 450_000;
    ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME))
        .setLevel(ch.qos.logback.classic.Level.toLevel(
            System.getenv("NCRO_BENCH_LOG"), ch.qos.logback.classic.Level.WARN));
    Path dir = Files.createTempDirectory("ncro-store-bench");
    TestKey key = new TestKey("bench-store-1");
    try (Postgres pg = Postgres.start();
        TestUpstream up = TestUpstream.start()) {
      pg.createOwnedDatabase("bench", "bench-pw");
      Path pw = dir.resolve("pw");
      Files.writeString(pw, "bench-pw\n");
      for (int i = 0; i < HOT; i++) {
        String h = TestNarinfo.hash(i);
        up.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 4096, key));
      }
      Config base = NcroHarness.config(
          dir.resolve("routes.db"),
          NcroHarness.upstreams(List.of(up.uri()), List.of(key.publicKey())));
      CacheConfig c = base.cache();
      StoreConfig.Postgresql store = new StoreConfig.Postgresql(
          List.of("127.0.0.1:" + pg.port()),
          "bench",
          "bench",
          Map.of("sslmode", "disable"),
          pw,
          "bench-pw",
          8);
      Config pgConfig = new Config(
          base.server(),
          base.upstreams(),
          c.withStore(store, 1_000_000),
          base.timeouts(),
          base.logging(),
          base.mesh());
      Config sqliteConfig = new Config(
          base.server(),
          base.upstreams(),
          new CacheConfig(
              c.dbPath(), 1_000_000, c.ttl(), c.negativeTtl(), c.latencyAlpha(), c.probeInterval()),
          base.timeouts(),
          base.logging(),
          base.mesh());
      try (NcroHarness sqlite = NcroHarness.start(sqliteConfig);
          NcroHarness postgres = NcroHarness.start(pgConfig)) {
        insertRoutes(pg, up, dbRoutes);
        warm(sqlite);
        warm(postgres);
        Path hot = paths(dir.resolve("hot.txt"), 0, HOT);
        Path cold = paths(dir.resolve("cold.txt"), HOT, HOT + dbRoutes);
        Path script = dir.resolve("walk.lua");
        Files.writeString(script, """
            local paths = {}
            local i = 0
            init = function(args)
              for line in io.lines(args[1]) do paths[#paths + 1] = line end
            end
            request = function()
              i = i + 1
              if i > #paths then i = 1; wrapped = true end
              return wrk.format(nil, paths[i])
            end
            done = function(summary, latency, requests)
              if wrapped then io.write("WRAPPED\\n") end
            end
            """);
        // Warm-up of wrk's path and the JIT on both nodes (not measured), the PostgreSQL-only
        // path included: measured without it, the first round's PostgreSQL-only p99 was 2 to 3
        // times the third's (28 against 8.8 ms), the lookup path compiling under load.
        wrk(sqlite, script, hot, 3, true);
        wrk(postgres, script, hot, 3, true);
        // Not strict: the first lookups after the load may outlast ncro's read timeout and race
        // (answered 404 by the upstream here, which lacks these paths), as designed.
        int coldUsed = (int) wrk(
                postgres,
                script,
                paths(dir.resolve("cold-warm.txt"), HOT, HOT + dbRoutes),
                3,
                false)
            .requests();
        List<Wrk> s = new ArrayList<>();
        List<Wrk> m = new ArrayList<>();
        List<Wrk> d = new ArrayList<>();
        System.out.printf(
            "wrk -t1 -c64 -d%ds, %d rounds; %d hot routes in memory, %d routes only in PostgreSQL%n",
            seconds, rounds, HOT, dbRoutes);
        for (int r = 0; r < rounds; r++) {
          boolean forward = r % 2 == 0;
          Wrk a = null;
          Wrk b = null;
          Wrk e = null;
          for (int step = 0; step < 3; step++) {
            int which = forward ? step : 2 - step;
            switch (which) {
              case 0 -> {
                warm(sqlite);
                a = wrk(sqlite, script, hot, seconds, true);
              }
              case 1 -> {
                // A PostgreSQL-only round pushed the hot routes out of the 20 000-route memory
                // layer: bring them back, so this phase measures what its name says.
                warm(postgres);
                b = wrk(postgres, script, hot, seconds, true);
              }
              default -> {
                if (System.getenv("STORE_BENCH_SKIP_PG_ONLY") != null) {
                  // To see whether memory hits differ without the PostgreSQL-only phase's
                  // aftermath.
                  e = new Wrk(0, 0, 0, new CpuUse(0, 0, 0));
                  continue;
                }
                // Each round walks a fresh part of the list: no path of it is in memory yet.
                Path part =
                    paths(dir.resolve("cold-" + r + ".txt"), HOT + coldUsed, HOT + dbRoutes);
                e = wrk(postgres, script, part, seconds, true);
                coldUsed += (int) e.requests();
              }
            }
          }
          s.add(a);
          m.add(b);
          d.add(e);
          double[] bc = b.perRequest();
          double[] ec = e.perRequest();
          System.out.printf(
              "round %d  sqlite %8.0f req/s p99 %6.2f ms | pg memory %8.0f req/s p99 %6.2f ms | pg only %8.0f req/s p99 %6.2f ms (%d lookups)%n"
                  + "         CPU us per request: pg memory ncro %.1f wrk %.1f | pg only ncro %.1f wrk %.1f PostgreSQL %.1f%n",
              r + 1,
              a.rps(),
              a.p99ms(),
              b.rps(),
              b.p99ms(),
              e.rps(),
              e.p99ms(),
              e.requests(),
              bc[0],
              bc[1],
              ec[0],
              ec[1],
              ec[2]);
        }
        if (coldUsed > dbRoutes) {
          System.out.println(
              "WARNING: the PostgreSQL-only phase used more paths than the table holds: raise DB_ROUTES");
        }
        double sr = median(s.stream().map(Wrk::rps).toList());
        double mr = median(m.stream().map(Wrk::rps).toList());
        double dr = median(d.stream().map(Wrk::rps).toList());
        double dp = median(d.stream().map(Wrk::p99ms).toList());
        double mRatio = median(ratios(m, s));
        double dRatio = median(ratios(d, s));
        System.out.printf(
            "SUMMARY\t17 warm hit req/s, PostgreSQL store, in memory\t%.0f\tSQLite store %.0f\t%.2f\t>= 0.95 x\t%s%n",
            mr, sr, mRatio, mRatio >= 0.95 ? "yes" : "NO");
        System.out.printf(
            "SUMMARY\t17 warm hit req/s, PostgreSQL only (memory cold)\t%.0f\tSQLite store %.0f\t%.2f\t>= 0.3 x\t%s%n",
            dr, sr, dRatio, dRatio >= 0.3 ? "yes" : "NO");
        System.out.printf(
            "SUMMARY\t17 warm hit p99, PostgreSQL only, 64 connections\t%.2f ms\t-\t-\t<= 5 ms\t%s%n",
            dp, dp <= 5 ? "yes" : "NO");
        if (!d.isEmpty() && d.get(0).requests() > 0) {
          cpuCeiling(m, d);
        }
        System.out.printf(
            "pg memory p99 %.2f ms, sqlite p99 %.2f ms (medians)%n",
            median(m.stream().map(Wrk::p99ms).toList()),
            median(s.stream().map(Wrk::p99ms).toList()));
        if (up.requests().stream()
            .anyMatch(q -> q.path().endsWith(".narinfo") && !isHot(q.path()))) {
          System.out.println("WARNING: the upstream was asked for a path the database held");
        }
      }
    } finally {
      try (var walk = Files.walk(dir)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    System.exit(0);
  }

  /** Requests each hot route once: into the node's memory layer (from its store, or a race). */
  private static void warm(NcroHarness n) throws Exception {
    for (int i = 0; i < HOT; i++) {
      HttpResponse<byte[]> r = n.get("/" + TestNarinfo.hash(i) + ".narinfo");
      if (r.statusCode() != 200) {
        throw new IllegalStateException("warm-up " + i + ": " + r.statusCode());
      }
    }
  }

  private static boolean isHot(String path) {
    for (int i = 0; i < HOT; i++) {
      if (path.equals("/" + TestNarinfo.hash(i) + ".narinfo")) {
        return true;
      }
    }
    return false;
  }

  /** Rows straight into ncro_routes (the node created the schema): what other nodes wrote. */
  private static void insertRoutes(Postgres pg, TestUpstream up, int n) throws Exception {
    long now = System.currentTimeMillis();
    try (Connection c = pg.connect("bench")) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement(
          "INSERT INTO ncro_routes (hash, upstream, latency_ms, nar_url,"
              + " file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at, last_used) VALUES (?,?,?,?,?,?,?,?,?,?,?)")) {
        for (int i = HOT; i < HOT + n; i++) {
          String h = TestNarinfo.hash(i);
          ps.setString(1, h);
          ps.setString(2, up.uri().toString());
          ps.setDouble(3, 1.0);
          ps.setString(4, "nar/" + h + ".nar.xz");
          ps.setString(5, "sha256:x");
          ps.setString(6, "sha256:y");
          ps.setLong(7, 4096);
          ps.setBytes(
              8, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 4096, null)); // served as stored
          ps.setLong(9, now);
          ps.setLong(10, now + 3_600_000);
          ps.setLong(11, now);
          ps.addBatch();
          if (i % 5000 == 0) {
            ps.executeBatch();
          }
        }
        ps.executeBatch();
      }
      c.commit();
      c.setAutoCommit(true); // VACUUM runs outside a transaction
      try (var st = c.createStatement()) {
        // As after any bulk load: without it the first read of each fresh row wrote its page
        // again (hint bits) and autovacuum started on the new rows during the first round, whose
        // PostgreSQL-only p99 was 130 ms against 6.7 to 11 ms in the next rounds.
        st.execute("VACUUM (ANALYZE) ncro_routes");
        st.execute("CHECKPOINT");
      }
    }
  }

  private static Path paths(Path file, int from, int to) throws Exception {
    StringBuilder sb = new StringBuilder();
    for (int i = from; i < to; i++) {
      sb.append('/').append(TestNarinfo.hash(i)).append(".narinfo\n");
    }
    Files.writeString(file, sb);
    return file;
  }

  private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern P99 = Pattern.compile("99%\\s+([0-9.]+)(us|ms|s)");
  private static final Pattern TOTAL = Pattern.compile("(\\d+) requests in");
  private static final Pattern NON2XX = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

  /** wrk on {@code paths} for {@code seconds}; {@code strict}: any answer but 200 fails the bench. */
  private static Wrk wrk(NcroHarness n, Path script, Path paths, int seconds, boolean strict)
      throws Exception {
    if (System.getenv("STORE_BENCH_TRACE") != null) { // phase windows, to cut a JFR recording
      System.err.printf("%s wrk %s%n", java.time.LocalTime.now(), paths.getFileName());
    }
    CpuUse before = CpuUse.now("postgres");
    Process p = new ProcessBuilder(
            "wrk",
            "-t1",
            "-c64",
            "-d" + seconds + "s",
            "--latency",
            "-s",
            script.toString(),
            n.uri("").toString(),
            "--",
            paths.toString())
        .redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(seconds + 30L, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("wrk did not end:\n" + out);
    }
    CpuUse cpu = CpuUse.now("postgres").since(before);
    Matcher bad = NON2XX.matcher(out);
    if (bad.find()) {
      if (strict) {
        throw new IllegalStateException("non-200 answers:\n" + out);
      }
      System.out.printf(
          "warm-up: %s answers not 200 (lookups slower than the read timeout)%n", bad.group(1));
    }
    Matcher r = RPS.matcher(out);
    Matcher l = P99.matcher(out);
    Matcher t = TOTAL.matcher(out);
    if (!r.find() || !l.find() || !t.find()) {
      throw new IllegalStateException("cannot read wrk's output:\n" + out);
    }
    double v = Double.parseDouble(l.group(1));
    double ms = switch (l.group(2)) {
      case "us" -> v / 1000;
      case "s" -> v * 1000;
      default -> v;
    };
    return new Wrk(Double.parseDouble(r.group(1)), ms, Long.parseLong(t.group(1)), cpu);
  }

  /**
   * Whether the p99 goal is within the machine's reach, from this run's own figures. At 64
   * connections wrk's mean latency is 64 / req/s (Little's law), and the memory-hit rounds, where
   * ncro makes no lookup and both cores are busy, show p99 as a multiple of that mean: the tail
   * this machine's scheduling gives. A p99 of 5 ms at that multiple needs a rate, and the rate needs
   * CPU: counted here at ncro's and wrk's cost of a memory hit (as if a lookup cost ncro nothing)
   * plus what PostgreSQL spent per lookup, as a share of the cores there are. Information, not a
   * verdict: the multiple itself moves from run to run (2.3 to 5 in the fourteenth session).
   */
  private static void cpuCeiling(List<Wrk> memory, List<Wrk> dbOnly) {
    double ncro = median(dbOnly.stream().map(w -> w.perRequest()[0]).toList());
    double wrk = median(dbOnly.stream().map(w -> w.perRequest()[1]).toList());
    double server = median(dbOnly.stream().map(w -> w.perRequest()[2]).toList());
    double ncroMemory = median(memory.stream().map(w -> w.perRequest()[0]).toList());
    double wrkMemory = median(memory.stream().map(w -> w.perRequest()[1]).toList());
    double tail =
        median(memory.stream().map(w -> w.p99ms() / (64_000.0 / w.rps())).toList());
    double needed = 64_000.0 / (5.0 / tail);
    double floor = ncroMemory + wrkMemory + server;
    double cores = needed * floor / 1e6;
    int have = Runtime.getRuntime().availableProcessors();
    System.out.printf(
        "SUMMARY\t17 CPU per PostgreSQL-only hit: ncro\t%.1f us\tncro memory hit %.1f us\t%.2f\t(info)\t-%n",
        ncro, ncroMemory, ncro / ncroMemory);
    System.out.printf(
        "SUMMARY\t17 CPU per PostgreSQL-only hit: PostgreSQL\t%.1f us\twrk %.1f us (memory hit %.1f)\t-\t(info)\t-%n",
        server, wrk, wrkMemory);
    System.out.printf(
        "SUMMARY\t17 p99 5 ms, cores needed at ncro's memory-hit cost\t%.2f cores\t%.0f req/s (p99 = %.1f x mean) x %.1f us\t%.2f\t(info: of %d cores)\t-%n",
        cores, needed, tail, floor, cores / have, have);
  }

  private static List<Double> ratios(List<Wrk> xs, List<Wrk> base) {
    List<Double> out = new ArrayList<>();
    for (int i = 0; i < xs.size(); i++) {
      out.add(xs.get(i).rps() / base.get(i).rps());
    }
    return out;
  }

  private static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    return s.get(s.size() / 2);
  }
}
