package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpMethod;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Background health and latency probes: {@code HEAD /nix-cache-info} on every upstream, every
 * {@code cache.probe_interval}, the first round at start-up. An upstream that refuses HEAD
 * (405/501, or 404 as old harmonia does) is probed with GET from then on. DOWN upstreams are
 * probed too: a probe is how they come back. A 401 or 403 makes the upstream UNAUTHORIZED, and
 * only a successful probe ends that state or CERTIFICATE_ERROR. A discovered upstream is probed as
 * soon as it is added.
 */
public final class Prober implements AutoCloseable, UpstreamRegistry.Listener {
  private static final int MAX_BODY = 64 * 1024;
  private final UpstreamRegistry registry;
  private final UpstreamClient client;
  private final Duration interval;
  private final Set<Upstream> headRefused = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
      Thread.ofPlatform().name("ncro-prober").daemon(true).factory());

  /**
   * Probes and, after each successful probe, keeps the upstream's warm connections open (see
   * {@link UpstreamClient#keepWarm}): the probe is what says an upstream is worth connecting to.
   */
  public Prober(UpstreamRegistry registry, UpstreamClient client, Duration interval) {
    this.registry = registry;
    this.client = client;
    this.interval = interval;
  }

  public void start() {
    timer.scheduleAtFixedRate(this::probeAll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Probes one upstream now, asynchronously (e.g. just after it was suspended). */
  public void probeNow(Upstream u) {
    timer.execute(() -> probe(u, method(u)));
  }

  /** A discovered upstream: its health is known within one round trip, not one interval. */
  @Override
  public void added(Upstream u) {
    probeNow(u);
  }

  @Override
  public void removed(Upstream u) {
    headRefused.remove(u);
    client.stopWarm(u);
  }

  /** Probes every upstream once, and the fallback cache (only so /status shows its health), asynchronously. */
  public void probeAll() {
    for (Upstream u : registry.allWithFallback()) {
      probe(u, method(u));
    }
  }

  /** HEAD, unless the upstream refused it or its refusals can only be told by their body (S3). */
  private HttpMethod method(Upstream u) {
    return headRefused.contains(u) || !u.auth().probeWithHead() ? HttpMethod.GET : HttpMethod.HEAD;
  }

  private void probe(Upstream u, HttpMethod method) {
    long sent = System.nanoTime();
    client.fetch(u, method, "/nix-cache-info", MAX_BODY).whenComplete((r, err) -> {
      u.stats().markProbed(System.nanoTime());
      if (err != null) {
        UpstreamException e = UpstreamException.of(err);
        registry.failure(u, e.kind(), "probe: " + e.getMessage(), sent);
        return;
      }
      int s = r.status();
      boolean judged = u.auth().mayRefuse(s); // the body tells (S3): a 403 may be a missing key
      String refused = judged ? u.auth().refusal(s, r.body()) : null;
      if (method == HttpMethod.HEAD && (s == 405 || s == 501 || s == 404 || s == 400)) {
        headRefused.add(u);
        probe(u, HttpMethod.GET);
      } else if (refused != null) {
        registry.unauthorized(u, "probe: " + refused);
      } else if (!judged && (s == 401 || s == 403)) {
        registry.unauthorized(u, "probe: /nix-cache-info answered " + s);
      } else if (Throttle.asked(s, r.headers(), r.body())) {
        registry.throttled(u, "probe", s, r.headers(), sent);
      } else if (s >= 200 && s < 300) {
        registry.probeSucceeded(u, r.elapsedMillis());
        if (!u.isFallback()) { // asked only when no upstream has a path: not worth idle connections
          client.keepWarm(u);
        }
      } else if (s >= 500) {
        registry.failure(u, FailureKind.STATUS_5XX, "probe: status " + s, sent);
      } else {
        registry.alive(u);
      }
    });
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
