package dev.ncro.e2e;

import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.NixFixture;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How long the real Nix client takes to substitute the {@link NixFixture} closure into an empty
 * store: through ncro (cold routes, warm routes) versus the same three distant caches listed
 * directly as substituters (complete cache first, nearest cache first). Run by
 * {@code bench/nix-closure/run}; not a test.
 *
 * <p>Arguments: {@code [RTT_COMPLETE_MS RTT_PARTIAL_A_MS RTT_PARTIAL_B_MS [REPS]] [-- nix options...]},
 * default {@code 80 10 40 3}. The two incompressible blobs of the closure are 64 MiB each (system
 * property {@code ncro.fixture.bigMiB}, default here 64; 0 = the small e2e fixture). Each scenario runs REPS times, interleaved, with a new client store
 * and client-side cache every time; the median is reported.
 *
 * <p>Issue 15 goal 3 (cold closure): "ncro, cold routes" is a fresh ncro (empty store, this JVM
 * already warm) that has probed its upstreams and opened its warm connections before Nix starts,
 * as a service does before its first client; "ncro, cold, no warm connections" is the same with
 * {@code warm_connections: 0} (the code before warm-up). With {@code -- --dry-run} only the
 * narinfo phase runs. {@code NCRO_BENCH_PER_REQUEST=1} prints, for the fast-first and the two cold
 * scenarios of the last repetition, every request each cache served (nginx's access log: when it
 * was answered, on which connection, the how-manyth on it), so the difference can be traced to
 * requests: new connections, lookups of paths a cache lacks, NARs.
 */
public final class NixClosureBench {
  private NixClosureBench() {}

