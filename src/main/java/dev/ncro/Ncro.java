package dev.ncro;

import dev.ncro.cli.Cli;
import dev.ncro.config.Config;
import dev.ncro.config.CredentialFile;
import dev.ncro.config.StoreConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.discovery.DiscoveredCaches;
import dev.ncro.discovery.MdnsDiscovery;
import dev.ncro.mesh.LearnedRoutes;
import dev.ncro.mesh.LocalRoutes;
import dev.ncro.mesh.MeshMetrics;
import dev.ncro.mesh.MeshNode;
import dev.ncro.mesh.MeshStats;
import dev.ncro.mesh.NodeIdentity;
import dev.ncro.metrics.Metrics;
import dev.ncro.route.NegativeCache;
import dev.ncro.route.PostgresRouteBackend;
import dev.ncro.route.PostgresSettings;
import dev.ncro.route.RouteHints;
import dev.ncro.route.RouteStore;
import dev.ncro.route.RouteStoreException;
import dev.ncro.route.StoreMetrics;
import dev.ncro.route.StoreStatus;
import dev.ncro.router.CacheFileRouter;
import dev.ncro.router.FileRoutes;
import dev.ncro.router.NarRouter;
import dev.ncro.router.NarinfoRouter;
import dev.ncro.router.RecentRaces;
import dev.ncro.s3.S3Auth;
import dev.ncro.server.HttpServer;
import dev.ncro.server.NarHedging;
import dev.ncro.server.StatusReport;
import dev.ncro.systemd.Notifier;
import dev.ncro.systemd.Systemd;
import dev.ncro.systemd.Watchdog;
import dev.ncro.transport.Transport;
import dev.ncro.upstream.CredentialWatcher;
import dev.ncro.upstream.LocalCacheServer;
import dev.ncro.upstream.Prober;
import dev.ncro.upstream.RequestAuth;
import dev.ncro.upstream.TlsTrust;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.util.NetUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
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
  private static final int FILE_ROUTES = 20_000;

  /** When an HTTP-only configuration loads TLS trust anyway (see {@link TlsTrust}). */
  private static final Duration TLS_LATE_PRELOAD = Duration.ofSeconds(5);

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
  private final Notifier notifier;
  private final Watchdog watchdog;
  private final S3Auth s3;
  private final MdnsDiscovery discovery;
  /** Serves the file:// caches on its own event loop; null without any. */
  private final LocalCacheServer local;

  private final CountDownLatch stopped = new CountDownLatch(1);
  private final AtomicBoolean stopping = new AtomicBoolean();

  private Ncro(
      Transport transport,
      UpstreamClient client,
      RouteStore store,
      Prober prober,
      HttpServer server,
      ExecutorService blocking,
      ScheduledExecutorService housekeeping,
      UpstreamRegistry registry,
      InetSocketAddress address,
      MeshNode mesh,
      Notifier notifier,
      Watchdog watchdog,
      S3Auth s3,
      MdnsDiscovery discovery,
      LocalCacheServer local) {
    this.mesh = mesh;
    this.local = local;
    this.discovery = discovery;
    this.s3 = s3;
    this.notifier = notifier;
    this.watchdog = watchdog;
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

  public static Ncro start(Config config)
      throws RouteStoreException, IOException, InterruptedException {
    return start(config, Systemd.NONE, System.getenv());
  }

  /**
   * As {@link #start(Config)}, with {@code env} as the process environment S3 upstreams take their
   * AWS credentials from (tests give each instance its own).
   */
  public static Ncro start(Config config, Map<String, String> env)
      throws RouteStoreException, IOException, InterruptedException {
    return start(config, Systemd.NONE, env);
  }

  /**
   * Starts ncro under systemd: serves the sockets it handed over (socket activation), tells it
   * {@code READY=1} once the listener, the route store and the mesh socket are all up, and pings
   * its watchdog while the event loops answer.
   */
  public static Ncro start(Config config, Systemd systemd, Map<String, String> env)
      throws RouteStoreException, IOException, InterruptedException {
    // Everything opened so far, closed in reverse if a later step fails: a failed start (the port
    // in use, say) must not leave threads, sockets or the database open in a process that goes on,
    // as a test JVM or an embedding program does.
    List<AutoCloseable> opened = new ArrayList<>();
    try {
      // First: without a way to report readiness, systemd would wait for it in vain.
      Notifier notifier = track(opened, Notifier.open(systemd.notifySocket()));
      Clock clock = Clock.systemUTC();
      // S3 credentials: the AWS SDK's classes take most of a second to load (docs/decisions.md), so
      // they resolve while the route store opens; null without an S3 upstream.
      List<UpstreamConfig> s3Users = new ArrayList<>(config.upstreams());
      if (config.fallbackCache().upstream() != null) {
        s3Users.add(config.fallbackCache().upstream());
      }
      CompletableFuture<S3Auth> s3Start = CompletableFuture.supplyAsync(
          () -> S3Auth.start(s3Users, env),
          r -> Thread.ofPlatform().name("ncro-s3-start").daemon(true).start(r));
      opened.add(() -> s3Start.thenAccept(a -> {
        if (a != null) {
          a.close();
        }
      }));
      // The store opens (SQLite's native library, the file's checks) on a thread of its own while
      // this one starts Netty: on two cores that takes about 0.15 s off the start (bench/first).
      CompletableFuture<OpenedStore> storeOpening = CompletableFuture.supplyAsync(
          () -> {
            try {
              return openStore(config, clock);
            } catch (RouteStoreException e) {
              throw new CompletionException(e);
            }
          },
          r -> Thread.ofPlatform().name("ncro-store-open").daemon(true).start(r));
      opened.add(() -> storeOpening.thenAccept(o -> o.store().close()));
      Transport transport = Transport.create(Transport.defaultThreads());
      opened.add(transport::shutdown);
      ExecutorService blocking = track(
          opened,
          Executors.newThreadPerTaskExecutor(
              Thread.ofVirtual().name("ncro-blocking-", 0).factory()));
      S3Auth s3 = s3Start.join();
      // file:// caches: served to our own client over loopback, so they are upstreams like any
      // other.
      List<Path> localDirs = UpstreamRegistry.localDirs(config);
      LocalCacheServer local = localDirs.isEmpty()
          ? null
          : track(opened, LocalCacheServer.start(transport, localDirs, blocking));
      UpstreamRegistry registry = UpstreamRegistry.fromConfig(
          config, s3 == null ? u -> RequestAuth.NONE : s3::authorizer, local);
      TlsTrust trust = TlsTrust.system(env, System.getProperty("ncro.tls.provider", ""));
      // Read while the rest starts, so that the first HTTPS connection finds it ready; an
      // HTTP-only configuration reads it a few seconds later (see TlsTrust).
      boolean https = Stream.concat(registry.all().stream(), registry.fallback().stream())
              .anyMatch(u -> "https".equals(u.endpoint().getScheme()))
          || config.proxy().usesTls();
      if (https) {
        trust.preload();
      }
      OpenedStore routes = joinStore(storeOpening);
      RouteStore store = routes.store();
      UpstreamClient client = track(
          opened,
          new UpstreamClient(
              transport, config.timeouts(), "ncro/" + Cli.version(), trust, config.proxy()));
      NegativeCache negative = new NegativeCache(
          config.cache().negativeTtl(), NEGATIVE_ENTRIES, clock, routes.negatives());
      Metrics metrics = new Metrics(registry, store::count);
      StoreMetrics.register(metrics.registry(), routes.status());
      metrics.credentialFiles(
          registry,
          config.server().access(),
          routes.status()::unusablePasswordFiles,
          trust::unusableCaFiles);
      RecentRaces recent = new RecentRaces(RECENT_RACES);
      LearnedRoutes learned = null;
      MeshNode mesh = null;
      if (config.mesh().enabled()) {
        learned = new LearnedRoutes(LEARNED_ROUTES, clock);
        MeshStats meshStats = new MeshStats(clock);
        MeshMetrics.register(metrics.registry(), meshStats, learned::size);
        mesh = track(
            opened,
            MeshNode.start(
                config.mesh(),
                meshIdentity(config),
                new LocalRoutes(store, registry, ANNOUNCED_ROUTES)::newestFirst,
                learned,
                meshStats,
                clock));
      }
      NarinfoRouter narinfo = new NarinfoRouter(
          registry,
          client,
          store,
          negative,
          config.cache().ttl(),
          clock,
          blocking,
          metrics,
          recent,
          learned == null ? RouteHints.NONE : learned,
          config.cache().maxConcurrentRaces());
      StatusReport status = new StatusReport(
          Cli.version(),
          clock,
          registry,
          metrics,
          store,
          negative,
          recent,
          mesh == null ? null : mesh::status,
          narinfo.races(),
          routes.status(),
          config.proxy(),
          trust);
      NarRouter nars = new NarRouter(registry, store);
      CacheFileRouter files = new CacheFileRouter(
          registry,
          store,
          new FileRoutes(FILE_ROUTES, config.cache().ttl(), clock),
          new NegativeCache(config.cache().negativeTtl(), NEGATIVE_ENTRIES, clock));
      HttpServer server = track(
          opened,
          new HttpServer(
              transport,
              config.server(),
              narinfo,
              nars,
              files,
              client,
              registry,
              metrics,
              status,
              blocking,
              NarHedging.of(config.cache())));
      Prober prober = track(opened, new Prober(registry, client, config.cache().probeInterval()));
      registry.onSuspend(prober::probeNow);
      registry.addListener(prober);
      ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().name("ncro-housekeeping").daemon(true).factory());
      opened.add(housekeeping::shutdownNow);
      InetSocketAddress bound = server.start(systemd.listenFds());
      prober.start();
      if (!https) {
        // Off the start, but before a redirect to an HTTPS mirror or a discovered HTTPS cache
        // would wait for it where the connection opens (possibly an event loop).
        housekeeping.schedule(trust::preload, TLS_LATE_PRELOAD.toSeconds(), TimeUnit.SECONDS);
      }
      // After the prober: a cache found at once is probed at once.
      MdnsDiscovery discovery = config.discovery().enabled()
          ? track(
              opened,
              MdnsDiscovery.start(
                  config.discovery(),
                  new DiscoveredCaches(
                      registry, config.discovery(), config.cache().latencyAlpha())))
          : null;
      new CredentialWatcher(registry, prober).schedule(housekeeping);
      // The OS bundle and ca_files, changed under ncro (README "Rotation"): a stat each per
      // second once HTTPS is in use; a change probes every upstream at once.
      housekeeping.scheduleWithFixedDelay(
          () -> {
            try {
              if (trust.refresh()) {
                registry.allWithFallback().forEach(prober::probeNow);
              }
            } catch (RuntimeException e) {
              log.atWarn()
                  .setMessage("checking the TLS trust files failed")
                  .addKeyValue("error", String.valueOf(e))
                  .log();
            }
          },
          CredentialWatcher.PERIOD.toMillis(),
          CredentialWatcher.PERIOD.toMillis(),
          TimeUnit.MILLISECONDS);
      if (!config.server().access().clients().isEmpty()) {
        // Client credential files, rotated under ncro (README "Rotation"): a stat each per second.
        housekeeping.scheduleWithFixedDelay(
            config.server().access()::refreshClients,
            0,
            CredentialWatcher.PERIOD.toMillis(),
            TimeUnit.MILLISECONDS);
      }
      housekeeping.scheduleWithFixedDelay(
          () -> {
            try {
              store.flushRecency();
            } catch (RuntimeException e) {
              log.atWarn()
                  .setMessage("could not record route recency")
                  .addKeyValue("error", e.getMessage())
                  .log();
            }
          },
          10,
          10,
          TimeUnit.SECONDS);
      log.atInfo()
          .setMessage("ncro listening")
          .addKeyValue("version", Cli.version())
          .addKeyValue("address", bound)
          .addKeyValue(
              "addresses",
              String.join(
                  ",",
                  server.addresses().stream()
                      .map(NetUtil::toSocketAddressString)
                      .toList()))
          .addKeyValue("transport", transport.name())
          .addKeyValue("socket_activated", !systemd.listenFds().isEmpty())
          .addKeyValue("upstreams", registry.all().size())
          .addKeyValue("fallback_cache", registry.fallback().map(u -> u.name()).orElse("none"))
          .addKeyValue("store", routes.status().kind())
          .addKeyValue("db", routes.status().location())
          .addKeyValue(
              "discovery", config.discovery().enabled() ? config.discovery().serviceType() : "off")
          .addKeyValue("tls_engine", https ? trust.provider() : "unused (no HTTPS upstream)")
          .addKeyValue(
              "ca_bundle",
              trust.bundle().map(Object::toString).orElse("none (JDK trust store only)"))
          .addKeyValue(
              "proxy", config.proxy().isEmpty() ? "none" : config.proxy().describe())
          .log();
      // Everything is up by now: the listener accepts, the store is open, the mesh socket is bound.
      notifier.ready("serving on " + bound);
      Watchdog watchdog = Watchdog.start(notifier, systemd.watchdogPing(), transport.group());
      return new Ncro(
          transport,
          client,
          store,
          prober,
          server,
          blocking,
          housekeeping,
          registry,
          bound,
          mesh,
          notifier,
          watchdog,
          s3,
          discovery,
          local);
    } catch (Throwable e) {
      closeInReverse(opened, e);
      throw e;
    }
  }

  private static OpenedStore joinStore(CompletableFuture<OpenedStore> opening)
      throws RouteStoreException {
    try {
      return opening.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RouteStoreException r) {
        throw r;
      }
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
  }

  /** The route store, what it reports, and the negative entries it shares (none for SQLite). */
  private record OpenedStore(
      RouteStore store, StoreStatus status, NegativeCache.Shared negatives) {}

  private static OpenedStore openStore(Config config, Clock clock) throws RouteStoreException {
    int memory = Math.min(MEMORY_ROUTES, config.cache().maxEntries());
    if (config.cache().store() instanceof StoreConfig.Postgresql pg) {
      PostgresRouteBackend backend = PostgresRouteBackend.open(
          new PostgresSettings(
              pg.jdbcUrl(),
              pg.display(),
              pg.user(),
              pg.password(),
              pg.passwordFile() == null
                  ? null
                  : CredentialFile.secret("cache.postgresql.password_file", pg.passwordFile()),
              pg.properties(),
              pg.poolSize()),
          config.cache().maxEntries(),
          clock);
      return new OpenedStore(new RouteStore(backend, memory, clock), backend, backend.negatives());
    }
    return new OpenedStore(
        RouteStore.open(config.cache().dbPath(), config.cache().maxEntries(), memory, clock),
        StoreStatus.local("sqlite", config.cache().dbPath().toString()),
        NegativeCache.Shared.NONE);
  }

  private static <T extends AutoCloseable> T track(List<AutoCloseable> opened, T resource) {
    opened.add(resource);
    return resource;
  }

  /** Closes what a failed start opened, newest first; a close that fails too is kept as suppressed. */
  private static void closeInReverse(List<AutoCloseable> opened, Throwable cause) {
    for (int i = opened.size() - 1; i >= 0; i--) {
      try {
        opened.get(i).close();
      } catch (Exception e) {
        cause.addSuppressed(e);
      }
    }
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
    notifier.stopping();
    watchdog.close();
    // mDNS goodbyes take about 2 s: sent while the server drains, done before the prober stops.
    Runnable discoveryClosed = discovery == null ? () -> {} : discovery.beginClose();
    server.shutdown(Duration.ofSeconds(5));
    discoveryClosed.run();
    if (mesh != null) {
      mesh.close();
    }
    prober.close();
    if (s3 != null) {
      s3.close();
    }
    housekeeping.shutdownNow();
    client.close();
    if (local != null) {
      local.close();
    }
    transport.shutdown();
    blocking.shutdown();
    try {
      blocking.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    store.close();
    notifier.close();
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
