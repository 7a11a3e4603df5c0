package dev.ncro.metrics;

import dev.ncro.access.AccessPolicy;
import dev.ncro.access.Rejection;
import dev.ncro.limit.FifoLimiter;
import dev.ncro.narinfo.CacheFileKind;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.Health;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntSupplier;

/**
 * ncro's Prometheus metrics. Two kinds, on purpose: request counters owned here (hits, misses,
 * statuses), and views over state the domain keeps anyway ({@link dev.ncro.upstream.UpstreamStats}:
 * race wins, errors by kind, health, EMA, NAR bytes; the route count), read by callbacks at scrape
 * time. Every label value known at start-up (each upstream, each error kind, each state, the
 * narinfo statuses ncro gives) is a series at zero from the first scrape, so a dashboard never
 * shows "no data" for an upstream that has not won yet. The fallback cache has the series of its
 * health, errors and NAR bytes (labelled with its URL), not those of races and their ordering.
 *
 * <p>The JVM and process series ({@code jvm_*}, {@code process_*}: heap, GC, threads, buffer pools,
 * CPU, RSS, open descriptors) come from the client library's JVM instrumentation and are registered
 * at the first scrape, not at start: registering them starts the JVM's management beans, 0.4 to
 * 0.5 s of CPU in a fresh JVM (measured), which would double the time to the first answer, and a
 * node nobody scrapes never pays it.
 */
