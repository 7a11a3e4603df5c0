package dev.ncro.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.ncro.config.OutboundProxy;
import dev.ncro.config.PathFilter;
import dev.ncro.config.ProxyServer;
import dev.ncro.limit.FifoLimiter;
import dev.ncro.mesh.MeshNode;
import dev.ncro.metrics.Metrics;
import dev.ncro.route.NegativeCache;
import dev.ncro.route.RouteStore;
import dev.ncro.route.StoreStatus;
import dev.ncro.router.RecentRaces;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.TlsTrust;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import dev.ncro.upstream.UpstreamStats;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The {@code GET /status} JSON: everything an operator asks first (is it healthy, who is winning,
 * how fast is each upstream, is the route cache working, what is failing) in one snapshot that the
 * status page polls. Field names are snake_case and stable: scripts may read them.
 */
public final class StatusReport {
  private static final JsonFactory JSON = new JsonFactory();
  private final String version;
  private final Instant startedAt;
  private final Clock clock;
  private final UpstreamRegistry upstreams;
  private final Metrics metrics;
  private final RouteStore routes;
  private final NegativeCache negative;
  private final RecentRaces races;
  private final Supplier<MeshNode.Status> mesh;
  private final FifoLimiter raceLimit;
  private final StoreStatus store;
  private final OutboundProxy proxy;
  private final TlsTrust trust;

  /**
   * {@code raceLimit}: the router's race limiter, shown as {@code races} (null leaves that out);
   * {@code store}: the route store's state, shown as {@code store} and in {@code /health};
   * {@code trust}: whose {@code ca_file}s' state each upstream shows.
   */
  public StatusReport(
      String version,
      Clock clock,
      UpstreamRegistry upstreams,
      Metrics metrics,
      RouteStore routes,
      NegativeCache negative,
      RecentRaces races,
      Supplier<MeshNode.Status> mesh,
      FifoLimiter raceLimit,
      StoreStatus store,
      OutboundProxy proxy,
      TlsTrust trust) {
    this.proxy = proxy;
    this.trust = trust;
    this.raceLimit = raceLimit;
    this.store = store;
    this.mesh = mesh;
    this.version = version;
    this.clock = clock;
    this.startedAt = clock.instant();
    this.upstreams = upstreams;
    this.metrics = metrics;
    this.routes = routes;
    this.negative = negative;
    this.races = races;
  }

