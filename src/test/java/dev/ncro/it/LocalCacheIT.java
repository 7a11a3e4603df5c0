package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.SignedCache;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.transport.Transport;
import dev.ncro.upstream.LocalCacheServer;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code file://} caches: a directory as Nix writes one, raced and streamed like an HTTP cache
 * through ncro's own loopback server, which answers only ncro and only with files of the cache.
 */
class LocalCacheIT {
  private static final TestKey KEY = new TestKey("local-1");
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private NcroHarness ncro(String yamlUpstreams) throws Exception {
    String yaml = "server:\n  listen: \"127.0.0.1:0\"\n"
        + "cache:\n  db_path: \"" + dir.resolve("routes.db") + "\"\n  probe_interval: 1h\n"
        + "upstreams:\n" + yamlUpstreams;
    return open.keep(NcroHarness.start(ConfigLoader.load(yaml, "test.yaml", Map.of())));
  }

  @Test
  void aDirectoryIsServedAsACacheWithRangesAndFallsThroughToTheOthers() throws Exception {
    SignedCache cache = SignedCache.create(dir.resolve("cache dir"), KEY, 3, 9300, 200_000, 3);
    TestUpstream http = open.keep(TestUpstream.start());
    String other = TestNarinfo.hash(9399);
    http.putNarinfo(other, TestNarinfo.make(other, "nar/o.nar", 10, KEY));
    URI url = cache.root().toUri();
    NcroHarness n = ncro("  - url: \"" + url + "\"\n    public_key: \"" + KEY.publicKey()
        + "\"\n  - url: \"" + http.uri() + "\"\n    public_key: \"" + KEY.publicKey() + "\"\n");

    cache.assertServedBy(n::get);
    String h = cache.hashes().get(1);
    HttpResponse<byte[]> part = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/" + h + ".nar.xz"))
                .header("Range", "bytes=150000-")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(part.statusCode()).isEqualTo(206);
    assertThat(part.body())
        .isEqualTo(Arrays.copyOfRange(cache.nar(h), 150_000, cache.nar(h).length));
    assertThat(part.headers().firstValue("X-Ncro-Upstream")).hasValue("local");
    assertThat(n.get("/" + other + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(n.get("/" + TestNarinfo.hash(9398) + ".narinfo").statusCode()).isEqualTo(404);

    JsonNode u = JSON.readTree(n.get("/status").body()).get("upstreams").get(0);
    String name = "file://" + cache.root().toAbsolutePath().toString().replace(" ", "%20");
    assertThat(u.get("url").asText()).isEqualTo(name);
    assertThat(u.get("state").asText()).isEqualTo("active");
    assertThat(u.get("auth").asText()).isEqualTo("local");
    assertThat(u.get("host").asText()).isEqualTo("local");
    assertThat(u.get("ca_file").asText()).isEqualTo("none");
    assertThat(n.ncro().store().get(h).orElseThrow().upstream()).isEqualTo(name);

    // The directory is read on an event loop of its own (a stalled mount must not stop the
    // others), which goes away with ncro
    assertThat(localLoops()).hasSize(1);
    n.close();
    Await.until("the file:// event loop stopped", () -> localLoops().isEmpty());
  }

  private static List<Thread> localLoops() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().equals("ncro-local-io"))
        .toList();
  }

