package dev.ncro.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.support.Await;
import dev.ncro.support.NcroProcess;
import dev.ncro.support.NetNamespace;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * mDNS discovery end to end, on a LAN of the test's own: a network namespace whose loopback
 * carries multicast ({@link NetNamespace}). Inside it: a configured upstream and two LAN caches,
 * each a real HTTP server (the JDK's {@code jwebserver} over a directory of cache files), two real
 * announcers (JmDNS in separate JVMs, {@link MdnsAnnouncer}), and ncro itself with discovery on.
 * The test talks to ncro with curl inside the namespace.
 */
class DiscoveryIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern PORT = Pattern.compile("on 127\\.0\\.0\\.1 port (\\d+)");
  /** Removal after expiry: the record TTL plus JmDNS's 10 s cache sweep, with room for a loaded machine. */
  private static final Duration EXPIRY = Duration.ofSeconds(45);
  /** First sight: the announcer probes its names (about 1 s), then announces. */
  private static final Duration ANNOUNCED = Duration.ofSeconds(30);

  private final List<Child> children = new ArrayList<>();

  @TempDir
  Path dir;

  @AfterEach
  void stopChildren() throws InterruptedException {
    for (Child c : children) {
      c.process.destroyForcibly();
      c.process.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aLanCacheSigningWithATrustedKeyIsAnUpstreamWhileAnnouncedAndOneWithAnotherKeyIsNeverUsed()
      throws Exception {
    TestKey trusted = new TestKey("lan-cache-1");
    TestKey other = new TestKey("rogue-1");
    String onLan = TestNarinfo.hash(101);
    String onRogue = TestNarinfo.hash(102);
    String unsignedOnRogue = TestNarinfo.hash(103);
    byte[] nar = "the NAR of a path only the LAN cache has\n".getBytes(StandardCharsets.UTF_8);
    Path configured = cache("configured");
    Path lan = cache("lan");
    put(lan, onLan, nar, trusted);
    Path rogue = cache("rogue");
    put(rogue, onRogue, nar, other);
    put(rogue, unsignedOnRogue, nar, null);

    try (NetNamespace ns = NetNamespace.create()) {
      int configuredPort = serve(ns, configured).port();
      Child lanServer = serve(ns, lan);
      Child rogueServer = serve(ns, rogue);
      String lanUrl = "http://127.0.0.1:" + lanServer.port();
      String rogueUrl = "http://127.0.0.1:" + rogueServer.port();
      Path cfg = Files.writeString(dir.resolve("ncro.yaml"), """
          server:
            listen: "127.0.0.1:0"
          upstreams:
            - url: "http://127.0.0.1:%d"
          cache:
            db_path: "%s"
          logging:
            format: text
          discovery:
            enabled: true
            public_keys: ["%s"]
          """.formatted(
              configuredPort, dir.resolve("routes.db"), trusted.publicKey()));
      try (NcroProcess ncro = NcroProcess.start(ns.wrap(List.of()), cfg)) {
        String base = "http://127.0.0.1:" + ncro.port();
        Child lanAnnouncer = announce(ns, "LAN cache", lanServer.port(), "3600");
        Child rogueAnnouncer = announce(ns, "rogue cache", rogueServer.port(), "2");
        Await.until(
            "both LAN caches listed as discovered upstreams in /status",
            ANNOUNCED,
            () -> upstream(ns, base, lanUrl).isPresent()
                && upstream(ns, base, rogueUrl).isPresent());
        JsonNode lanStatus = upstream(ns, base, lanUrl).orElseThrow();
        assertThat(lanStatus.get("source").asText()).isEqualTo("discovered");
        assertThat(lanStatus.get("discovered_as").asText()).isEqualTo("LAN cache");
        assertThat(lanStatus.get("priority").asInt()).isEqualTo(20);
        assertThat(upstream(ns, base, "http://127.0.0.1:" + configuredPort)
                .orElseThrow()
                .get("source")
                .asText())
            .isEqualTo("configured");

        // The LAN cache serves a path the configured upstream does not have: narinfo and NAR.
        NetNamespace.Response narinfo = ns.get(base + "/" + onLan + ".narinfo");
        assertThat(narinfo.status()).as(narinfo.text()).isEqualTo(200);
        assertThat(narinfo.header("X-Ncro-Upstream")).isEqualTo("127.0.0.1:" + lanServer.port());
        assertThat(narinfo.text())
            .contains("StorePath: /nix/store/" + onLan + "-", "Sig: lan-cache-1:");
        NetNamespace.Response narBody = ns.get(base + "/nar/" + onLan + ".nar.xz");
        assertThat(narBody.status()).isEqualTo(200);
        assertThat(narBody.body()).isEqualTo(nar);
        assertThat(configuredServer(configuredPort, ns)).isTrue();

        // The rogue cache is asked (it is announced), but what it signs with another key, or not at
        // all, is never served, and no NAR request ever goes to it.
        assertThat(ns.get(base + "/" + onRogue + ".narinfo").status()).isEqualTo(404);
        assertThat(ns.get(base + "/" + unsignedOnRogue + ".narinfo").status()).isEqualTo(404);
        assertThat(rogueServer.lines)
            .anySatisfy(l -> assertThat(l).contains("GET /" + onRogue + ".narinfo"));
        assertThat(upstream(ns, base, rogueUrl)
                .orElseThrow()
                .get("errors")
                .get("bad_signature")
                .asInt())
            .isEqualTo(2);
        assertThat(ns.get(base + "/nar/" + onRogue + ".nar.xz").status()).isNotEqualTo(200);
        assertThat(rogueServer.lines).noneSatisfy(l -> assertThat(l).contains("/nar/"));

        // Withdrawn (goodbye packets): the LAN cache is no upstream any more, and its path is gone
        // with it although its route is still stored.
        lanAnnouncer.send("withdraw");
        lanAnnouncer.await("withdrawn"::equals);
        Await.until(
            "the withdrawn LAN cache gone from /status",
            EXPIRY,
            () -> upstream(ns, base, lanUrl).isEmpty());
        assertThat(ns.get(base + "/" + onLan + ".narinfo").status()).isEqualTo(404);
        assertThat(ncro.log())
            .anySatisfy(l -> assertThat(l).contains("discovered upstream removed", lanUrl));

        // Expired: the rogue's announcer dies without a goodbye; its 2 s records run out.
        rogueAnnouncer.process.destroyForcibly();
        Await.until(
            "the expired rogue cache gone from /status",
            EXPIRY,
            () -> upstream(ns, base, rogueUrl).isEmpty());
        assertThat(upstreams(ns, base))
            .extracting(u -> u.get("url").asText())
            .containsExactly("http://127.0.0.1:" + configuredPort);

        // An orderly stop with discovery on (its mDNS goodbyes overlap the server's drain).
        ncro.terminate();
        Await.until(
            "ncro's last log line",
            () -> ncro.log().stream().anyMatch(l -> l.contains("ncro stopped")));
      }
    }
  }

  /** The configured upstream was asked for the LAN-only path and said absent (so the LAN cache made the difference). */
  private boolean configuredServer(int port, NetNamespace ns) {
    return children.stream().filter(c -> c.port() == port).findFirst().orElseThrow().lines.stream()
        .anyMatch(l -> l.contains(".narinfo") && l.contains("404"));
  }

  private Path cache(String name) throws IOException {
    Path d = Files.createDirectories(dir.resolve(name));
    Files.createDirectories(d.resolve("nar"));
    Files.writeString(
        d.resolve("nix-cache-info"), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n");
    return d;
  }

  private static void put(Path cache, String hash, byte[] nar, TestKey key) throws IOException {
    Files.write(
        cache.resolve(hash + ".narinfo"),
        TestNarinfo.make(hash, "nar/" + hash + ".nar.xz", nar.length * 2L, key));
    Files.write(cache.resolve("nar/" + hash + ".nar.xz"), nar);
  }

  private Child serve(NetNamespace ns, Path root) throws IOException, InterruptedException {
    Path jwebserver = Path.of(ProcessHandle.current().info().command().orElseThrow())
        .resolveSibling("jwebserver");
    Child c = start(ns.wrap(
        List.of(jwebserver.toString(), "-b", "127.0.0.1", "-p", "0", "-d", root.toString())));
    c.await(l -> PORT.matcher(l).find());
    return c;
  }

  private Child announce(NetNamespace ns, String instance, int port, String ttlSeconds)
      throws IOException, InterruptedException {
    String java = ProcessHandle.current().info().command().orElseThrow();
    Child c = start(ns.wrap(List.of(
        java,
        "-Dnet.dns.ttl=" + ttlSeconds,
        "-cp",
        System.getProperty("java.class.path"),
        MdnsAnnouncer.class.getName(),
        "127.0.0.1",
        "_nix-serve._tcp.local.",
        instance,
        Integer.toString(port))));
    c.await(l -> l.startsWith("announced"));
    return c;
  }

  private static List<JsonNode> upstreams(NetNamespace ns, String base) {
    try {
      NetNamespace.Response r = ns.get(base + "/status");
      List<JsonNode> out = new ArrayList<>();
      JSON.readTree(r.body()).get("upstreams").forEach(out::add);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static Optional<JsonNode> upstream(NetNamespace ns, String base, String url) {
    return upstreams(ns, base).stream()
        .filter(u -> u.get("url").asText().equals(url))
        .findFirst();
  }

  private Child start(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    Child c = new Child(p, new CopyOnWriteArrayList<>());
    children.add(c);
    Thread.ofVirtual()
        .start(() -> new BufferedReader(
                new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))
            .lines()
            .forEach(c.lines::add));
    return c;
  }

  /** A process in the namespace and its output so far. */
  private record Child(Process process, List<String> lines) {
    void await(Predicate<String> line) throws InterruptedException {
      Await.until(
          "a line from " + process.info().command().orElse("?") + "; so far: " + lines,
          ANNOUNCED,
          () -> lines.stream().anyMatch(line) || !process.isAlive());
      assertThat(lines).as("output of a process that exited").anyMatch(line);
    }

    int port() {
      return lines.stream()
          .map(PORT::matcher)
          .filter(Matcher::find)
          .map(m -> Integer.parseInt(m.group(1)))
          .findFirst()
          .orElse(-1);
    }

    void send(String line) throws IOException {
      OutputStream in = process.getOutputStream();
      in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
      in.flush();
    }
  }
}