  public byte[] json() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(4096);
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("version", version);
      g.writeStringField("started_at", startedAt.toString());
      g.writeNumberField("uptime_seconds", (clock.millis() - startedAt.toEpochMilli()) / 1000.0);
      g.writeBooleanField("healthy", upstreams.anyUsable());
      Metrics.Counts c = metrics.counts();
      g.writeObjectFieldStart("narinfo");
      g.writeNumberField("cache_hits", c.cacheHits());
      g.writeNumberField("cache_misses", c.cacheMisses());
      g.writeNumberField("negative_hits", c.negativeHits());
      long lookups = c.cacheHits() + c.cacheMisses() + c.negativeHits();
      number(
          g,
          "hit_ratio",
          lookups == 0 ? Double.NaN : (c.cacheHits() + c.negativeHits()) / (double) lookups);
      g.writeEndObject();
      g.writeObjectFieldStart("routes");
      g.writeNumberField("entries", routes.count());
      g.writeNumberField("negative_entries", negative.size());
      g.writeEndObject();
      g.writeObjectFieldStart("store");
      g.writeStringField("kind", store.kind());
      g.writeStringField("location", store.location());
      g.writeStringField("state", store.state().label());
      g.writeStringField("reason", store.reason());
      g.writeNumberField("queued_writes", store.queuedWrites());
      g.writeNumberField("dropped_writes", store.droppedWrites());
      g.writeNumberField("failed_reads", store.failedReads());
      g.writeEndObject();
      g.writeObjectFieldStart("nar");
      g.writeNumberField("requests", c.narRequests());
      g.writeNumberField("streams_in_flight", c.narStreamsInFlight());
      g.writeEndObject();
      if (raceLimit != null) {
        g.writeObjectFieldStart("races");
        g.writeNumberField("running", raceLimit.active());
        g.writeNumberField("queued", raceLimit.queued());
        g.writeNumberField("max_concurrent", raceLimit.limit());
        g.writeEndObject();
      }
      g.writeObjectFieldStart("cache_file_requests");
      for (Map.Entry<String, Long> e : metrics.cacheFileRequests().entrySet()) {
        g.writeNumberField(e.getKey(), e.getValue());
      }
      g.writeEndObject();
      g.writeArrayFieldStart("upstreams");
      long now = System.nanoTime();
      for (Upstream u : upstreams.all()) {
        upstream(g, u, now, proxy, trust);
      }
      g.writeEndArray();
      // The fallback cache apart from the upstreams: it is not raced, so wins and priority mean
      // nothing for it; null when none is configured.
      if (upstreams.fallback().isPresent()) {
        g.writeFieldName("fallback_cache");
        upstream(g, upstreams.fallback().get(), now, proxy, trust);
      } else {
        g.writeNullField("fallback_cache");
      }
      if (mesh != null) {
        mesh(g, mesh.get());
      }
      g.writeArrayFieldStart("recent_races");
      for (RecentRaces.Entry e : races.newestFirst()) {
        g.writeStartObject();
        g.writeStringField("at", Instant.ofEpochMilli(e.atMillis()).toString());
        g.writeStringField("hash", e.hash());
        g.writeStringField("outcome", e.outcome().label());
        g.writeStringField("upstream", e.upstream());
        number(g, "latency_ms", e.latencyMs());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /**
   * The {@code /health} body: "ok", or what is degraded. A route store that is not up degrades
   * routing (every miss races) but does not make the node unhealthy: upstreams decide the status.
   */
  public String healthText() {
    if (store.state() == StoreStatus.State.UP) {
      return "ok";
    }
    return "ok; route store " + store.kind() + " " + store.state().label()
        + ": routing from memory and races";
  }

  private static void upstream(
      JsonGenerator g, Upstream u, long nowNanos, OutboundProxy proxy, TlsTrust trust)
      throws IOException {
    UpstreamStats s = u.stats();
    g.writeStartObject();
    g.writeStringField("url", u.name());
    g.writeStringField("display", u.display());
    g.writeStringField("host", u.host());
    g.writeStringField("state", s.state().label());
    g.writeStringField("state_reason", s.stateReason());
    g.writeStringField("auth", u.auth().scheme());
    g.writeStringField("credentials_from", u.credentialSource());
    g.writeStringField("credentials_file", u.credentialFileState());
    g.writeStringField("ca_file", trust.caFileState(u.caFile()));
    g.writeNumberField("tls_handshakes", s.tlsHandshakes());
    ProxyServer via = proxy.forUrl(u.endpoint());
    g.writeStringField("proxy", via == null ? "none" : via.display()); // never its credentials
    if (!u.isFallback()) {
      g.writeNumberField("priority", u.priority());
    }
    g.writeStringField("source", u.discovered() ? "discovered" : "configured");
    if (u.discovered()) {
      g.writeStringField("discovered_as", u.discoveredAs());
    }
    g.writeArrayFieldStart("filters");
    for (PathFilter f : u.filters().rules()) {
      g.writeStartObject();
      g.writeStringField("action", f.action().label());
      g.writeStringField("field", f.field().label());
      g.writeStringField("pattern", f.pattern());
      g.writeEndObject();
    }
    g.writeEndArray();
    number(g, "ema_latency_ms", s.emaMillis());
    g.writeNumberField("consecutive_failures", s.consecutiveFailures());
    g.writeNumberField("throttled_ms", s.throttledMillis()); // 0 unless it asked us to wait
    if (!u.isFallback()) {
      g.writeNumberField("race_wins", s.raceWins());
    }
    g.writeNumberField("nar_bytes", s.narBytes());
    g.writeNumberField("inflight", u.inflight().active());
    g.writeNumberField("queued", u.inflight().queued());
    g.writeNumberField("max_inflight", u.inflight().limit());
    g.writeNumberField("idle_connections", s.idleConnections());
    g.writeNumberField("warm_connections", u.isFallback() ? 0 : u.warmConnections());
    long probed = s.lastProbeNanos();
    number(g, "last_probe_age_seconds", probed == 0 ? Double.NaN : (nowNanos - probed) / 1e9);
    g.writeObjectFieldStart("errors");
    for (FailureKind k : FailureKind.values()) {
      g.writeNumberField(k.label(), s.errors(k));
    }
    g.writeEndObject();
    g.writeEndObject();
  }

  private void mesh(JsonGenerator g, MeshNode.Status m) throws IOException {
    g.writeObjectFieldStart("mesh");
    g.writeStringField("node_id", m.nodeId());
    g.writeStringField("public_key", m.publicKey());
    g.writeStringField("bind_addr", m.bindAddr());
    g.writeNumberField("routes_learned", m.routesLearned());
    g.writeArrayFieldStart("peers");
    for (MeshNode.PeerStatus p : m.peers()) {
      g.writeStartObject();
      g.writeStringField("addr", p.addr());
      g.writeStringField("public_key", p.publicKey());
      g.writeStringField(
          "last_packet_at", p.lastHeard() == null ? null : p.lastHeard().toString());
      number(
          g,
          "last_packet_age_seconds",
          p.lastHeard() == null
              ? Double.NaN
              : (clock.millis() - p.lastHeard().toEpochMilli()) / 1000.0);
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
  }

  /** JSON has no NaN: an unknown number is null. */
  private static void number(JsonGenerator g, String field, double v) throws IOException {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      g.writeNullField(field);
    } else {
      g.writeNumberField(field, Math.round(v * 1000) / 1000.0);
    }
  }
}
