package dev.ncro.support;

import dev.ncro.Ncro;
import dev.ncro.config.CacheConfig;
import dev.ncro.config.Config;
import dev.ncro.config.ListenAddress;
import dev.ncro.config.LoggingConfig;
import dev.ncro.config.MeshConfig;
import dev.ncro.config.ServerConfig;
import dev.ncro.config.TimeoutsConfig;
import dev.ncro.config.UpstreamConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Starts a real ncro in-process on an ephemeral loopback port, in front of the given upstreams. */
public final class NcroHarness implements AutoCloseable {
  private final Ncro ncro;
  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  private NcroHarness(Ncro ncro) {
    this.ncro = ncro;
  }

  public static Config config(Path db, List<UpstreamConfig> upstreams) {
    return config(db, upstreams, Duration.ofSeconds(30));
  }

  /** As {@link #config(Path, List)}, with background probes every {@code probeInterval}. */
  public static Config config(Path db, List<UpstreamConfig> upstreams, Duration probeInterval) {
    return new Config(
        new ServerConfig(
            new ListenAddress("127.0.0.1", 0), Duration.ofSeconds(5), Duration.ofSeconds(5), 30),
        upstreams,
        new CacheConfig(db, 1000, Duration.ofHours(1), Duration.ofMinutes(1), 0.3, probeInterval),
        new TimeoutsConfig(Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2)),
        new LoggingConfig("info", "text"),
        new MeshConfig(false, "127.0.0.1:0", List.of(), "", Duration.ofSeconds(30)));
  }

  /** Upstream configs for URIs, priorities 10, 20, 30... in the given order. */
  public static List<UpstreamConfig> upstreams(List<URI> uris, List<String> keys) {
    List<UpstreamConfig> out = new ArrayList<>();
    for (int i = 0; i < uris.size(); i++) {
      out.add(new UpstreamConfig(
          uris.get(i), 10 * (i + 1), keys == null ? List.of() : List.of(keys.get(i))));
    }
    return out;
  }

  public static NcroHarness start(Config config) throws Exception {
    return new NcroHarness(Ncro.start(config));
  }

  /** As {@link #start(Config)}, with {@code env} as the environment S3 credentials come from. */
  public static NcroHarness start(Config config, Map<String, String> env) throws Exception {
    return new NcroHarness(Ncro.start(config, env));
  }

  public Ncro ncro() {
    return ncro;
  }

  public URI uri(String path) {
    return URI.create("http://127.0.0.1:" + ncro.address().getPort() + path);
  }

  public HttpResponse<byte[]> get(String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  /** A series of ncro's {@code /metrics} (name and labels as exposed), 0 when absent. */
  public double metric(String series) throws Exception {
    String text = new String(get("/metrics").body(), java.nio.charset.StandardCharsets.UTF_8);
    return text.lines()
        .filter(l -> l.startsWith(series + " "))
        .findFirst()
        .map(l -> Double.parseDouble(l.substring(series.length() + 1).strip()))
        .orElse(0.0);
  }

  public HttpResponse<byte[]> head(String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(uri(path))
            .method("HEAD", HttpRequest.BodyPublishers.noBody())
            .timeout(Duration.ofSeconds(20))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  /**
   * For benchmarks of a fresh ncro: waits until every upstream's start-up probe has answered and it
   * holds its warm connections ({@code warm_connections}), as a service started before its first
   * client would; then {@code settle} more (a {@link DelayRelay} lets a new connection carry data
   * only one RTT after it was accepted, as a network's handshake would).
   */
  public void awaitProbedAndWarm(Duration settle) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!ncro.registry().all().stream()
        .allMatch(u -> !Double.isNaN(u.stats().emaMillis())
            && u.stats().idleConnections()
                >= Math.min(u.warmConnections(), u.inflight().limit()))) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the upstreams were not probed and warm within 30 s");
      }
      Thread.sleep(5);
    }
    Thread.sleep(settle.toMillis());
  }

  @Override
  public void close() {
    ncro.stop();
  }
}
