package dev.ncro.load;

import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Load test of ncro as a separate process (issue 5): loopback upstreams holding thousands of
 * narinfos and NARs of 1 KiB to 4 MiB, then many concurrent keep-alive clients for a fixed time,
 * mixing warm narinfo hits, misses (new hashes, present or absent) and NAR downloads. Every status
 * and every body byte is checked; ncro's RSS is sampled from /proc every second. Exits 1 on any
 * error, when ncro's peak RSS (VmHWM) exceeds the bound, or when its RSS still grows over the second
 * half of the run. Not a JUnit test (too long for the default suite): run it with
 * {@code bench/load/run}.
 *
 * <p>The RSS bound, 512 MiB: what ncro holds is bounded by design (at most 20 000 routes in memory
 * with their ~1 KB narinfo bodies, about 30 MiB; up to 100 000 negative-cache entries; per
 * connection only Netty's buffers, a NAR stream at most its 512 KiB high-water mark plus a read).
 * Measured here after a full GC: 54 to 81 MiB live. With the heap capped at 256 MiB (the NixOS
 * module's {@code -Xmx256m}) RSS levels off at 405 to 414 MiB (heap plus ~150 MiB of metaspace,
 * code cache, CDS archive, threads, Netty's direct memory and native allocations); 512 MiB leaves
 * about 100 MiB of headroom. The growth check (at most 48 MiB over the second half) catches what a
 * peak bound alone would miss in a short run: a heap that keeps expanding (without {@code -Xmx}
 * the JVM may grow it to a quarter of the host's RAM before collecting the old generation).
 *
 * <p>Options (all optional): {@code --clients 500 --duration 60 --warm 20000 --nars 200
 * --upstreams 3 --rss-bound-mib 512 --rss-growth-mib 48 --diagnose false} ({@code --diagnose true}
 * prints ncro's heap, native memory (with {@code -XX:NativeMemoryTracking=summary} in
 * {@code NCRO_JAVA_OPTS}) and a class histogram at the end).
 */
public final class LoadGenerator {
  private enum Kind {
    WARM("warm narinfo hit"),
    MISS_PRESENT("miss, present"),
    MISS_ABSENT("miss, absent"),
    NAR("NAR download");

    final String label;

    Kind(String label) {
      this.label = label;
    }
  }

  private final int clients;
  private final Duration duration;
  private final int warmCount;
  private final int narCount;
  private final int upstreamCount;
  private final long rssBoundBytes;
  private final long rssGrowthBytes;
  private final boolean diagnose;
  /** {@code max_inflight} for every upstream; null leaves ncro's default (16). */
  private final String maxInflight;
  /** Delay before every upstream answer: a distant cache, where requests in flight pile up. */
  private final Duration upstreamLatency;

  private final List<TestUpstream> upstreams = new ArrayList<>();
  private byte[][] warmBodies;
  private String[] warmHashes;
  private String[] narPaths;
  private byte[][] narBodies;
  private final AtomicInteger fresh = new AtomicInteger(1_000_000);
  private final AtomicLong errors = new AtomicLong();
  private final List<String> errorSamples = new CopyOnWriteArrayList<>();
  private final Map<Kind, List<long[]>> latencies = new ConcurrentHashMap<>();
  private final AtomicLong narBytes = new AtomicLong();
  private final AtomicLong requests = new AtomicLong();

  private LoadGenerator(Map<String, String> opts) {
    clients = Integer.parseInt(opts.getOrDefault("clients", "500"));
    duration = Duration.ofSeconds(Long.parseLong(opts.getOrDefault("duration", "60")));
    warmCount = Integer.parseInt(opts.getOrDefault("warm", "20000"));
    narCount = Integer.parseInt(opts.getOrDefault("nars", "200"));
    upstreamCount = Integer.parseInt(opts.getOrDefault("upstreams", "3"));
    rssBoundBytes = Long.parseLong(opts.getOrDefault("rss-bound-mib", "512")) << 20;
    rssGrowthBytes = Long.parseLong(opts.getOrDefault("rss-growth-mib", "48")) << 20;
    diagnose = Boolean.parseBoolean(opts.getOrDefault("diagnose", "false"));
    maxInflight = opts.get("max-inflight");
    upstreamLatency =
        Duration.ofMillis(Long.parseLong(opts.getOrDefault("upstream-latency-ms", "0")));
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opts = new ConcurrentHashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("expected --option value, got " + args[i]);
      }
      opts.put(args[i].substring(2), args[i + 1]);
    }
    System.exit(new LoadGenerator(opts).run());
  }

  private int run() throws Exception {
    Path dir = Files.createTempDirectory("ncro-load");
    for (int i = 0; i < upstreamCount; i++) {
      TestUpstream u = TestUpstream.start();
      u.setLatency(upstreamLatency);
      upstreams.add(u);
    }
    populate();
    Process ncro = null;
    RssSampler rss = null;
    try {
      ncro = startNcro(dir);
      int port = awaitPort(dir.resolve("ncro.log"), ncro);
      rss = new RssSampler(ncro.pid());
      rss.start();
      System.out.printf(
          Locale.ROOT,
          "ncro pid %d on port %d; %d upstreams, %d narinfos (%d with a NAR), %d clients%n",
          ncro.pid(),
          port,
          upstreamCount,
          warmCount,
          narCount,
          clients);

      long t0 = System.nanoTime();
      warmUp(port);
      long warmNanos = System.nanoTime() - t0;
      long rssAfterWarm = rss.current();
      System.out.printf(
          Locale.ROOT,
          "warm-up: %d narinfo races in %.1f s, errors %d, RSS %d MiB%n",
          warmCount,
          warmNanos / 1e9,
          errors.get(),
          rssAfterWarm >> 20);

      latencies.clear();
      requests.set(0);
      long start = System.nanoTime();
      long deadline = start + duration.toNanos();
      List<Thread> threads = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        long seed = 7919L * c + 1;
        threads.add(
            Thread.ofVirtual().name("client-" + c).start(() -> clientLoop(port, seed, deadline)));
      }
      Thread janitor = Thread.ofPlatform().daemon(true).start(() -> {
        // TestUpstream records every request in a copy-on-write list: keep it short.
        while (!Thread.currentThread().isInterrupted()) {
          upstreams.forEach(TestUpstream::clearRequests);
          sleep(500);
        }
      });
      while (System.nanoTime() < deadline) {
        sleep(10_000);
        System.out.printf(
            Locale.ROOT,
            "  t=%3ds  requests %d  errors %d  RSS %d MiB%n",
            (System.nanoTime() - start) / 1_000_000_000L,
            requests.get(),
            errors.get(),
            rss.current() >> 20);
      }
      for (Thread t : threads) {
        t.join(60_000);
        if (t.isAlive()) {
          error("client " + t.getName() + " still busy a minute after the end: a stuck connection");
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      janitor.interrupt();
      String metrics = scrape(port, "/metrics");
      if (diagnose) {
        jcmd(ncro.pid(), "GC.heap_info", 100);
        jcmd(ncro.pid(), "VM.native_memory", 0); // only with -XX:NativeMemoryTracking=summary
        jcmd(ncro.pid(), "GC.class_histogram", 25);
      }
      rss.stop();
      long growth = rss.last() - rss.at(start + (deadline - start) / 2);
      return report(seconds, rss, rssAfterWarm, growth, metrics, ncro.isAlive());
    } finally {
      if (rss != null) {
        rss.stop();
      }
      if (ncro != null) {
        ncro.destroy();
        if (!ncro.waitFor(10, TimeUnit.SECONDS)) {
          ncro.destroyForcibly();
        }
      }
      for (TestUpstream u : upstreams) {
        u.close();
      }
    }
  }

  // ---------------------------------------------------------------- data

  /** Warm narinfos (each on 1 to all upstreams), the first {@code narCount} with a NAR behind them. */
  private void populate() {
    SplittableRandom rnd = new SplittableRandom(1);
    warmHashes = new String[warmCount];
    warmBodies = new byte[warmCount][];
    narPaths = new String[narCount];
    narBodies = new byte[narCount][];
    long narTotal = 0;
    for (int i = 0; i < warmCount; i++) {
      String h = TestNarinfo.hash(i);
      String narUrl = "nar/" + fileHash(i) + ".nar.zst";
      byte[] nar = null;
      if (i < narCount) {
        // log-uniform from 1 KiB to 4 MiB
        int size = (int) Math.round(1024 * Math.pow(4096, rnd.nextDouble()));
        nar = new byte[size];
        for (int k = 0; k < size; k += 8) {
          long v = rnd.nextLong();
          for (int b = 0; b < 8 && k + b < size; b++) {
            nar[k + b] = (byte) (v >>> (8 * b));
          }
        }
        narPaths[i] = "/" + narUrl;
        narBodies[i] = nar;
        narTotal += size;
      }
      byte[] body = narinfo(h, i, narUrl, nar == null ? 1000 + i : nar.length);
      warmHashes[i] = h;
      warmBodies[i] = body;
      for (TestUpstream u : holders(rnd)) {
        u.putNarinfo(h, body);
        if (nar != null) {
          u.putNar("/" + narUrl, nar);
        }
      }
    }
    System.out.printf(
        Locale.ROOT,
        "data: %d narinfos of ~%d bytes, %d NARs totalling %d MiB%n",
        warmCount,
        warmBodies[warmCount - 1].length,
        narCount,
        narTotal >> 20);
  }

  /** One to all upstreams, at random. */
  private List<TestUpstream> holders(SplittableRandom rnd) {
    List<TestUpstream> out = new ArrayList<>();
    int first = rnd.nextInt(upstreams.size());
    out.add(upstreams.get(first));
    for (int k = 0; k < upstreams.size(); k++) {
      if (k != first && rnd.nextInt(2) == 0) {
        out.add(upstreams.get(k));
      }
    }
    return out;
  }

  private static String fileHash(int i) {
    return TestNarinfo.hash(i)
        + "aaaaaaaaaaaaaaaaaaaa"; // 52 characters of Nix base32, distinct per i
  }

  /** A plausible narinfo of about 1 KB (ten references). */
  private static byte[] narinfo(String hash, int i, String narUrl, long narSize) {
    StringBuilder refs = new StringBuilder();
    for (int r = 1; r <= 10; r++) {
      if (r > 1) {
        refs.append(' ');
      }
      refs.append(TestNarinfo.hash(i * 31 + r + 50_000_000))
          .append("-dependency-")
          .append(r)
          .append("-1.2.3");
    }
    return ("StorePath: /nix/store/" + hash + "-load-test-package-" + i + "\n"
            + "URL: " + narUrl + "\n"
            + "Compression: zstd\n"
            + "FileHash: sha256:" + fileHash(i) + "\n"
            + "FileSize: " + narSize + "\n"
            + "NarHash: sha256:" + TestNarinfo.hash(i + 90_000_000) + "bbbbbbbbbbbbbbbbbbbb\n"
            + "NarSize: " + (narSize * 3) + "\n"
            + "References: " + refs + "\n"
            + "Deriver: " + TestNarinfo.hash(i + 70_000_000) + "-load-test-package-" + i + ".drv\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  // ---------------------------------------------------------------- ncro process

  private Process startNcro(Path dir) throws IOException {
    StringBuilder ups = new StringBuilder();
    for (TestUpstream u : upstreams) {
      ups.append("  - url: \"").append(u.uri()).append("\"\n");
      if (maxInflight != null) {
        ups.append("    max_inflight: ").append(maxInflight).append("\n");
      }
    }
    Path cfg = dir.resolve("ncro.yaml");
    Files.writeString(cfg, """
        server:
          listen: "127.0.0.1:0"
        upstreams:
        %scache:
          db_path: "%s"
        logging:
          format: text
        """.formatted(ups, dir.resolve("routes.db")));
    String java = ProcessHandle.current().info().command().orElse("java");
    // ncro's own classpath: this one without the test classes.
    String cp = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(e -> !e.endsWith("test-classes") && !e.endsWith("test-classes/"))
        .reduce((a, b) -> a + File.pathSeparator + b)
        .orElseThrow();
    List<String> cmd = new ArrayList<>(List.of(java));
    String opts = System.getenv()
        .getOrDefault(
            "NCRO_JAVA_OPTS",
            "-Xmx256m -XX:+UseSerialGC -Xss512k -XX:+ExitOnOutOfMemoryError"
                + " -XX:TrimNativeHeapInterval=5000"); // bin/ncro's
    cmd.addAll(Arrays.asList(opts.trim().split("\\s+"))); // as bin/ncro runs it
    if (Runtime.version().feature() >= 24 && !opts.contains("--sun-misc-unsafe-memory-access")) {
      cmd.add("--sun-misc-unsafe-memory-access=allow"); // bin/lib/jdk.sh, ncro_unsafe_opt
    }
    // bin/ncro runs the jar, whose manifest enables native access (epoll, SQLite); -cp needs the
    // flag.
    cmd.addAll(List.of(
        "--enable-native-access=ALL-UNNAMED",
        "-cp",
        cp,
        "dev.ncro.Main",
        "--config",
        cfg.toString()));
    System.out.println("ncro: " + String.join(" ", cmd.subList(0, cmd.indexOf("-cp")))
        + " -cp ... dev.ncro.Main --config " + cfg);
    return new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("ncro.log").toFile())
        .start();
  }

  private static int awaitPort(Path log, Process p) throws Exception {
    Pattern listening = Pattern.compile("ncro listening .*address=\"?[^ \"]*:(\\d+)");
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline && p.isAlive()) {
      if (Files.exists(log)) {
        for (String l : Files.readAllLines(log)) {
          Matcher m = listening.matcher(l);
          if (m.find()) {
            return Integer.parseInt(m.group(1));
          }
        }
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("ncro did not report its port; log: " + log);
  }

  // ---------------------------------------------------------------- traffic

  private void warmUp(int port) throws InterruptedException {
    AtomicInteger next = new AtomicInteger();
    CountDownLatch done = new CountDownLatch(clients);
    for (int c = 0; c < clients; c++) {
      Thread.ofVirtual().start(() -> {
        Client client = new Client(port);
        try {
          for (int i; (i = next.getAndIncrement()) < warmCount; ) {
            client.exchange(Kind.WARM, "/" + warmHashes[i] + ".narinfo", 200, warmBodies[i], null);
          }
        } finally {
          client.close();
          done.countDown();
        }
      });
    }
    done.await();
  }

  private void clientLoop(int port, long seed, long deadline) {
    SplittableRandom rnd = new SplittableRandom(seed);
    Client client = new Client(port);
    long[][] lat = new long[Kind.values().length][];
    int[] n = new int[Kind.values().length];
    for (int k = 0; k < lat.length; k++) {
      lat[k] = new long[1024];
    }
    try {
      while (System.nanoTime() < deadline) {
        int r = rnd.nextInt(100);
        Kind kind;
        long t;
        if (r < 70) {
          kind = Kind.WARM;
          int i = rnd.nextInt(warmCount);
          t = client.exchange(kind, "/" + warmHashes[i] + ".narinfo", 200, warmBodies[i], null);
        } else if (r < 90) {
          int i = fresh.getAndIncrement();
          String h = TestNarinfo.hash(i);
          if (r < 80) {
            kind = Kind.MISS_PRESENT;
            byte[] body = narinfo(h, i, "nar/" + fileHash(i) + ".nar.zst", 4242);
            for (TestUpstream u : holders(rnd)) {
              u.putNarinfo(h, body);
            }
            t = client.exchange(kind, "/" + h + ".narinfo", 200, body, null);
          } else {
            kind = Kind.MISS_ABSENT;
            t = client.exchange(kind, "/" + h + ".narinfo", 404, null, null);
          }
        } else {
          kind = Kind.NAR;
          int i = rnd.nextInt(narCount);
          t = client.exchange(kind, narPaths[i], 200, narBodies[i], narBytes);
        }
        if (t >= 0) {
          int k = kind.ordinal();
          if (n[k] == lat[k].length) {
            lat[k] = Arrays.copyOf(lat[k], n[k] * 2);
          }
          lat[k][n[k]++] = t;
        }
      }
    } finally {
      client.close();
      for (Kind k : Kind.values()) {
        latencies
            .computeIfAbsent(k, x -> new CopyOnWriteArrayList<>())
            .add(Arrays.copyOf(lat[k.ordinal()], n[k.ordinal()]));
      }
    }
  }

  private void error(String msg) {
    if (errors.incrementAndGet() <= 20) {
      errorSamples.add(msg);
    }
  }

  /** One keep-alive HTTP/1.1 connection on a raw socket, reopened after an error. */
  private final class Client implements Closeable {
    private final int port;
    private Socket socket;
    private InputStream in;
    private OutputStream out;
    private final byte[] buf = new byte[64 * 1024];

    Client(int port) {
      this.port = port;
    }

    /**
     * GET {@code path}, expecting {@code status} and, when given, exactly {@code body}. Returns the
     * latency in nanoseconds, or -1 after counting an error.
     */
    long exchange(Kind kind, String path, int status, byte[] body, AtomicLong bytes) {
      long t0 = System.nanoTime();
      requests.incrementAndGet();
      try {
        if (socket == null) {
          socket = new Socket();
          socket.setTcpNoDelay(true);
          socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
          socket.setSoTimeout(30_000);
          in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
          out = new BufferedOutputStream(socket.getOutputStream());
        }
        out.write(("GET " + path + " HTTP/1.1\r\nHost: ncro\r\nUser-Agent: ncro-load\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
        String head = readHead();
        int got = Integer.parseInt(head.substring(9, 12));
        long length = -1;
        boolean close = false;
        for (String line : head.split("\r\n")) {
          int colon = line.indexOf(':');
          if (colon > 0) {
            String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).trim();
            if (name.equals("content-length")) {
              length = Long.parseLong(value);
            } else if (name.equals("connection") && value.equalsIgnoreCase("close")) {
              close = true;
            } else if (name.equals("transfer-encoding")) {
              throw new IOException("unexpected Transfer-Encoding " + value);
            }
          }
        }
        if (length < 0) {
          throw new IOException("no Content-Length: " + head.lines().findFirst().orElse(""));
        }
        if (got != status) {
          readBody(length, null);
          throw new IOException("status " + got + ", expected " + status);
        }
        if (body != null && length != body.length) {
          throw new IOException("Content-Length " + length + ", expected " + body.length);
        }
        readBody(length, body);
        if (bytes != null) {
          bytes.addAndGet(length);
        }
        if (close) {
          close();
        }
        return System.nanoTime() - t0;
      } catch (IOException | RuntimeException e) {
        error(kind.label + " " + path + ": " + e);
        close();
        return -1;
      }
    }

    private String readHead() throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream(256);
      int state = 0;
      while (state < 4) {
        int c = in.read();
        if (c < 0) {
          throw new IOException(
              "connection closed before a response" + (b.size() > 0 ? " (mid-head)" : ""));
        }
        b.write(c);
        state =
            (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3))
                ? state + 1
                : 0;
        if (b.size() > 16 * 1024) {
          throw new IOException("response head over 16 KiB");
        }
      }
      String head = b.toString(StandardCharsets.ISO_8859_1);
      if (!head.startsWith("HTTP/1.1 ")) {
        throw new IOException("bad status line: " + head.lines().findFirst().orElse(""));
      }
      return head;
    }

    /** Reads {@code length} body bytes, comparing them with {@code expected} when given. */
    private void readBody(long length, byte[] expected) throws IOException {
      long off = 0;
      while (off < length) {
        int n = in.read(buf, 0, (int) Math.min(buf.length, length - off));
        if (n < 0) {
          throw new IOException("body ended after " + off + " of " + length + " bytes");
        }
        if (expected != null && !Arrays.equals(buf, 0, n, expected, (int) off, (int) off + n)) {
          throw new IOException(
              "body differs from the expected bytes within " + off + ".." + (off + n));
        }
        off += n;
      }
    }

    @Override
    public void close() {
      if (socket != null) {
        try {
          socket.close();
        } catch (IOException e) {
          // nothing to do
        }
        socket = null;
      }
    }
  }

  // ---------------------------------------------------------------- RSS

  /** Samples VmRSS and VmHWM of a process from /proc every second. */
  private static final class RssSampler {
    private final Path status;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final List<long[]> samples = new CopyOnWriteArrayList<>(); // {VmRSS, VmHWM, nanoTime}
    private Thread thread;

    RssSampler(long pid) {
      status = Path.of("/proc/" + pid + "/status");
    }

    void start() {
      thread = Thread.ofPlatform().daemon(true).name("rss-sampler").start(() -> {
        while (running.get()) {
          long[] s = read();
          if (s != null) {
            samples.add(s);
          }
          sleep(1000);
        }
      });
    }

    long current() {
      long[] s = read();
      return s == null ? -1 : s[0];
    }

    long[] read() {
      try {
        long rss = -1;
        long hwm = -1;
        for (String l : Files.readAllLines(status)) {
          if (l.startsWith("VmRSS:")) {
            rss = kib(l);
          } else if (l.startsWith("VmHWM:")) {
            hwm = kib(l);
          }
        }
        return rss < 0 ? null : new long[] {rss, hwm, System.nanoTime()};
      } catch (IOException e) {
        return null;
      }
    }

    private static long kib(String line) {
      return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    }

    void stop() {
      running.set(false);
      if (thread != null) {
        thread.interrupt();
      }
    }

    long hwm() {
      return samples.stream().mapToLong(s -> s[1]).max().orElse(-1);
    }

    long last() {
      return samples.isEmpty() ? -1 : samples.get(samples.size() - 1)[0];
    }

    int count() {
      return samples.size();
    }

    /** VmRSS of the first sample taken at or after {@code nanos}, -1 if none. */
    long at(long nanos) {
      return samples.stream()
          .filter(s -> s[2] >= nanos)
          .mapToLong(s -> s[0])
          .findFirst()
          .orElse(-1);
    }
  }

  // ---------------------------------------------------------------- report

  private int report(
      double seconds,
      RssSampler rss,
      long rssAfterWarm,
      long growth,
      String metrics,
      boolean alive) {
    System.out.println();
    System.out.printf(
        Locale.ROOT,
        "%d clients for %.1f s against ncro (3 loopback upstreams)%n",
        clients,
        seconds);
    System.out.printf(
        Locale.ROOT, "%-18s %10s %9s %9s %9s%n", "kind", "requests", "req/s", "p50 ms", "p99 ms");
    long total = 0;
    for (Kind k : Kind.values()) {
      long[] all = latencies.getOrDefault(k, List.of()).stream()
          .flatMapToLong(Arrays::stream)
          .sorted()
          .toArray();
      total += all.length;
      System.out.printf(
          Locale.ROOT,
          "%-18s %10d %9.0f %9.2f %9.2f%n",
          k.label,
          all.length,
          all.length / seconds,
          pct(all, 0.50) / 1e6,
          pct(all, 0.99) / 1e6);
    }
    System.out.printf(Locale.ROOT, "%-18s %10d %9.0f%n", "all", total, total / seconds);
    System.out.printf(
        Locale.ROOT,
        "NAR bytes verified: %d MiB (%.0f MiB/s)%n",
        narBytes.get() >> 20,
        (narBytes.get() >> 20) / seconds);
    // What ncro put on each upstream (issue 16 item 4): connections and concurrent requests.
    for (int i = 0; i < upstreams.size(); i++) {
      TestUpstream u = upstreams.get(i);
      System.out.printf(
          Locale.ROOT,
          "upstream %d (max_inflight %s): %d connections opened, at most %d open at once;"
              + " at most %d requests at once, %d of them narinfo%n",
          i,
          maxInflight == null ? "16, the default" : maxInflight,
          u.connectionCount(),
          u.peakOpenConnections(),
          u.peakConcurrentRequests(),
          u.peakConcurrentNarinfoRequests());
    }
    System.out.printf(Locale.ROOT, "errors: %d%n", errors.get());
    errorSamples.forEach(e -> System.out.println("  " + e));
    for (String l : metrics.split("\n")) {
      if (l.startsWith("ncro_narinfo_cache_hits_total")
          || l.startsWith("ncro_narinfo_cache_misses_total")
          || l.startsWith("ncro_narinfo_requests_total")
          || l.startsWith("ncro_nar_requests_total")
          // where a miss's time goes: waiting for a race slot, and the upstreams' answers
          || l.startsWith("ncro_race_queue_wait_seconds_sum")
          || l.startsWith("ncro_race_queue_wait_seconds_count")
          || l.startsWith("ncro_upstream_latency_seconds_sum")
          || l.startsWith("ncro_upstream_latency_seconds_count")) {
        System.out.println("  ncro " + l);
      }
    }
    System.out.printf(
        Locale.ROOT,
        "ncro RSS: after warm-up %d MiB, at the end %d MiB, peak VmHWM %d MiB (bound %d MiB), "
            + "growth over the second half %+d MiB (bound %d MiB), %d samples%n",
        rssAfterWarm >> 20,
        rss.last() >> 20,
        rss.hwm() >> 20,
        rssBoundBytes >> 20,
        growth >> 20,
        rssGrowthBytes >> 20,
        rss.count());
    boolean ok = true;
    if (!alive) {
      System.out.println("FAIL: ncro exited during the run");
      ok = false;
    }
    if (errors.get() > 0) {
      System.out.println("FAIL: " + errors.get() + " errors");
      ok = false;
    }
    if (rss.hwm() > rssBoundBytes) {
      System.out.printf(
          Locale.ROOT,
          "FAIL: peak RSS %d MiB over the bound of %d MiB%n",
          rss.hwm() >> 20,
          rssBoundBytes >> 20);
      ok = false;
    }
    if (growth > rssGrowthBytes) {
      System.out.printf(
          Locale.ROOT,
          "FAIL: RSS still grew by %d MiB over the second half of the run: no plateau%n",
          growth >> 20);
      ok = false;
    }
    System.out.println(ok ? "PASS" : "FAILED");
    return ok ? 0 : 1;
  }

  /** Prints the first {@code lines} lines (0: all) of a jcmd diagnostic of the ncro process. */
  private static void jcmd(long pid, String command, int lines) {
    Path jcmd =
        Path.of(ProcessHandle.current().info().command().orElse("java")).resolveSibling("jcmd");
    try {
      Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command)
          .redirectErrorStream(true)
          .start();
      List<String> out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
          .lines()
          .toList();
      p.waitFor();
      System.out.println("--- jcmd " + command);
      out.stream()
          .limit(lines == 0 ? Long.MAX_VALUE : lines)
          .forEach(l -> System.out.println("  " + l));
    } catch (IOException e) {
      System.out.println("jcmd " + command + " failed: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static long pct(long[] sorted, double q) {
    if (sorted.length == 0) {
      return 0;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
  }

  private static String scrape(int port, String path) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(10_000);
      s.getOutputStream()
          .write(("GET " + path + " HTTP/1.1\r\nHost: ncro\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.ISO_8859_1));
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
