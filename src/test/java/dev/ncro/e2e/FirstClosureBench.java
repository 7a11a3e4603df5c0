package dev.ncro.e2e;

import dev.ncro.support.NixFixture;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * Issue 15 goal 4, "warm from the first request": ncro started as it is launched (the jar, a fresh
 * JVM, one set of JVM flags per variant: plain, AppCDS archive, JDK AOT cache), timed from exec to
 * its first 200 on {@code /nix-cache-info}, then the real Nix client substitutes the
 * {@link NixFixture} closure through it at once (the first closure, cold JVM), and again after
 * {@code WARM} more closures in the same process (the warm JVM). Run by {@code bench/first/run};
 * not a test.
 *
 * <p>Both closures start from cold routes, so they do the same work and only the JVM differs: the
 * routes' TTL is 1 s and the bench waits it out before each closure (an expired route is raced
 * again, as a missing one is). The three caches sit behind delay relays (80, 10 and 40 ms RTT, as
 * {@code bench/nix-closure/run}). Variants run interleaved, {@code REPS} times each.
 *
 * <p>Arguments: {@code JAVA JAR REPS WARM SHIPPED NAME FLAGS [NAME FLAGS...]}; FLAGS are split on
 * spaces and come after {@code $JAVA_OPTS} (the launcher's heap and collector). Prints one line per
 * process, medians per variant, and {@code SUMMARY} lines for {@code bench/run} (goals judged on
 * the SHIPPED variant, the others for information).
 */
public final class FirstClosureBench {
  private static final Duration ROUTE_TTL = Duration.ofSeconds(1);

  private FirstClosureBench() {}

  /**
   * One ncro process: exec to first answer, the first closure, the warm one; wall time, and the
   * CPU time ncro used meanwhile (all its threads: the JIT compilers too). On a shared, busy machine
   * the CPU time is the steadier figure: it does not count the time ncro waited for a core.
   */
  private record Sample(
      long startMs, long startCpuMs, long firstMs, long firstCpuMs, long warmMs, long warmCpuMs) {}

  public static void main(String[] args) throws Exception {
    String java = args[0];
    Path jar = Path.of(args[1]);
    int reps = Integer.parseInt(args[2]);
    int warmups = Integer.parseInt(args[3]);
    String shipped = args[4];
    Map<String, List<String>> variants = new LinkedHashMap<>();
    for (int i = 5; i + 1 < args.length; i += 2) {
      variants.put(
          args[i],
          args[i + 1].isBlank() ? List.of() : Arrays.asList(args[i + 1].trim().split(" +")));
    }
    List<String> base =
        Arrays.asList(System.getenv().getOrDefault("JAVA_OPTS", "").trim().split(" +"));

    NixFixture fx = NixFixture.get();
    Path dir = Files.createTempDirectory("ncro-first-bench");
    try (FarCache complete =
            FarCache.serving("complete", fx.cache("complete").dir(), Duration.ofMillis(80));
        FarCache partialA =
            FarCache.serving("partial-a", fx.cache("partial-a").dir(), Duration.ofMillis(10));
        FarCache partialB =
            FarCache.serving("partial-b", fx.cache("partial-b").dir(), Duration.ofMillis(40))) {
      List<FarCache> caches = List.of(complete, partialA, partialB);
      System.out.printf(
          "closure: %d paths; caches 80/10/40 ms RTT; JVM flags %s; %d warm-up closures before the warm one%n",
          fx.paths().size(), base, warmups);
      // The relays, nginx and the Nix client's own first run (page cache): not measured.
      closure(
          fx,
          dir.resolve("warm-up-direct"),
          List.of(partialA.uri(), partialB.uri(), complete.uri()));

      Map<String, List<Sample>> samples = new LinkedHashMap<>();
      int run = 0;
      for (int rep = 0; rep < reps; rep++) {
        for (Map.Entry<String, List<String>> v : variants.entrySet()) {
          List<String> flags = new ArrayList<>(base);
          flags.addAll(v.getValue());
          Sample s = measure(java, jar, flags, fx, caches, dir.resolve("run-" + run++), warmups);
          samples.computeIfAbsent(v.getKey(), k -> new ArrayList<>()).add(s);
          System.out.printf(
              "  %-8s start %5d ms (CPU %5d)   first closure %5d ms (CPU %5d)   warm %5d ms (CPU %5d)   first/warm %.2f (CPU %.2f)%n",
              v.getKey(),
              s.startMs(),
              s.startCpuMs(),
              s.firstMs(),
              s.firstCpuMs(),
              s.warmMs(),
              s.warmCpuMs(),
              (double) s.firstMs() / s.warmMs(),
              (double) s.firstCpuMs() / s.warmCpuMs());
        }
      }

      System.out.printf(
          "medians   %9s %9s %9s %9s %9s %9s %10s %10s%n",
          "start ms",
          "CPU ms",
          "first ms",
          "CPU ms",
          "warm ms",
          "CPU ms",
          "first/warm",
          "CPU ratio");
      for (Map.Entry<String, List<Sample>> e : samples.entrySet()) {
        List<Sample> ss = e.getValue();
        System.out.printf(
            "%-9s %9d %9d %9d %9d %9d %9d %10.2f %10.2f%n",
            e.getKey(),
            median(ss, Sample::startMs),
            median(ss, Sample::startCpuMs),
            median(ss, Sample::firstMs),
            median(ss, Sample::firstCpuMs),
            median(ss, Sample::warmMs),
            median(ss, Sample::warmCpuMs),
            ratio(ss),
            cpuRatio(ss));
      }
      for (Map.Entry<String, List<Sample>> e : samples.entrySet()) {
        List<Sample> ss = e.getValue();
        boolean goals = e.getKey().equals(shipped);
        String tag = e.getKey() + (goals ? ", as launched" : "");
        double r = ratio(ss);
        long start = median(ss, Sample::startMs);
        summary(
            "4 first closure / warm (" + tag + ")",
            median(ss, Sample::firstMs) + " ms",
            "warm JVM " + median(ss, Sample::warmMs) + " ms",
            String.format("%.2f", r),
            goals ? "<= 1.15 x" : "(info)",
            goals ? (r <= 1.15 ? "yes" : "NO") : "-");
        summary(
            "4 start to first answer (" + tag + ")",
            start + " ms",
            "CPU " + median(ss, Sample::startCpuMs) + " ms",
            "-",
            goals ? "<= 1000 ms" : "(info)",
            goals ? (start <= 1000 ? "yes" : "NO") : "-");
        summary(
            "4 ncro CPU, first closure / warm (" + e.getKey() + ")",
            median(ss, Sample::firstCpuMs) + " ms",
            "warm JVM " + median(ss, Sample::warmCpuMs) + " ms",
            String.format("%.2f", cpuRatio(ss)),
            "(info)",
            "-");
      }
    } finally {
      try (var walk = Files.walk(dir)) {
        walk.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    System.exit(0);
  }

  private static Sample measure(
      String java,
      Path jar,
      List<String> flags,
      NixFixture fx,
      List<FarCache> caches,
      Path dir,
      int warmups)
      throws Exception {
    Files.createDirectories(dir);
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    StringBuilder ups = new StringBuilder();
    for (FarCache c : caches) {
      ups.append("  - url: \"")
          .append(c.uri())
          .append("\"\n    public_keys: [\"")
          .append(fx.cache(c.name()).publicKey())
          .append("\"]\n");
    }
    Path cfg = dir.resolve("ncro.yaml");
    Files.writeString(cfg, """
        server:
          listen: "127.0.0.1:%d"
        upstreams:
        %scache:
          db_path: "%s"
          ttl: %ds
          negative_ttl: %ds
        logging:
          level: warn
          format: text
        """.formatted(
            port, ups, dir.resolve("routes.db"), ROUTE_TTL.toSeconds(), ROUTE_TTL.toSeconds()));
    List<String> cmd = new ArrayList<>(List.of(java));
    cmd.addAll(flags);
    cmd.addAll(List.of("-jar", jar.toString(), "--config", cfg.toString()));
    Path log = dir.resolve("ncro.log");
    HttpClient http = HttpClient.newHttpClient();
    HttpRequest info = HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + port + "/nix-cache-info"))
        .timeout(Duration.ofSeconds(5))
        .build();
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    try {
      long startMs = -1;
      while (startMs < 0) {
        try {
          if (http.send(info, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
            startMs = (System.nanoTime() - t0) / 1_000_000;
            break;
          }
        } catch (ConnectException e) {
          // not listening yet
        }
        if (!p.isAlive() || System.nanoTime() - t0 > Duration.ofMinutes(2).toNanos()) {
          throw new IllegalStateException(
              "ncro did not answer; its log:\n" + Files.readString(log));
        }
        Thread.sleep(10);
      }
      long startCpuMs = cpuMs(p);
      URI ncro = URI.create("http://127.0.0.1:" + port);
      long firstMs = closure(fx, dir.resolve("client-first"), List.of(ncro));
      long firstCpuMs = cpuMs(p) - startCpuMs;
      long warmMs = 0;
      long warmCpuMs = 0;
      for (int i = 0; i <= warmups; i++) {
        Thread.sleep(ROUTE_TTL.toMillis() + 100); // the routes expire: the next closure races again
        long cpu0 = cpuMs(p);
        warmMs = closure(fx, dir.resolve("client-warm-" + i), List.of(ncro));
        warmCpuMs = cpuMs(p) - cpu0;
      }
      return new Sample(startMs, startCpuMs, firstMs, firstCpuMs, warmMs, warmCpuMs);
    } finally {
      p.destroy();
      p.waitFor();
    }
  }

  private static long cpuMs(Process p) {
    return p.toHandle()
        .info()
        .totalCpuDuration()
        .map(Duration::toMillis)
        .orElseThrow(() -> new IllegalStateException("no CPU time for ncro's process"));
  }

  /** The closure substituted into an empty client store; its wall time. */
  private static long closure(NixFixture fx, Path clientDir, List<URI> substituters)
      throws Exception {
    NixClient nix = new NixClient(clientDir);
    long t0 = System.nanoTime();
    NixFixture.Result r = nix.realise(substituters, fx.trustedPublicKeys(), fx.root());
    long ms = (System.nanoTime() - t0) / 1_000_000;
    if (r.exitCode() != 0) {
      throw new IllegalStateException("nix-store --realise failed:\n" + r.output());
    }
    return ms;
  }

  /** Median over processes of each process's own first/warm ratio (paired: same JVM, same minute). */
  private static double ratio(List<Sample> ss) {
    List<Double> rs =
        new ArrayList<>(ss.stream().map(s -> (double) s.firstMs() / s.warmMs()).toList());
    rs.sort(null);
    return rs.get(rs.size() / 2);
  }

  private static double cpuRatio(List<Sample> ss) {
    List<Double> rs = new ArrayList<>(ss.stream()
        .map(s -> (double) s.firstCpuMs() / Math.max(1, s.warmCpuMs()))
        .toList());
    rs.sort(null);
    return rs.get(rs.size() / 2);
  }

  private static long median(List<Sample> ss, ToLongFunction<Sample> f) {
    long[] xs = ss.stream().mapToLong(f).sorted().toArray();
    return xs[xs.length / 2];
  }

  private static void summary(
      String figure, String value, String baseline, String ratio, String goal, String met) {
    System.out.printf(
        "SUMMARY\t%s\t%s\t%s\t%s\t%s\t%s%n", figure, value, baseline, ratio, goal, met);
  }
}
