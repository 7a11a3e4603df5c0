package dev.ncro.mesh;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.function.IntSupplier;

/**
 * The mesh's series, registered by the mesh itself so that {@code metrics} need not know mesh
 * types (it did, and with the router's use of both that made a package cycle). Read at scrape
 * time from {@link MeshStats}; every drop reason exists at zero from start-up.
 */
public final class MeshMetrics {
  private MeshMetrics() {}

  /** Adds the mesh series (mesh mode only) to {@code registry}. */
  public static void register(
      PrometheusRegistry registry, MeshStats mesh, IntSupplier learnedRoutes) {
    CounterWithCallback.builder()
        .name("ncro_mesh_packets_dropped_total")
        .help("Gossip packets dropped, by reason")
        .labelNames("reason")
        .callback(cb -> {
          for (DropReason r : DropReason.values()) {
            cb.call(mesh.dropped(r), r.label());
          }
        })
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_mesh_packets_accepted_total")
        .help("Gossip packets accepted (well-formed, signed, fresh, from an allowed sender)")
        .callback(cb -> cb.call(mesh.accepted()))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_mesh_routes_received_total")
        .help("Routes in accepted gossip packets")
        .callback(cb -> cb.call(mesh.routesReceived()))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_mesh_routes_merged_total")
        .help("Received routes that were new or better than the one known (merge rule)")
        .callback(cb -> cb.call(mesh.routesMerged()))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_mesh_packets_sent_total")
        .help("Gossip datagrams sent")
        .callback(cb -> cb.call(mesh.sent()))
        .register(registry);
    CounterWithCallback.builder()
        .name("ncro_mesh_sent_bytes_total")
        .help("Gossip bytes sent")
        .callback(cb -> cb.call(mesh.bytesSent()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("ncro_mesh_routes_learned")
        .help("Live routes learned from peers")
        .callback(cb -> cb.call(learnedRoutes.getAsInt()))
        .register(registry);
  }
}