  @Test
  void aDirectoryCanBeTheFallbackCache() throws Exception {
    SignedCache archive = SignedCache.create(dir.resolve("archive"), KEY, 2, 9320, 50_000, 6);
    TestUpstream regular = open.keep(TestUpstream.start());
    String yaml = "server:\n  listen: \"127.0.0.1:0\"\n"
        + "cache:\n  db_path: \"" + dir.resolve("routes.db") + "\"\n  probe_interval: 1h\n"
        + "upstreams:\n  - url: \"" + regular.uri() + "\"\n"
        + "fallback_cache:\n  enabled: true\n  url: \"" + archive.root().toUri() + "\"\n"
        + "  public_key: \"" + KEY.publicKey() + "\"\n";
    NcroHarness n = open.keep(NcroHarness.start(ConfigLoader.load(yaml, "test.yaml", Map.of())));

    archive.assertServedBy(n::get); // absent from the regular upstream: the fallback answers
    String h = archive.hashes().get(0);
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue("local");
    JsonNode f = JSON.readTree(n.get("/status").body()).get("fallback_cache");
    assertThat(f.get("url").asText()).isEqualTo("file://" + archive.root().toAbsolutePath());
    assertThat(f.get("auth").asText()).isEqualTo("local");
    assertThat(regular.requestCount("/" + h + ".narinfo")).as("asked first").isPositive();
  }

  @Test
  void theLoopbackServerAnswersOnlyNcroAndOnlyFilesOfTheCache() throws Exception {
    SignedCache cache = SignedCache.create(dir.resolve("c"), KEY, 1, 9310, 5_000, 4);
    Files.createSymbolicLink(cache.root().resolve("escape"), Path.of("/etc/hostname"));
    Files.writeString(dir.resolve("secret"), "not of the cache\n");
    Transport t = Transport.create(1);
    open.keep(t::shutdown);
    LocalCacheServer s = open.keep(LocalCacheServer.start(
        t, List.of(cache.root()), Executors.newVirtualThreadPerTaskExecutor()));
    URI base = s.endpoint(0);
    HttpHeaders h = new DefaultHttpHeaders();
    s.auth().authorize(HttpMethod.GET, "127.0.0.1", "/0/nix-cache-info", h);
    String token = h.get("Authorization");

    assertThat(raw(base, "GET /0/nix-cache-info", null)).startsWith("HTTP/1.1 403");
    assertThat(raw(base, "GET /0/nix-cache-info", "Bearer wrong")).startsWith("HTTP/1.1 403");
    assertThat(raw(base, "GET /0/nix-cache-info", token))
        .startsWith("HTTP/1.1 200")
        .contains("StoreDir: /nix/store");
    assertThat(raw(base, "HEAD /0/nix-cache-info", token)).startsWith("HTTP/1.1 200");
    assertThat(raw(base, "GET /0/../secret", token)).startsWith("HTTP/1.1 404");
    assertThat(raw(base, "GET /0/%2e%2e/secret", token)).startsWith("HTTP/1.1 404");
    assertThat(raw(base, "GET /0/escape", token))
        .as("a link out of the cache")
        .startsWith("HTTP/1.1 404");
    assertThat(raw(base, "GET /0/nar", token)).as("a directory").startsWith("HTTP/1.1 404");
    assertThat(raw(base, "GET /1/nix-cache-info", token)).startsWith("HTTP/1.1 404");
    assertThat(raw(base, "POST /0/nix-cache-info", token)).startsWith("HTTP/1.1 405");
    String nar = "/0/nar/" + cache.hashes().get(0) + ".nar.xz";
    assertThat(raw(base, "GET " + nar + "\r\nRange: bytes=999999-", token))
        .startsWith("HTTP/1.1 416");
    assertThat(raw(base, "GET " + nar + "\r\nRange: bytes=4000-", token))
        .startsWith("HTTP/1.1 206")
        .contains("content-range: bytes 4000-4999/5000");
  }

  /** One request on a fresh connection, exactly as written; the whole answer as text. */
  private static String raw(URI base, String requestLine, String authorization) throws Exception {
    try (Socket sock = new Socket(base.getHost(), base.getPort())) {
      OutputStream out = sock.getOutputStream();
      String[] parts = requestLine.split(" ", 2);
      out.write((parts[0] + " " + parts[1].replaceFirst("^(\\S+)", "$1 HTTP/1.1")
              + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              + (authorization == null ? "" : "Authorization: " + authorization + "\r\n")
              + "\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = sock.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }
  }
}
