package dev.ncro;

import dev.ncro.cli.Cli;
import dev.ncro.config.Config;
import dev.ncro.mesh.LearnedRoutes;
import dev.ncro.mesh.LocalRoutes;
import dev.ncro.mesh.MeshNode;
import dev.ncro.mesh.MeshStats;
import dev.ncro.mesh.NodeIdentity;
import dev.ncro.metrics.Metrics;
import dev.ncro.route.NegativeCache;
import dev.ncro.route.RouteStore;
import dev.ncro.route.RouteStoreException;
import dev.ncro.router.NarRouter;
import dev.ncro.router.NarinfoRouter;
import dev.ncro.router.RecentRaces;
import dev.ncro.router.RouteHints;
import dev.ncro.s3.S3Auth;
import dev.ncro.server.HttpServer;
import dev.ncro.server.StatusReport;
import dev.ncro.transport.Transport;
import dev.ncro.upstream.Prober;
import dev.ncro.upstream.TlsTrust;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running ncro: every component, wired by constructors in {@link #start}, and their orderly
 * shutdown. Tests start it in-process on port 0; {@link Main} starts it for real.
 */
public final class Ncro {
  private static final Logger log = LoggerFactory.getLogger(Ncro.class);
  private static final int MEMORY_ROUTES = 20_000;
  private static final int NEGATIVE_ENTRIES = 100_000;
  private static final int RECENT_RACES = 50;
  private static final int LEARNED_ROUTES = 200_000;
  private static final int ANNOUNCED_ROUTES = 5_000;

  private final Transport transport;
  private final UpstreamClient client;
  private final RouteStore store;
  private final Prober prober;
  private final HttpServer server;
  private final ExecutorService blocking;
  private final ScheduledExecutorService housekeeping;
  private final UpstreamRegistry registry;
  private final InetSocketAddress address;
  private final MeshNode mesh;
  private final S3Auth s3;
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final AtomicBoolean stopping = new AtomicBoolean();

  private Ncro(Transport transport, UpstreamClient client, RouteStore store, Prober prober, HttpServer server,
      ExecutorService blocking, ScheduledExecutorService housekeeping, UpstreamRegistry registry,
      InetSocketAddress address, MeshNode mesh, S3Auth s3) {
    this.mesh = mesh;
    this.s3 = s3;
    this.transport = transport;
    this.client = client;
    this.store = store;
    this.prober = prober;
    this.server = server;
    this.blocking = blocking;
    this.housekeeping = housekeeping;
    this.registry = registry;
    this.address = address;
  }

  public static Ncro start(Config config) throws RouteStoreException, IOException, InterruptedException {
    return start(config, System.getenv());
  }

  /**
   * As {@link #start(Config)}, with {@code env} as the process environment S3 upstreams take their
   * AWS credentials from (tests give each instance its own).
   */
  public static Ncro start(Config config, java.util.Map<String, String> env)
      throws RouteStoreException, IOException, InterruptedException {
    Clock clock = Clock.systemUTC();
    // S3 credentials: the AWS SDK's classes take most of a second to load (docs/decisions.md), so
    // they resolve while the route store opens; null without an S3 upstream.
    java.util.concurrent.CompletableFuture<S3Auth> s3Start =
        java.util.concurrent.CompletableFuture.supplyAsync(() -> S3Auth.start(config.upstreams(), env),
            r -> Thread.ofPlatform().name("ncro-s3-start").daemon(true).start(r));
    RouteStore store;
    try {
      store = RouteStore.open(config.cache().dbPath(), config.cache().maxEntries(),
          Math.min(MEMORY_ROUTES, config.cache().maxEntries()), clock);
    } catch (RouteStoreException | RuntimeException e) {
      s3Start.thenAccept(a -> {
        if (a != null) {
          a.close();
        }
      });
      throw e;
    }
    Transport transport = Transport.create(Transport.defaultThreads());
    ExecutorService blocking = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("ncro-blocking-", 0).factory());
    S3Auth s3 = s3Start.join();
    UpstreamRegistry registry = s3 == null ? UpstreamRegistry.fromConfig(config) : UpstreamRegistry.fromConfig(config, s3::authorizer);
    TlsTrust trust = TlsTrust.system(System.getenv(), System.getProperty("ncro.tls.provider", ""));
    UpstreamClient client = new UpstreamClient(transport, config.timeouts(), "ncro/" + Cli.version(), trust);
    NegativeCache negative = new NegativeCache(config.cache().negativeTtl(), NEGATIVE_ENTRIES, clock);
    Metrics metrics = new Metrics(registry, store::count);
    RecentRaces recent = new RecentRaces(RECENT_RACES);
    LearnedRoutes learned = null;
    MeshNode mesh = null;
    if (config.mesh().enabled()) {
      learned = new LearnedRoutes(LEARNED_ROUTES, clock);
      MeshStats meshStats = new MeshStats(clock);
      metrics.registerMesh(meshStats, learned::size);
      try {
        mesh = MeshNode.start(config.mesh(), meshIdentity(config), new LocalRoutes(store, registry, ANNOUNCED_ROUTES)::newestFirst,
            learned, meshStats, clock);
      } catch (IOException e) {
        if (s3 != null) {
          s3.close();
        }
        transport.shutdown();
        store.close();
        throw e;
      }
    }
    NarinfoRouter narinfo = new NarinfoRouter(registry, client, store, negative, config.cache().ttl(), clock,
        blocking, metrics, recent, learned == null ? RouteHints.NONE : learned);
    StatusReport status = new StatusReport(Cli.version(), clock, registry, metrics, store, negative, recent,
        mesh == null ? null : mesh::status);
    NarRouter nars = new NarRouter(registry, store);
    HttpServer server = new HttpServer(transport, config.server(), narinfo, nars, client, registry, metrics, status, blocking);
    Prober prober = new Prober(registry, client, config.cache().probeInterval());
    registry.onSuspend(prober::probeNow);
    ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().name("ncro-housekeeping").daemon(true).factory());
    InetSocketAddress bound;
    try {
      bound = server.start();
    } catch (Exception e) {
      if (mesh != null) {
        mesh.close();
      }
      if (s3 != null) {
        s3.close();
      }
      transport.shutdown();
      store.close();
      throw e;
    }
    prober.start();
    housekeeping.scheduleWithFixedDelay(() -> {
      try {
        store.flushRecency();
      } catch (RuntimeException e) {
        log.atWarn().setMessage("could not record route recency").addKeyValue("error", e.getMessage()).log();
      }
    }, 10, 10, TimeUnit.SECONDS);
    log.atInfo().setMessage("ncro listening").addKeyValue("version", Cli.version())
        .addKeyValue("address", bound).addKeyValue("transport", transport.name())
        .addKeyValue("upstreams", registry.all().size()).addKeyValue("db", config.cache().dbPath())
        .addKeyValue("tls_engine", trust.provider())
        .addKeyValue("ca_bundle", trust.bundle().map(Object::toString).orElse("none (JDK trust store only)")).log();
    return new Ncro(transport, client, store, prober, server, blocking, housekeeping, registry, bound, mesh, s3);
  }

  /** The key file named by {@code mesh.private_key}, or an ephemeral identity when it is empty. */
  private static NodeIdentity meshIdentity(Config config) throws IOException {
    String path = config.mesh().privateKey();
    if (path.isEmpty()) {
      return NodeIdentity.ephemeral();
    }
    try {
      return NodeIdentity.loadOrCreate(Path.of(path));
    } catch (IOException e) {
      throw new IOException("mesh.private_key: " + e.getMessage(), e);
    }
  }

  /** The mesh node, or null when mesh mode is off. */
  public MeshNode mesh() {
    return mesh;
  }

  public InetSocketAddress address() {
    return address;
  }

  public UpstreamRegistry registry() {
    return registry;
  }

  public RouteStore store() {
    return store;
  }

  /** Stops serving: in-flight responses get a few seconds, then everything closes. Idempotent. */
  public void stop() {
    if (!stopping.compareAndSet(false, true)) {
      awaitStop();
      return;
    }
    log.info("ncro shutting down");
    server.shutdown(Duration.ofSeconds(5));
    if (mesh != null) {
      mesh.close();
    }
    prober.close();
    if (s3 != null) {
      s3.close();
    }
    housekeeping.shutdownNow();
    client.close();
    transport.shutdown();
    blocking.shutdown();
    try {
      blocking.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    store.close();
    log.info("ncro stopped");
    stopped.countDown();
  }

  public void awaitStop() {
    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
