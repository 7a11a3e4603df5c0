package dev.ncro.route;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The route store's series, read at scrape time from its {@link StoreStatus}: whether it is
 * reachable, and what degraded routing cost (lookups counted as misses, writes dropped). Present for
 * every store kind, so one alert rule ({@code ncro_store_up == 0}) fits every node. Registered by the
 * route package itself, as the mesh registers its own: {@code metrics} need not know route types
 * (the router uses both, so that would make a package cycle).
 */
public final class StoreMetrics {
  private StoreMetrics() {}

  public static void register(PrometheusRegistry registry, StoreStatus store) {
    GaugeWithCallback.builder()
        .name("ncro_store_up")
        .help(
            "1 when the route store answers, 0 while it is down, refused or not yet connected (routing from memory and races)")
        .labelNames("store")
        .callback(cb -> cb.call(store.state() == StoreStatus.State.UP ? 1 : 0, store.kind()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_store_write_queue")
        .help("Route store writes waiting to be sent")
        .callback(cb -> cb.call(store.queuedWrites()))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_store_writes_dropped_total")
        .help(
            "Route store writes given up (queue full or refused by the database); the route stays in this node's memory")
        .callback(cb -> cb.call(store.droppedWrites()))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_store_read_failures_total")
        .help(
            "Route store lookups that failed, timed out or were skipped while it was down, counted as misses")
        .callback(cb -> cb.call(store.failedReads()))
        .register(registry);
  }
}
