import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The training run of ncro's JDK ahead-of-time cache (JEP 483/514/515): ncro started from its jar
 * with {@code -XX:AOTCacheOutput}, driven through what a Nix client does, stopped with SIGTERM, at
 * which point the JVM writes the cache (classes loaded and linked, method profiles).
 *
 * <p>bin/ncro runs it in the background on JDK 25 and later (contrib/ncro.service shows how a
 * system install does the same); bench/first/run and bench/startup/run compare the cache with an
 * AppCDS archive of the same workload (docs/decisions.md §10). Why a workload of its own: such a cache
 * would be made where ncro is built (the Nix build sandbox), with no network and no real binary
 * cache; this one needs neither (it also runs in a network namespace with only loopback). Two loopback
 * upstreams in this JVM (the JDK's HTTP server) serve signed narinfos, NARs and misses, so ncro
 * runs the code a real substitution runs: the race, signature checks, the route store, NAR
 * streaming, 404s, /metrics and /status.
 *
 * <p>Run with the JDK's source launcher, on the same JDK that will use the cache:
 * {@code java bin/lib/AotTraining.java JAR CACHE [JVM options of the run...]}; a CACHE named
 * {@code *.jsa} gets a dynamic AppCDS archive of the same workload instead. Exits non-zero
 * (and prints ncro's output) when ncro does not start, a request fails, or no cache was written.
 */
public final class AotTraining {
  private static final Pattern LISTENING = Pattern.compile("ncro listening .*address=\"?[^ \"]*:(\\d+)");
  private static final int PATHS = 120;
  private static final int ROUNDS = 3;
  private static final int IN_FLIGHT = 24; // about what the Nix client keeps in flight

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: java AotTraining.java JAR CACHE_OUTPUT [JVM options...]");
      System.exit(2);
    }
    Path jar = Path.of(args[0]).toAbsolutePath();
    Path cache = Path.of(args[1]).toAbsolutePath();
    List<String> jvmOptions = Arrays.asList(args).subList(2, args.length);
    Path dir = Files.createTempDirectory("ncro-aot-training");
    Files.deleteIfExists(cache);

    Upstream complete = new Upstream("training-complete-1", i -> true);
    Upstream partial = new Upstream("training-partial-1", i -> i % 2 == 0);
    Process ncro = null;
    try {
      Path cfg = dir.resolve("ncro.yaml");
      Files.writeString(cfg, """
          server:
            listen: "127.0.0.1:0"
          upstreams:
            - url: "%s"
              priority: 20
              public_keys: ["%s"]
            - url: "%s"
              priority: 10
              public_keys: ["%s"]
          cache:
            db_path: "%s"
          logging:
            level: info
            format: text
          """.formatted(complete.uri(), complete.publicKey(), partial.uri(), partial.publicKey(), dir.resolve("routes.db")));
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      List<String> cmd = new ArrayList<>(List.of(java));
      cmd.addAll(jvmOptions);
      // A .jsa output is a dynamic AppCDS archive of the same run (JDK 21 too; bench/first compares them).
      String output = cache.toString().endsWith(".jsa") ? "-XX:ArchiveClassesAtExit=" : "-XX:AOTCacheOutput=";
      cmd.addAll(List.of(output + cache, "-jar", jar.toString(), "--config", cfg.toString()));
      Path ncroLog = dir.resolve("ncro.log");
      ncro = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ncroLog.toFile()).start();
      Process child = ncro;
      // Stopped itself (SIGTERM from bin/ncro's parent, a build cancelled): no ncro left behind.
      Thread stopChild = new Thread(child::destroyForcibly);
      Runtime.getRuntime().addShutdownHook(stopChild);
      int port = awaitPort(ncro, ncroLog);
      URI base = URI.create("http://127.0.0.1:" + port);
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .executor(Executors.newFixedThreadPool(4)).build();
      long t0 = System.nanoTime();
      int requests = 0;
      for (int round = 0; round < ROUNDS; round++) {
        requests += drive(client, base, round);
      }
      System.err.printf("aot-training: %d requests in %d ms; stopping ncro, the JVM writes %s%n",
          requests, (System.nanoTime() - t0) / 1_000_000, cache);
      ncro.destroy(); // SIGTERM: ncro drains and exits; the cache is written at JVM exit
      if (!ncro.waitFor(5, TimeUnit.MINUTES)) {
        throw new IllegalStateException("ncro did not exit within 5 minutes of SIGTERM");
      }
      if (!Files.isRegularFile(cache) || Files.size(cache) == 0) {
        throw new IllegalStateException("the JVM wrote no AOT cache at " + cache + " (exit " + ncro.exitValue() + ")");
      }
      System.err.printf("aot-training: %s, %d MiB%n", cache, Files.size(cache) >> 20);
      System.err.print(tail(ncroLog, "Temporary AOTConfiguration", "AOTCache creation"));
    } catch (Exception e) {
      System.err.println("aot-training failed: " + e.getMessage());
      System.err.println(Files.readString(dir.resolve("ncro.log")));
      System.exit(1);
    } finally {
      if (ncro != null) {
        ncro.destroyForcibly();
      }
      complete.stop();
      partial.stop();
      try (var walk = Files.walk(dir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    System.exit(0);
  }

  /** One pass of a substitution: lookups (races, then route hits), misses, NARs, bad requests, status. */
  private static int drive(HttpClient client, URI base, int round) throws Exception {
    List<Req> reqs = new ArrayList<>();
    reqs.add(new Req("/nix-cache-info", 200));
    for (int i = 0; i < PATHS; i++) {
      reqs.add(new Req("/" + hash(i) + ".narinfo", 200));
    }
    for (int i = 0; i < PATHS / 4; i++) {
      reqs.add(new Req("/" + hash(100_000 + round * 1000 + i) + ".narinfo", 404)); // absent everywhere
      reqs.add(new Req("/" + hash(i) + ".narinfo", 200)); // a route hit
    }
    for (int i = 0; i < PATHS; i += 3) {
      reqs.add(new Req("/nar/" + narName(i), 200));
    }
    reqs.add(new Req("/nar/" + narName(PATHS + 7), 404));
    reqs.add(new Req("/not-a-hash.narinfo", 400));
    reqs.add(new Req("/health", 200));
    reqs.add(new Req("/metrics", 200));
    reqs.add(new Req("/status", 200));
    reqs.add(new Req("/", 200));
    run(client, base, reqs);
    return reqs.size();
  }

  private record Req(String path, int status) {}

  private static void run(HttpClient client, URI base, List<Req> reqs) throws Exception {
    Semaphore slots = new Semaphore(IN_FLIGHT);
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (Req r : reqs) {
      slots.acquire();
      HttpRequest req = HttpRequest.newBuilder(base.resolve(r.path())).timeout(Duration.ofSeconds(30)).build();
      all.add(client.sendAsync(req, HttpResponse.BodyHandlers.discarding()).handle((resp, err) -> {
        slots.release();
        if (err != null) {
          throw new IllegalStateException(r.path() + ": " + err, err);
        }
        if (resp.statusCode() != r.status()) {
          throw new IllegalStateException(r.path() + ": status " + resp.statusCode() + ", expected " + r.status());
        }
        return null;
      }));
    }
    CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(2, TimeUnit.MINUTES);
  }

  /** ncro's port, from its "ncro listening" log line (it listens on port 0). */
  private static int awaitPort(Process p, Path log) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (System.nanoTime() < deadline) {
      for (String l : Files.readAllLines(log, StandardCharsets.ISO_8859_1)) {
        Matcher m = LISTENING.matcher(l);
        if (m.find()) {
          return Integer.parseInt(m.group(1));
        }
      }
      if (!p.isAlive()) {
        break;
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException("ncro did not report its port");
  }

  /** The lines of {@code log} that start with one of {@code prefixes}, for the build log. */
  private static String tail(Path log, String... prefixes) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (String l : Files.readAllLines(log, StandardCharsets.ISO_8859_1)) {
      for (String prefix : prefixes) {
        if (l.startsWith(prefix)) {
          sb.append("aot-training: ").append(l).append('\n');
        }
      }
    }
    return sb.toString();
  }

  /** A distinct valid store-path hash (Nix base32) for each {@code i}. */
  static String hash(int i) {
    String alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
    char[] out = new char[32];
    Arrays.fill(out, 'z');
    long v = i;
    for (int k = 31; k >= 20; k--) {
      out[k] = alphabet.charAt((int) (v % 32));
      v /= 32;
    }
    return new String(out);
  }

  static String narName(int i) {
    return hash(i).replace('z', '1') + hash(i) + ".nar";
  }

  /** A binary cache on loopback: signed narinfos for the paths {@code holds} accepts, their NARs, 404 otherwise. */
  private static final class Upstream {
    private final HttpServer server;
    private final String name;
    private final KeyPair key;
    private final Map<String, byte[]> files = new HashMap<>();

    Upstream(String name, java.util.function.IntPredicate holds) throws Exception {
      this.name = name;
      this.key = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
      files.put("/nix-cache-info", "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n".getBytes(StandardCharsets.UTF_8));
      Random random = new Random(42);
      for (int i = 0; i < PATHS; i++) {
        if (!holds.test(i)) {
          continue;
        }
        byte[] nar = new byte[i % 10 == 0 ? 4 << 20 : 16 << 10]; // a few large NARs, many small ones
        random.nextBytes(nar);
        files.put("/nar/" + narName(i), nar);
        files.put("/" + hash(i) + ".narinfo", narinfo(i, nar.length));
      }
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.setExecutor(Executors.newFixedThreadPool(4));
      server.createContext("/", ex -> {
        byte[] body = files.get(ex.getRequestURI().getPath());
        try (ex) {
          if (body == null) {
            ex.sendResponseHeaders(404, -1);
            return;
          }
          boolean head = ex.getRequestMethod().equals("HEAD");
          ex.sendResponseHeaders(200, head ? -1 : body.length);
          if (!head) {
            ex.getResponseBody().write(body);
          }
        } catch (IOException e) {
          // the client went away (ncro cancels the losers of a race)
        }
      });
      server.start();
    }

    URI uri() {
      return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    String publicKey() {
      byte[] spki = key.getPublic().getEncoded(); // X.509 SubjectPublicKeyInfo ends with the raw key
      return name + ":" + Base64.getEncoder().encodeToString(Arrays.copyOfRange(spki, spki.length - 32, spki.length));
    }

    private byte[] narinfo(int i, long size) throws Exception {
      String storePath = "/nix/store/" + hash(i) + "-training-" + i;
      String narHash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
      String refs = i > 0 ? hash(i - 1) + "-training-" + (i - 1) : "";
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(key.getPrivate());
      s.update(("1;" + storePath + ";" + narHash + ";" + size + ";" + (refs.isEmpty() ? "" : "/nix/store/" + refs))
          .getBytes(StandardCharsets.UTF_8));
      return ("StorePath: " + storePath + "\nURL: nar/" + narName(i) + "\nCompression: none\nFileHash: " + narHash
          + "\nFileSize: " + size + "\nNarHash: " + narHash + "\nNarSize: " + size + "\nReferences: " + refs
          + "\nSig: " + name + ":" + Base64.getEncoder().encodeToString(s.sign()) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    void stop() {
      server.stop(0);
      ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
  }
}