  public static void main(String[] args) throws Exception {
    int dash = Arrays.asList(args).indexOf("--");
    String[] own = dash < 0 ? args : Arrays.copyOfRange(args, 0, dash);
    String[] nixOptions =
        dash < 0 ? new String[0] : Arrays.copyOfRange(args, dash + 1, args.length);
    long rttComplete = own.length > 0 ? Long.parseLong(own[0]) : 80;
    long rttA = own.length > 1 ? Long.parseLong(own[1]) : 10;
    long rttB = own.length > 2 ? Long.parseLong(own[2]) : 40;
    if (System.getProperty("ncro.fixture.bigMiB") == null) {
      System.setProperty("ncro.fixture.bigMiB", "64"); // before NixFixture is initialised
    }
    int reps = own.length > 3 ? Integer.parseInt(own[3]) : 3;

    // ncro logs every race at info: keep the output to the figures unless NCRO_BENCH_LOG=info.
    ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME))
        .setLevel(ch.qos.logback.classic.Level.toLevel(
            System.getenv("NCRO_BENCH_LOG"), ch.qos.logback.classic.Level.WARN));
    NixFixture fx = NixFixture.get();
    Path dir = Files.createTempDirectory("ncro-nix-bench");
    List<AutoCloseable> open = new ArrayList<>();
    try {
      FarCache complete =
          FarCache.serving("complete", fx.cache("complete").dir(), Duration.ofMillis(rttComplete));
      open.add(complete);
      FarCache partialA =
          FarCache.serving("partial-a", fx.cache("partial-a").dir(), Duration.ofMillis(rttA));
      open.add(partialA);
      FarCache partialB =
          FarCache.serving("partial-b", fx.cache("partial-b").dir(), Duration.ofMillis(rttB));
      open.add(partialB);
      List<FarCache> upstreams = List.of(complete, partialA, partialB);
      List<String> keys =
          upstreams.stream().map(c -> fx.cache(c.name()).publicKey()).toList();

      long bytes;
      try (var walk = Files.walk(fx.cache("complete").dir())) {
        bytes = walk.filter(Files::isRegularFile)
            .mapToLong(p -> p.toFile().length())
            .sum();
      }
      System.out.printf(
          "closure: %d paths, %d MiB in the complete cache (blobs %s MiB); caches: complete (all, xz) %d ms, partial-a (%d paths, zstd) %d ms, "
              + "partial-b (%d paths, none) %d ms RTT; nix options: %s%n",
          fx.paths().size(),
          bytes >> 20,
          System.getProperty("ncro.fixture.bigMiB"),
          rttComplete,
          fx.cache("partial-a").paths().size(),
          rttA,
          fx.cache("partial-b").paths().size(),
          rttB,
          nixOptions.length == 0 ? "(defaults)" : String.join(" ", nixOptions));

      boolean perRequest = System.getenv("NCRO_BENCH_PER_REQUEST") != null;
      int[] run = {0};
      Runner runner = substituters -> {
        NixClient nix = new NixClient(dir.resolve("client-" + run[0]++));
        long t0 = System.nanoTime();
        NixFixture.Result r =
            nix.realise(substituters, fx.trustedPublicKeys(), fx.root(), nixOptions);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.err.printf(
            "run %d: %s, %d ms, ended %s%n", run[0] - 1, substituters, ms, Instant.now());
        if (r.exitCode() != 0) {
          throw new IllegalStateException("nix-store --realise failed:\n" + r.output());
        }
        return ms;
      };

      // JIT warm-up of the in-process ncro and relays; not measured.
      try (NcroHarness warmup = ncro(dir.resolve("warmup.db"), upstreams, keys)) {
        runner.time(List.of(warmup.uri("")));
      }
      NcroHarness warm = ncro(dir.resolve("warm.db"), upstreams, keys);
      open.add(warm);
      runner.time(List.of(warm.uri(""))); // fills the routes

      Map<String, List<Long>> times = new LinkedHashMap<>();
      for (int rep = 0; rep < reps; rep++) {
        record(
            times,
            "direct, complete cache first",
            runner.time(List.of(complete.uri(), partialA.uri(), partialB.uri())));
        RequestTrace fastTrace =
            perRequest && rep == reps - 1 ? RequestTrace.mark(upstreams) : null;
        record(
            times,
            "direct, nearest cache first",
            runner.time(List.of(partialA.uri(), partialB.uri(), complete.uri())));
        if (fastTrace != null) {
          fastTrace.print("direct, nearest cache first");
        }
        boolean trace = perRequest && rep == reps - 1;
        for (int warmConnections : new int[] {0, -1}) {
          String scenario =
              warmConnections == 0 ? "ncro, cold, no warm conns" : "ncro, cold routes";
          try (NcroHarness cold = ncro(
              dir.resolve("cold-" + warmConnections + "-" + rep + ".db"),
              upstreams,
              keys,
              warmConnections)) {
            cold.awaitProbedAndWarm(Duration.ofMillis(300));
            RequestTrace t = trace ? RequestTrace.mark(upstreams) : null;
            record(times, scenario, runner.time(List.of(cold.uri(""))));
            if (t != null) {
              t.print(scenario);
            }
          }
        }
        record(times, "ncro, warm routes", runner.time(List.of(warm.uri(""))));
        // The floor: the same caches with no added latency (Nix's own work: fetch, decompress,
        // hash, write).
        record(
            times,
            "floor: nearest first, no RTT",
            runner.time(List.of(
                partialA.nginx().uri(), partialB.nginx().uri(), complete.nginx().uri())));
      }

      long baseline = median(times.get("direct, complete cache first"));
      System.out.printf("%-30s %10s %8s   %s%n", "scenario", "median ms", "ratio", "runs (ms)");
      for (Map.Entry<String, List<Long>> e : times.entrySet()) {
        long m = median(e.getValue());
        System.out.printf(
            "%-30s %10d %8.2f   %s%n", e.getKey(), m, (double) m / baseline, e.getValue());
      }
      // One line per goal of issue 6, for bench/run's summary table (tab-separated).
      long completeFirst = baseline;
      long fastFirst = median(times.get("direct, nearest cache first"));
      long cold = median(times.get("ncro, cold routes"));
      long warmMs = median(times.get("ncro, warm routes"));
      String rtts = rttComplete + "/" + rttA + "/" + rttB + " ms";
      summary(
          "1 closure, ncro cold (" + rtts + ")",
          cold + " ms",
          "complete-first " + completeFirst + " ms",
          (double) cold / completeFirst,
          0.5);
      summary(
          "1 closure, ncro cold",
          cold + " ms",
          "fast-first " + fastFirst + " ms",
          (double) cold / fastFirst,
          1.1);
      summary(
          "1 closure, ncro warm",
          warmMs + " ms",
          "fast-first " + fastFirst + " ms",
          (double) warmMs / fastFirst,
          0.6);
      // Issue 15 goal 3: a fresh ncro against Nix's own best order, narinfo phase (--dry-run) at
      // most 1.05 x, the whole substitution at most 1.0 x; and what warm connections changed.
      boolean dryRun = Arrays.asList(nixOptions).contains("--dry-run");
      long coldNoWarm = median(times.get("ncro, cold, no warm conns"));
      summary(
          "3 cold closure, " + (dryRun ? "narinfo phase (--dry-run)" : "full substitution")
              + ", fresh ncro vs fast-first",
          cold + " ms",
          "fast-first " + fastFirst + " ms",
          (double) cold / fastFirst,
          dryRun ? 1.05 : 1.0);
      System.out.printf(
          "SUMMARY\t3 cold closure, %s, without warm connections\t%d ms\tfast-first %d ms\t%.2f\t(info)\t-%n",
          dryRun ? "narinfo phase" : "full substitution",
          coldNoWarm,
          fastFirst,
          (double) coldNoWarm / fastFirst);
      long floor = median(times.get("floor: nearest first, no RTT"));
      System.out.printf(
          "SUMMARY\t1 closure, ncro warm minus floor\t%d ms\tfast-first minus floor %d ms (floor %d ms)\t%.2f\t(info)\t-%n",
          warmMs - floor,
          fastFirst - floor,
          floor,
          (double) (warmMs - floor) / Math.max(1, fastFirst - floor));
    } finally {
      for (int i = open.size() - 1; i >= 0; i--) {
        open.get(i).close();
      }
    }
    System.exit(0);
  }

  private interface Runner {
    long time(List<URI> substituters) throws Exception;
  }

  private static NcroHarness ncro(Path db, List<FarCache> upstreams, List<String> keys)
      throws Exception {
    return ncro(db, upstreams, keys, -1);
  }

  /** {@code warmConnections}: each upstream's {@code warm_connections}, -1 for the default. */
  private static NcroHarness ncro(
      Path db, List<FarCache> upstreams, List<String> keys, int warmConnections) throws Exception {
    List<UpstreamConfig> configs =
        NcroHarness.upstreams(upstreams.stream().map(FarCache::uri).toList(), keys);
    if (warmConnections >= 0) {
      configs =
          configs.stream().map(c -> c.withWarmConnections(warmConnections)).toList();
    }
    return NcroHarness.start(NcroHarness.config(db, configs));
  }

  private static void summary(
      String figure, String value, String baseline, double ratio, double goal) {
    System.out.printf(
        "SUMMARY\t%s\t%s\t%s\t%.2f\t<= %.2f x\t%s%n",
        figure, value, baseline, ratio, goal, ratio <= goal ? "yes" : "NO");
  }

  private static void record(Map<String, List<Long>> times, String scenario, long ms) {
    times.computeIfAbsent(scenario, k -> new ArrayList<>()).add(ms);
    System.out.printf("  %-30s %6d ms%n", scenario, ms);
  }

  private static long median(List<Long> xs) {
    List<Long> s = new ArrayList<>(xs);
    s.sort(null);
    return s.get(s.size() / 2);
  }
}
