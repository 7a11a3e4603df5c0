package dev.ncro.bench;

import dev.ncro.support.DelayRelay;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 20: how ncro should look for a cache file (a debuginfo file here; logs, realisations and
 * listings take the same path) that it has no route for. Three nginx caches behind
 * {@link DelayRelay}s at near, middle and far RTTs. Measured, each over {@code N} distinct files
 * (no remembered route, no negative entry):
 * <ul>
 *   <li>ncro's race (what it does): a file only the far cache has, one the near cache has, one no
 *       cache has;
 *   <li>fastest-first, the alternative: the same client asking the caches itself, nearest first,
 *       one after the other on kept-alive connections, until one has it (what ncro would do with
 *       a sequential plan, minus ncro's own overhead);
 *   <li>the far cache alone (the physical limit for a file only it has).
 * </ul>
 * Run by {@code bench/cachefile/run}; not a test. Arguments: {@code [NEAR [MIDDLE [FAR [N]]]]} in
 * ms, default {@code 10 40 120 40}.
 */
public final class CacheFileBench {
  private CacheFileBench() {}

  public static void main(String[] args) throws Exception {
    long nearRtt = args.length > 0 ? Long.parseLong(args[0]) : 10;
    long middleRtt = args.length > 1 ? Long.parseLong(args[1]) : 40;
    long farRtt = args.length > 2 ? Long.parseLong(args[2]) : 120;
    int n = args.length > 3 ? Integer.parseInt(args[3]) : 40;
    ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME))
        .setLevel(ch.qos.logback.classic.Level.WARN);
    Path dir = Files.createTempDirectory("ncro-cachefile-bench");
    Path nearDir = Files.createDirectories(dir.resolve("near/debuginfo"));
    Path middleDir = Files.createDirectories(dir.resolve("middle/debuginfo"));
    Path farDir = Files.createDirectories(dir.resolve("far/debuginfo"));
    byte[] body = "{\"archive\":\"../nar/x.nar.xz\",\"member\":\"lib/debug/.build-id/ab/cd.debug\"}"
        .getBytes();
    int files = 4 * n + 20;
    for (int i = 0; i < files; i++) {
      Files.write(farDir.resolve(id("f", i)), body);
      Files.write(nearDir.resolve(id("a", i)), body);
    }
    for (Path d : List.of(nearDir.getParent(), middleDir.getParent(), farDir.getParent())) {
      Files.writeString(d.resolve("nix-cache-info"), "StoreDir: /nix/store\n");
    }
    HttpClient http =
        HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    try (Nginx nn = Nginx.serve(nearDir.getParent());
        Nginx mn = Nginx.serve(middleDir.getParent());
        Nginx fn = Nginx.serve(farDir.getParent());
        DelayRelay near = DelayRelay.start(nn.address(), Duration.ofMillis(nearRtt));
        DelayRelay middle = DelayRelay.start(mn.address(), Duration.ofMillis(middleRtt));
        DelayRelay far = DelayRelay.start(fn.address(), Duration.ofMillis(farRtt))) {
      List<URI> order = List.of(near.uri(), middle.uri(), far.uri());
      for (URI u : order) { // open the kept-alive connections
        get(http, URI.create(u + "/nix-cache-info"));
      }
      List<Double> farAlone = new ArrayList<>();
      List<Double> seqFar = new ArrayList<>();
      List<Double> seqAbsent = new ArrayList<>();
      List<Double> seqNear = new ArrayList<>();
      int k = files - 1;
      for (int i = 0; i < n; i++) {
        farAlone.add(get(http, URI.create(far.uri() + "/debuginfo/" + id("f", k--))));
        seqFar.add(sequential(http, order, "/debuginfo/" + id("f", k--)));
        seqAbsent.add(sequential(http, order, "/debuginfo/" + id("0", k--)));
        seqNear.add(sequential(http, order, "/debuginfo/" + id("a", k)));
      }
      List<Double> raceFar = new ArrayList<>();
      List<Double> raceAbsent = new ArrayList<>();
      List<Double> raceNear = new ArrayList<>();
      try (NcroHarness ncro = NcroHarness.start(
          NcroHarness.config(dir.resolve("routes.db"), NcroHarness.upstreams(order, null)))) {
        for (int i = 0; i < 20; i++) { // warm-up (JIT, upstream connections), not measured
          get(http, ncro.uri("/debuginfo/" + id("f", i + 3 * n)));
        }
        for (int i = 0; i < n; i++) {
          raceFar.add(get(http, ncro.uri("/debuginfo/" + id("f", i))));
          raceAbsent.add(get(http, ncro.uri("/debuginfo/" + id("0", i))));
          raceNear.add(get(http, ncro.uri("/debuginfo/" + id("a", i + n))));
        }
      }
      System.out.printf(
          "RTTs: near %d ms, middle %d ms, far %d ms; %d files per figure (shared, noisy 2-core machine)%n",
          nearRtt, middleRtt, farRtt, n);
      System.out.printf("%-42s %8s %8s%n", "figure", "median", "p90");
      line("far cache alone (physical limit)", farAlone);
      line("only far has it: ncro race", raceFar);
      line("only far has it: fastest-first", seqFar);
      line("nobody has it: ncro race", raceAbsent);
      line("nobody has it: fastest-first", seqAbsent);
      line("near has it: ncro race", raceNear);
      line("near has it: fastest-first", seqNear);
      System.out.printf(
          "SUMMARY\t20 only-far file: race %.1f ms, fastest-first %.1f ms (%.2fx)\tabsent: race %.1f ms,"
              + " fastest-first %.1f ms (%.2fx)\tnear: race %.1f ms, fastest-first %.1f ms%n",
          pct(raceFar, 50),
          pct(seqFar, 50),
          pct(seqFar, 50) / pct(raceFar, 50),
          pct(raceAbsent, 50),
          pct(seqAbsent, 50),
          pct(seqAbsent, 50) / pct(raceAbsent, 50),
          pct(raceNear, 50),
          pct(seqNear, 50));
    }
  }

  /** A distinct 40-hex build id per (prefix, i); prefix is one hex digit. */
  private static String id(String prefix, int i) {
    return prefix + String.format("%039x", i);
  }

  /** Asks each cache in turn until one answers 200; the time of the whole walk. */
  private static double sequential(HttpClient http, List<URI> order, String path) throws Exception {
    long t0 = System.nanoTime();
    for (URI u : order) {
      HttpResponse<byte[]> r = http.send(
          HttpRequest.newBuilder(URI.create(u + path)).build(),
          HttpResponse.BodyHandlers.ofByteArray());
      if (r.statusCode() == 200) {
        break;
      }
    }
    return (System.nanoTime() - t0) / 1e6;
  }

  private static double get(HttpClient http, URI uri) throws Exception {
    long t0 = System.nanoTime();
    HttpResponse<byte[]> r =
        http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() != 200 && r.statusCode() != 404) {
      throw new IllegalStateException(uri + ": " + r.statusCode());
    }
    return (System.nanoTime() - t0) / 1e6;
  }

  private static void line(String name, List<Double> xs) {
    System.out.printf("%-42s %8.1f %8.1f%n", name, pct(xs, 50), pct(xs, 90));
  }

  private static double pct(List<Double> xs, int p) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    return s.get(Math.min(s.size() - 1, (int) Math.ceil(p / 100.0 * s.size()) - 1));
  }
}