public final class Metrics {
  /** 1 ms to 10 s, roughly ×2.5 per bucket: resolves a LAN cache and a transatlantic one alike. */
  static final double[] LATENCY_BUCKETS = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
  };
  /** The statuses ncro answers a narinfo request with. */
  static final String[] NARINFO_STATUSES = {"200", "404", "503"};

  private final PrometheusRegistry registry = new PrometheusRegistry();
  /** Set once the JVM and process series are registered (at the first scrape). */
  private final AtomicBoolean jvmRegistered = new AtomicBoolean();

  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
  private final Counter cacheHits;
  private final Counter cacheMisses;
  private final Counter negativeHits;
  private final Counter narinfoRequests;
  private final Counter narRequests;
  private final Counter singleflightWaiters;
  private final Counter meshRouteHits;
  private final Histogram raceLatency;
  private final Gauge narStreams;
  private final Counter narHedges;
  private final Counter narRelays;
  private final Counter narRelayBytes;
  private final Histogram queueWait;
  private final Counter fileRequests;
  private final Counter clientRejected;
  private final Counter filtered;
  private final Counter fallback;
  /** How a lookup that reached the fallback cache ended. */
  /** How a NAR body is relayed: {@code ncro_nar_relay_total}'s modes. */
  static final String[] RELAY_MODES = {"splice", "copy"};

  static final String[] FALLBACK_OUTCOMES = {"found", "absent", "unavailable"};

  /**
   * {@code ncro_credential_files_unusable{kind}}: credential files whose last change could not be
   * used (missing, empty, malformed). ncro runs on the last good value, but its next start would
   * fail on the file, which is worth an alert before that restart. {@code database}: the route
   * store's count (the store registers its own series; this one is about files, for all kinds).
   * {@code ca}: upstreams' {@code ca_file}s (not secrets, but followed the same way, and a start
   * fails on them the same way).
   */
  public void credentialFiles(
      UpstreamRegistry upstreams, AccessPolicy access, IntSupplier database, IntSupplier ca) {
    GaugeWithCallback.builder()
        .name("ncro_credential_files_unusable")
        .help(
            "Credential files whose last change could not be used (the last good value stays in use; a restart would fail), by kind")
        .labelNames("kind")
        .callback(cb -> {
          cb.call(
              upstreams.allWithFallback().stream()
                  .filter(u -> !u.credentialFileUsable())
                  .count(),
              "upstream");
          cb.call(access.unusableClientFiles(), "client");
          cb.call(database.getAsInt(), "database");
          cb.call(ca.getAsInt(), "ca");
        })
        .register(registry);
  }

  public Metrics(UpstreamRegistry upstreams, IntSupplier routeEntries) {
    cacheHits = Counter.builder()
        .name("ncro_narinfo_cache_hits_total")
        .help("Narinfo requests served from the route cache")
        .register(registry);
    cacheMisses = Counter.builder()
        .name("ncro_narinfo_cache_misses_total")
        .help("Narinfo requests requiring an upstream race")
        .register(registry);
    negativeHits = Counter.builder()
        .name("ncro_narinfo_negative_hits_total")
        .help("Narinfo requests answered 404 from the negative cache")
        .register(registry);
    narinfoRequests = Counter.builder()
        .name("ncro_narinfo_requests_total")
        .help("Narinfo requests by response status")
        .labelNames("status")
        .register(registry);
    for (String s : NARINFO_STATUSES) {
      narinfoRequests.initLabelValues(s);
    }
    singleflightWaiters = Counter.builder()
        .name("ncro_narinfo_singleflight_waiters_total")
        .help("Narinfo misses that joined a race already running for the same hash")
        .register(registry);
    meshRouteHits = Counter.builder()
        .name("ncro_mesh_route_hits_total")
        .help("Narinfo misses answered through a route learned from a mesh peer, without a race")
        .register(registry);
    narRequests = Counter.builder()
        .name("ncro_nar_requests_total")
        .help("NAR streaming requests")
        .register(registry);
    fileRequests = Counter.builder()
        .name("ncro_requests_total")
        .help(
            "Requests for the cache files beside narinfos and NARs, by kind (log, realisation, listing, debuginfo)")
        .labelNames("kind")
        .register(registry);
    for (String kind : CacheFileKind.labels()) {
      fileRequests.initLabelValues(kind);
    }
    narStreams = Gauge.builder()
        .name("ncro_nar_streams_in_flight")
        .help("NAR responses currently streaming")
        .register(registry);
    narHedges = Counter.builder()
        .name("ncro_nar_hedges_total")
        .help(
            "NAR requests sent to a second holder of the identical file because the routed upstream sent no"
                + " headers within cache.nar_hedge_delay, by outcome (won, lost, failed, none_eligible)")
        .labelNames("outcome")
        .register(registry);
    for (NarHedgeOutcome o : NarHedgeOutcome.values()) {
      narHedges.initLabelValues(o.label());
    }
    narRelays = Counter.builder()
        .name("ncro_nar_relay_total")
        .help("Upstream NAR bodies relayed to clients, by how: splice (kernel, plain HTTP) or copy")
        .labelNames("mode")
        .register(registry);
    narRelayBytes = Counter.builder()
        .name("ncro_nar_relay_bytes_total")
        .help("NAR body bytes relayed to clients, by how: splice or copy")
        .labelNames("mode")
        .register(registry);
    for (String mode : RELAY_MODES) {
      narRelays.initLabelValues(mode);
      narRelayBytes.initLabelValues(mode);
    }
    clientRejected = Counter.builder()
        .name("ncro_client_rejected_total")
        .help(
            "Client requests refused before routing (server.allow, admin_allow, clients), by reason")
        .labelNames("reason")
        .register(registry);
    for (Rejection r : Rejection.values()) {
      clientRejected.initLabelValues(r.label());
    }
    filtered = Counter.builder()
        .name("ncro_narinfo_filtered_total")
        .help("Narinfo answers refused by the upstream's path filters (counted as absent there)")
        .labelNames("upstream")
        .register(registry);
    for (Upstream u : upstreams.allWithFallback()) {
      filtered.initLabelValues(u.name());
    }
    fallback = Counter.builder()
        .name("ncro_fallback_lookups_total")
        .help(
            "Narinfo lookups the fallback cache was asked for (no regular upstream had the path), by outcome")
        .labelNames("outcome")
        .register(registry);
    if (upstreams.fallback().isPresent()) {
      for (String o : FALLBACK_OUTCOMES) {
        fallback.initLabelValues(o);
      }
    }
    raceLatency = Histogram.builder()
        .name("ncro_upstream_latency_seconds")
        .help("Race latency per upstream: time to the narinfo answer (present or absent)")
        .labelNames("upstream")
        .classicOnly()
        .classicUpperBounds(LATENCY_BUCKETS)
        .register(registry);
    for (Upstream u : upstreams.all()) {
      raceLatency.initLabelValues(u.name());
    }
    // Mostly under a millisecond (a free slot); the buckets resolve the tail a burst adds, up to 10
    // s.
    queueWait = Histogram.builder()
        .name("ncro_race_queue_wait_seconds")
        .help(
            "Time a narinfo race waited for a slot (limit=max_concurrent_races), and a race's request for a"
                + " slot at its upstream (limit=max_inflight); near 0 when one was free")
        .labelNames("limit")
        .classicOnly()
        .classicUpperBounds(LATENCY_BUCKETS)
        .register(registry);
    queueWait.initLabelValues(RACE_LIMIT);
    queueWait.initLabelValues(INFLIGHT_LIMIT);
    GaugeWithCallback.builder()
        .name("ncro_upstream_inflight")
        .help("Narinfo requests in flight to each upstream (at most its max_inflight)")
        .labelNames("upstream")
        .callback(cb -> upstreams.all().forEach(u -> cb.call(u.inflight().active(), u.name())))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_upstream_idle_connections")
        .help(
            "Idle keep-alive connections to each upstream, ready for a request (warm_connections keeps"
                + " at least that many while it is available)")
        .labelNames("upstream")
        .callback(
            cb -> upstreams.all().forEach(u -> cb.call(u.stats().idleConnections(), u.name())))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_upstream_queued")
        .help("Narinfo requests waiting for a slot at each upstream (max_inflight reached)")
        .labelNames("upstream")
        .callback(cb -> upstreams.all().forEach(u -> cb.call(u.inflight().queued(), u.name())))
        .register(registry);
    // Discovered upstreams come and go: their series with them (the callbacks below read the set).
    upstreams.addListener(new UpstreamRegistry.Listener() {
      @Override
      public void added(Upstream u) {
        raceLatency.initLabelValues(u.name());
      }

      @Override
      public void removed(Upstream u) {
        raceLatency.remove(u.name());
      }
    });
    CounterWithCallback.builder()
        .name("ncro_upstream_race_wins_total")
        .help("Race wins per upstream")
        .labelNames("upstream")
        .callback(cb -> upstreams.all().forEach(u -> cb.call(u.stats().raceWins(), u.name())))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_upstream_errors_total")
        .help("Failed or unusable upstream answers, by kind")
        .labelNames("upstream", "kind")
        .callback(cb -> upstreams.allWithFallback().forEach(u -> {
          for (FailureKind k : FailureKind.values()) {
            cb.call(u.stats().errors(k), u.name(), k.label());
          }
        }))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_upstream_tls_handshakes_total")
        .help(
            "TLS handshakes with each upstream (and hosts it redirected to); flat while connections are reused")
        .labelNames("upstream")
        .callback(cb ->
            upstreams.allWithFallback().forEach(u -> cb.call(u.stats().tlsHandshakes(), u.name())))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_nar_bytes_total")
        .help("NAR body bytes streamed to clients, per upstream")
        .labelNames("upstream")
        .callback(
            cb -> upstreams.allWithFallback().forEach(u -> cb.call(u.stats().narBytes(), u.name())))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_upstream_state")
        .help(
            "Upstream state: 1 for the current one (active, degraded, down, unauthorized, certificate_error), 0 for the others")
        .labelNames("upstream", "state")
        .callback(cb -> upstreams.allWithFallback().forEach(u -> {
          Health now = u.stats().state();
          for (Health h : Health.values()) {
            cb.call(h == now ? 1 : 0, u.name(), h.label());
          }
        }))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_upstream_latency_ema_seconds")
        .help("Smoothed (EMA) latency per upstream; NaN before the first sample")
        .labelNames("upstream")
        .callback(cb ->
            upstreams.all().forEach(u -> cb.call(u.stats().emaMillis() / 1000.0, u.name())))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_upstream_consecutive_failures")
        .help("Failures in a row per upstream (3: degraded, 10: down)")
        .labelNames("upstream")
        .callback(cb -> upstreams
            .allWithFallback()
            .forEach(u -> cb.call(u.stats().consecutiveFailures(), u.name())))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_route_entries")
        .help("Current route entries in SQLite")
        .callback(cb -> cb.call(routeEntries.getAsInt()))
        .register(registry);
  }

  /** The registry the series live in, for a component that adds its own (the mesh). */
  /** Label of {@code ncro_race_queue_wait_seconds} for the global race limit. */
  public static final String RACE_LIMIT = "max_concurrent_races";
  /** Label of {@code ncro_race_queue_wait_seconds} for an upstream's in-flight limit. */
  public static final String INFLIGHT_LIMIT = "max_inflight";

  /** A race (or one of its requests) waited {@code nanos} for a slot under {@code limit}. */
  public void queueWaited(String limit, long nanos) {
    queueWait.labelValues(limit).observe(nanos / 1e9);
  }

  /**
   * Races running and waiting, for {@code ncro_races_running} and {@code ncro_races_queued}: the
   * router registers its limiter here once it exists.
   */
  public void racesFrom(FifoLimiter races) {
    GaugeWithCallback.builder()
        .name("ncro_races_running")
        .help("Narinfo races running (at most cache.max_concurrent_races)")
        .callback(cb -> cb.call(races.active()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_races_queued")
        .help("Narinfo races waiting for a slot (FIFO)")
        .callback(cb -> cb.call(races.queued()))
        .register(registry);
  }

  public PrometheusRegistry registry() {
    return registry;
  }

  public void cacheHit() {
    cacheHits.inc();
  }

  public void cacheMiss() {
    cacheMisses.inc();
  }

  public void negativeHit() {
    negativeHits.inc();
  }

  public void narinfoAnswered(int status) {
    narinfoRequests.labelValues(Integer.toString(status)).inc();
  }

  public void meshRouteHit() {
    meshRouteHits.inc();
  }

  public void singleflightWaiter() {
    singleflightWaiters.inc();
  }

  /** A race answer (present or absent) from {@code u} after {@code millis}. */
  public void raceAnswer(Upstream u, double millis) {
    raceLatency.labelValues(u.name()).observe(millis / 1000.0);
  }

  /** {@code u}'s narinfo answer was refused by its path filters. */
  public void filtered(Upstream u) {
    filtered.labelValues(u.name()).inc();
  }

  /** The fallback cache was asked for a narinfo: {@code outcome} is found, absent or unavailable. */
  public void fallbackLookup(String outcome) {
    fallback.labelValues(outcome).inc();
  }

  /** A request for a cache file of {@code kind} (a {@link CacheFileKind} label). */
  public void cacheFileRequested(String kind) {
    fileRequests.labelValues(kind).inc();
  }

  /** Requests so far per cache file kind, for {@code /status}. */
  public Map<String, Long> cacheFileRequests() {
    Map<String, Long> out = new LinkedHashMap<>();
    for (String kind : CacheFileKind.labels()) {
      out.put(kind, (long) fileRequests.labelValues(kind).get());
    }
    return out;
  }

  /** A client request refused before routing (access control). */
  public void clientRejected(Rejection reason) {
    clientRejected.labelValues(reason.label()).inc();
  }

  public void narStarted() {
    narRequests.inc();
    narStreams.inc();
  }

  public void narEnded() {
    narStreams.dec();
  }

  /**
   * One upstream's NAR body ended (whole or broken), {@code copied} bytes of it relayed through
   * ncro's memory and {@code spliced} by splice; its mode is splice when any byte was spliced.
   */
  public void narRelayed(long copied, long spliced) {
    String mode = spliced > 0 ? "splice" : "copy";
    narRelays.labelValues(mode).inc();
    if (copied > 0) {
      narRelayBytes.labelValues("copy").inc(copied);
    }
    if (spliced > 0) {
      narRelayBytes.labelValues("splice").inc(spliced);
    }
  }

  /** One NAR hedge ended (or could not be sent): {@link NarHedgeOutcome}. */
  public void narHedge(NarHedgeOutcome outcome) {
    narHedges.labelValues(outcome.label()).inc();
  }

  /** Read by {@code /status}. */
  public Counts counts() {
    return new Counts(
        (long) cacheHits.get(),
        (long) cacheMisses.get(),
        (long) negativeHits.get(),
        (long) narRequests.get(),
        (long) narStreams.get());
  }

  /** Totals for {@code /status}. */
  public record Counts(
      long cacheHits,
      long cacheMisses,
      long negativeHits,
      long narRequests,
      long narStreamsInFlight) {}

  public String contentType() {
    return writer.getContentType();
  }

  /** The current values in the Prometheus text format (version 0.0.4). */
  public byte[] scrape() {
    if (!jvmRegistered.get()) {
      registerJvm();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(8192);
    try {
      writer.write(out, registry.scrape(), EscapingScheme.UNDERSCORE_ESCAPING);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private void registerJvm() {
    synchronized (jvmRegistered) { // two first scrapes at once: one registers, the other waits
      if (!jvmRegistered.get()) {
        JvmMetrics.builder().register(registry);
        jvmRegistered.set(true);
      }
    }
  }
}
