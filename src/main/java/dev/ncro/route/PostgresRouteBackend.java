package dev.ncro.route;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes and negative entries in one PostgreSQL database shared by every node of a fleet
 * ({@code cache.store: postgresql}), behind each node's {@link RouteStore} memory layer.
 *
 * <p>Design notes. The database must never fail a request, so:
 * <ul>
 *   <li>reads ({@link #find}, on a memory miss: one indexed lookup of the route and the negative
 *       entry together, shared with the misses that arrive meanwhile) give up after
 *       {@link #READ_TIMEOUT} and count as misses: the request races; while the store is not UP
 *       they are misses at once, with no connection attempt;
 *   <li>writes go to a bounded queue and one thread ({@code ncro-postgresql}) sends them in
 *       batches, one transaction each; a full queue drops the write (counted), and the route stays
 *       in this node's memory;
 *   <li>that thread also reconnects, with backoff from {@link #BACKOFF_MIN} to {@link #BACKOFF_MAX},
 *       checking the schema each time (the database may have been replaced while down), and runs
 *       the {@link PostgresJanitor} every {@link #JANITOR_EVERY}, or sooner when the table may
 *       have grown past {@code max_entries}.
 * </ul>
 * A database that is unreachable at start is a warning and a degraded node; one that holds
 * something else, refuses the credentials or does not exist is a start-up error.
 */
public final class PostgresRouteBackend implements RouteBackend, StoreStatus {
  private static final Logger log = LoggerFactory.getLogger(PostgresRouteBackend.class);
  /** A LAN round trip is a millisecond; past this the database is too slow to beat a race. */
  static final Duration READ_TIMEOUT = Duration.ofMillis(500);

  static final Duration BACKOFF_MIN = Duration.ofMillis(200);
  static final Duration BACKOFF_MAX = Duration.ofSeconds(5);
  static final Duration JANITOR_EVERY = Duration.ofSeconds(30);
  static final Duration COUNT_EVERY = Duration.ofSeconds(5);
  /** Routes carry their narinfo (~1-2 KB): at most ~20 MB queued while the database is away. */
  static final int QUEUE = 10_000;

  static final int BATCH = 500;
  private static final int LEARNED_NEGATIVES = 4096;
  /**
   * The lookup of a batch of memory misses ({@link LookupBatcher}): the route and the negative entry
   * of each hash, by primary key, in one round trip. Only hashes with either come back.
   */
  private static final String SELECT =
      "SELECT r.hash, r.upstream, r.latency_ms, r.nar_url, r.file_hash, r.nar_hash,"
          + " r.nar_size, r.narinfo, r.verified_at, r.expires_at, n.expires_at, k.h, r.last_used"
          + " FROM unnest(?::text[]) AS k(h)"
          + " LEFT JOIN ncro_routes r ON r.hash = k.h LEFT JOIN ncro_negatives n ON n.hash = k.h"
          + " WHERE r.hash IS NOT NULL OR n.hash IS NOT NULL";
  /**
   * Memory-miss queries running at once: one per core of the 2-core machine measured, so a second
   * query overlaps the first one's round trip. One, two and four were not told apart by
   * {@code bench/store/run} on that (shared) machine (docs/benchmarks.md, issue 17); more only add
   * database processes competing for the same cores.
   */
  static final int LOOKUP_QUERIES = 2;
  /** Hashes per lookup query at most. */
  static final int LOOKUP_BATCH = 256;
  /**
   * Lookups time out (and race) on their own; the store is only marked DOWN when no query has
   * started or answered for this long while lookups wait: a database that hangs, not a busy one.
   */
  static final Duration UNRESPONSIVE = Duration.ofSeconds(2);

  private static final String ROUTES = "SELECT " + PostgresSchema.COLUMNS + " FROM ncro_routes";

  private final PostgresSettings settings;
  private final PostgresPassword password;
  private final HikariDataSource pool;
  private final int maxEntries;
  private final Clock clock;
  private final ArrayBlockingQueue<PostgresWrites.Write> queue = new ArrayBlockingQueue<>(QUEUE);
  private final ExecutorService readers = Executors.newThreadPerTaskExecutor(
      Thread.ofVirtual().name("ncro-postgresql-read-", 0).factory());
  private final LookupBatcher<String, Found> lookups;
  private final ConcurrentHashMap<String, Long> learnedNegatives = new ConcurrentHashMap<>();
  /** Uses found by {@link #find} that the next {@link #touch} writes. */
  private final ReadUses readUses = new ReadUses();

  private final AtomicLong dropped = new AtomicLong();
  private final AtomicLong failedReads = new AtomicLong();
  private final Thread worker;
  private volatile State state = State.CONNECTING;
  private volatile String reason = "not connected yet";
  private volatile int count;
  private volatile boolean closing;
  /** When a read query last started or answered ({@link System#nanoTime}). */
  private volatile long progress = System.nanoTime();

  /** One row of the batch lookup: the route (null if none) and the negative entry's expiry (0). */
  private record Found(Route route, long negativeUntil, long lastUsed) {}

  private PostgresRouteBackend(
      PostgresSettings settings,
      PostgresPassword password,
      HikariDataSource pool,
      int maxEntries,
      Clock clock) {
    this.settings = settings;
    this.password = password;
    this.pool = pool;
    this.maxEntries = maxEntries;
    this.clock = clock;
    this.worker = Thread.ofPlatform().name("ncro-postgresql").daemon(true).unstarted(this::work);
    this.lookups = new LookupBatcher<>(
        Math.max(1, Math.min(LOOKUP_QUERIES, settings.poolSize() - 1)),
        LOOKUP_BATCH,
        readers,
        this::lookupAll);
  }

  /**
   * Connects and creates or migrates the schema. Unreachable: a warning, and the node starts
   * degraded (the worker keeps trying). Refused (not ncro's database, a newer schema, bad
   * credentials, no such database, no right to create tables): a {@link RouteStoreException}.
   */
  public static PostgresRouteBackend open(PostgresSettings settings, int maxEntries, Clock clock)
      throws RouteStoreException {
    PostgresPassword password =
        new PostgresPassword(settings.user(), settings.password(), settings.passwordFile());
    HikariDataSource pool = new HikariDataSource(hikari(settings, password));
    PostgresRouteBackend b = new PostgresRouteBackend(settings, password, pool, maxEntries, clock);
    try {
      b.connect();
    } catch (PostgresSchema.Refused e) {
      pool.close();
      throw new RouteStoreException(
          "cache.postgresql.url: " + settings.display() + ": " + password.scrub(e.getMessage()),
          null);
    } catch (SQLException e) {
      String why = b.describe(e);
      if (fatalAtStart(e)) {
        pool.close();
        throw new RouteStoreException(
            "cache.postgresql: " + settings.display() + ": " + why + hint(e), null);
      }
      b.down(why);
      log.atWarn()
          .setMessage(
              "route database unreachable at start; serving from memory and races until it answers")
          .addKeyValue("url", settings.display())
          .addKeyValue("error", why)
          .log();
    }
    b.worker.start();
    return b;
  }

  private static HikariConfig hikari(PostgresSettings s, PostgresPassword password) {
    HikariConfig h = new HikariConfig();
    h.setPoolName("ncro-postgresql");
    h.setJdbcUrl(s.jdbcUrl());
    if (!s.user().isEmpty()) {
      // Asked for each new connection: a rotated password file is followed (PostgresPassword).
      h.setCredentialsProvider(password);
    } else if (!s.password().isEmpty()) {
      h.setPassword(s.password()); // no user named: pgjdbc's default user, a fixed password
    }
    h.setMaximumPoolSize(s.poolSize());
    h.setMinimumIdle(Math.min(2, s.poolSize()));
    // The pool starts without a connection: an unreachable database is a degraded node, not a
    // crash.
    h.setInitializationFailTimeout(-1);
    h.setConnectionTimeout(2000);
    h.setValidationTimeout(1000);
    h.addDataSourceProperty("connectTimeout", "2");
    h.addDataSourceProperty("socketTimeout", "10");
    h.addDataSourceProperty("tcpKeepAlive", "true");
    h.addDataSourceProperty("ApplicationName", "ncro");
    // A batch of route or negative-entry upserts goes as multi-row INSERTs, not one per row.
    h.addDataSourceProperty("reWriteBatchedInserts", "true");
    s.properties().forEach(h::addDataSourceProperty);
    return h;
  }

  // ---- reads: on virtual threads of the caller, bounded by READ_TIMEOUT ----

  /**
   * One memory miss: answered by a query shared with the misses that arrive while others run
   * ({@link LookupBatcher}); the caller waits at most {@link #READ_TIMEOUT}, then races.
   */
  @Override
  public Optional<Route> find(String hash) {
    if (state != State.UP) {
      failedReads.incrementAndGet();
      return Optional.empty();
    }
    Found found = await(lookups.lookup(hash)).orElse(null);
    if (found == null) {
      return Optional.empty();
    }
    if (found.negativeUntil() > clock.millis()) {
      if (learnedNegatives.size() > LEARNED_NEGATIVES) {
        learnedNegatives.clear();
      }
      learnedNegatives.put(hash, found.negativeUntil());
    }
    if (found.route() != null) {
      readUses.read(hash, found.lastUsed(), clock.millis());
    }
    return Optional.ofNullable(found.route());
  }

  /** The row's {@code last_used} comes with it: only a stale one is recorded ({@link ReadUses}). */
  @Override
  public boolean recordsUsesOnRead() {
    return true;
  }

  /** The query behind {@link #find}: every hash of a batch in one round trip. */
  private Map<String, Found> lookupAll(List<String> hashes) throws SQLException {
    progress = System.nanoTime();
    Map<String, Found> out = HashMap.newHashMap(hashes.size());
    try (Connection c = pool.getConnection();
        PreparedStatement ps = c.prepareStatement(SELECT)) {
      ps.setArray(1, c.createArrayOf("text", hashes.toArray()));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long negativeUntil = rs.getLong(11);
          Route route = rs.getString(1) == null ? null : PostgresSchema.read(rs, 1);
          out.put(rs.getString(12), new Found(route, negativeUntil, rs.getLong(13)));
        }
      }
    }
    progress = System.nanoTime();
    return out;
  }

  @Override
  public Optional<Route> findByNarUrl(String narUrl) {
    return read(c -> {
          try (PreparedStatement ps =
              c.prepareStatement(ROUTES + " WHERE nar_url = ? ORDER BY verified_at DESC LIMIT 1")) {
            ps.setString(1, narUrl);
            try (ResultSet rs = ps.executeQuery()) {
              return rs.next() ? Optional.of(PostgresSchema.read(rs, 1)) : Optional.<Route>empty();
            }
          }
        })
        .orElse(Optional.empty());
  }

  @Override
  public List<Route> recentLive(long nowMillis, int limit) {
    return read(c -> {
          List<Route> out = new ArrayList<>();
          try (PreparedStatement ps = c.prepareStatement(
              ROUTES + " WHERE expires_at > ? ORDER BY verified_at DESC LIMIT ?")) {
            ps.setLong(1, nowMillis);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
              while (rs.next()) {
                out.add(PostgresSchema.read(rs, 1));
              }
            }
          }
          return out;
        })
        .orElse(List.of());
  }

  /** The negative entries other nodes wrote, as {@link #find} saw them: for {@link NegativeCache}. */
  public NegativeCache.Shared negatives() {
    return new NegativeCache.Shared() {
      @Override
      public void added(String hash, long untilMillis) {
        enqueue(new PostgresWrites.Negative(hash, untilMillis));
      }

      @Override
      public long learned(String hash) {
        Long until = learnedNegatives.remove(hash);
        return until == null ? 0 : until;
      }
    };
  }

  @FunctionalInterface
  private interface Query<T> {
    T run(Connection c) throws SQLException;
  }

  /** {@code q}'s answer, or empty when the store is not up, fails or is slower than READ_TIMEOUT. */
  private <T> Optional<T> read(Query<T> q) {
    if (state != State.UP) {
      failedReads.incrementAndGet();
      return Optional.empty();
    }
    Future<T> f = readers.submit(() -> {
      progress = System.nanoTime();
      try (Connection c = pool.getConnection()) {
        T answer = q.run(c);
        progress = System.nanoTime();
        return answer;
      }
    });
    return await(f);
  }

  /**
   * A read's answer within {@link #READ_TIMEOUT}, or empty: a timeout or a failure is counted
   * against the store's state, and the caller races instead.
   */
  private <T> Optional<T> await(Future<T> answer) {
    try {
      return Optional.ofNullable(answer.get(READ_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    } catch (TimeoutException e) {
      timedOut();
      return Optional.empty();
    } catch (ExecutionException e) {
      failed(e.getCause());
      return Optional.empty();
    }
  }

  /**
   * A lookup gave up waiting: a miss. The query goes on (interrupting it would close its
   * connection) and returns its connection to the pool when it ends. Only when nothing has started
   * or answered for {@link #UNRESPONSIVE} is the store DOWN: a busy database is slow, not gone.
   */
  private void timedOut() {
    failedReads.incrementAndGet();
    long quiet = System.nanoTime() - progress;
    if (quiet > UNRESPONSIVE.toNanos()) {
      down("no lookup answered for " + TimeUnit.NANOSECONDS.toMillis(quiet) + " ms");
    }
  }

  private void failed(Throwable cause) {
    failedReads.incrementAndGet();
    down(cause instanceof SQLException s ? describe(s) : password.scrub(String.valueOf(cause)));
  }

  // ---- writes: queued, sent by the worker ----

  @Override
  public void upsert(Route route) {
    enqueue(new PostgresWrites.Upsert(route, clock.millis()));
  }

  @Override
  public void delete(String hash) {
    enqueue(new PostgresWrites.Delete(hash));
  }

  @Override
  public void touch(List<Touch> given) {
    List<Touch> touched = new ArrayList<>(given);
    readUses.drainInto(touched);
    for (int from = 0; from < touched.size(); from += PostgresWrites.TOUCH_CHUNK) {
      enqueue(new PostgresWrites.Touches(List.copyOf(
          touched.subList(from, Math.min(touched.size(), from + PostgresWrites.TOUCH_CHUNK)))));
    }
  }

  private void enqueue(PostgresWrites.Write w) {
    if (closing || !queue.offer(w)) {
      dropped.addAndGet(PostgresWrites.count(List.of(w)));
    }
  }

  @Override
  public int count() {
    return count;
  }

  // ---- the worker: reconnects, flushes, cleans ----

  private void work() {
    List<PostgresWrites.Write> pending = new ArrayList<>();
    long backoff = BACKOFF_MIN.toMillis();
    long lastJanitor = 0;
    long nextCount = 0;
    int sinceCount = 0;
    while (!closing) {
      try {
        if (state != State.UP) {
          Thread.sleep(backoff);
          try {
            connect();
            backoff = BACKOFF_MIN.toMillis();
            log.atInfo()
                .setMessage("route database connected")
                .addKeyValue("url", settings.display())
                .log();
          } catch (PostgresSchema.Refused e) {
            refuse(password.scrub(e.getMessage()));
            backoff = BACKOFF_MAX.toMillis();
          } catch (SQLException e) {
            down(describe(e));
            backoff = Math.min(BACKOFF_MAX.toMillis(), backoff * 2);
          }
          continue;
        }
        if (pending.isEmpty()) {
          PostgresWrites.Write first = queue.poll(1, TimeUnit.SECONDS);
          if (first != null) {
            pending.add(first);
            queue.drainTo(pending, BATCH - 1);
          }
        }
        if (!pending.isEmpty()) {
          sinceCount += flush(pending);
        }
        long now = clock.millis();
        // The shared bound is enforced every JANITOR_EVERY, and within a second once this node's
        // estimate (last count plus routes written since) passes it.
        boolean overBound = (long) count + sinceCount > maxEntries;
        if (state == State.UP
            && (now - lastJanitor >= JANITOR_EVERY.toMillis()
                || (overBound && now - lastJanitor >= 1000))) {
          janitor(now, (long) count + sinceCount);
          lastJanitor = now;
          nextCount = now + COUNT_EVERY.toMillis();
          sinceCount = 0;
        } else if (state == State.UP && now >= nextCount) {
          try (Connection c = pool.getConnection()) {
            count = PostgresJanitor.estimate(c);
          }
          nextCount = now + COUNT_EVERY.toMillis();
          sinceCount = 0;
        }
      } catch (InterruptedException e) {
        break;
      } catch (SQLException e) {
        down(describe(e));
      } catch (RuntimeException e) {
        log.atError().setMessage("route database worker failed").setCause(e).log();
        down(password.scrub(String.valueOf(e)));
      }
    }
    finish(pending);
  }

  /** At close: sends what is still queued if the database answers; the rest is dropped (counted). */
  private void finish(List<PostgresWrites.Write> pending) {
    queue.drainTo(pending);
    while (!pending.isEmpty() && state == State.UP) {
      List<PostgresWrites.Write> batch =
          new ArrayList<>(pending.subList(0, Math.min(BATCH, pending.size())));
      flush(batch);
      if (!batch.isEmpty()) {
        break;
      }
      pending.subList(0, Math.min(BATCH, pending.size())).clear();
    }
    dropped.addAndGet(PostgresWrites.count(pending));
  }

  /** Sends {@code pending}; returns how many new routes it may have added. Keeps it on a transient failure. */
  private int flush(List<PostgresWrites.Write> pending) {
    try (Connection c = pool.getConnection()) {
      PostgresWrites.apply(c, pending);
      int added =
          (int) pending.stream().filter(w -> w instanceof PostgresWrites.Upsert).count();
      pending.clear();
      return added;
    } catch (SQLException e) {
      if (transient_(e)) {
        down(describe(e));
      } else {
        dropped.addAndGet(PostgresWrites.count(pending));
        log.atError()
            .setMessage("route database refused a batch of writes; dropped")
            .addKeyValue("writes", pending.size())
            .addKeyValue("error", describe(e))
            .log();
        pending.clear();
      }
      return 0;
    }
  }

  private void janitor(long now, long atLeast) throws SQLException {
    try (Connection c = pool.getConnection()) {
      PostgresJanitor.Result r = PostgresJanitor.run(c, maxEntries, now, atLeast);
      count = r.routes();
      if (r.ran() && (r.evicted() > 0 || r.expired() > 0 || r.negatives() > 0)) {
        log.atInfo()
            .setMessage("route database cleaned")
            .addKeyValue("evicted", r.evicted())
            .addKeyValue("expired", r.expired())
            .addKeyValue("negatives", r.negatives())
            .addKeyValue("routes", r.routes())
            .log();
      }
    }
  }

  private void connect() throws SQLException, PostgresSchema.Refused {
    try (Connection c = pool.getConnection()) {
      int before = PostgresSchema.ensure(c);
      if (before < PostgresSchema.VERSION) {
        log.atInfo()
            .setMessage(
                before == 0 ? "route database schema created" : "route database schema migrated")
            .addKeyValue("url", settings.display())
            .addKeyValue("from_version", before)
            .addKeyValue("version", PostgresSchema.VERSION)
            .log();
      }
      count = PostgresJanitor.estimate(c);
    }
    reason = "";
    state = State.UP;
  }

  private void down(String why) {
    reason = why;
    if (state == State.UP) {
      log.atWarn()
          .setMessage("route database unavailable; serving from memory and races, writes queued")
          .addKeyValue("url", settings.display())
          .addKeyValue("error", why)
          .log();
    }
    if (state != State.REFUSED) {
      state = State.DOWN;
    }
  }

  private void refuse(String why) {
    if (state != State.REFUSED || !why.equals(reason)) {
      log.atError()
          .setMessage("route database refused: not writing to it")
          .addKeyValue("url", settings.display())
          .addKeyValue("error", why)
          .log();
    }
    reason = why;
    state = State.REFUSED;
  }

  /** Connection trouble, a server shutting down or out of resources, a deadlock: worth retrying. */
  private static boolean transient_(SQLException e) {
    String s = e.getSQLState();
    return e instanceof SQLTransientException
        || e instanceof SQLRecoverableException
        || s == null
        || s.startsWith("08")
        || s.startsWith("57")
        || s.startsWith("53")
        || s.startsWith("40");
  }

  /** At start only: the settings are wrong (credentials, database name, rights), not the network. */
  private static boolean fatalAtStart(SQLException e) {
    SQLException root = rootSql(e);
    String s = root.getSQLState();
    return s != null && (s.startsWith("28") || s.equals("3D000") || s.equals("42501"));
  }

  private static String hint(SQLException e) {
    String s = rootSql(e).getSQLState();
    if (s == null) {
      return "";
    }
    if (s.startsWith("28")) {
      return " (check the user in cache.postgresql.url and cache.postgresql.password_file)";
    }
    if (s.equals("3D000")) {
      return " (create it, e.g. services.postgresql.ensureDatabases, or fix the database in cache.postgresql.url)";
    }
    return " (ncro's user must be able to create tables: make it the database's owner)";
  }

  private static SQLException rootSql(SQLException e) {
    SQLException last = e;
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      if (t instanceof SQLException s) {
        last = s;
      }
    }
    return last;
  }

  /** The innermost driver message (Hikari wraps pgjdbc's), without the password. */
  private String describe(SQLException e) {
    SQLException root = rootSql(e);
    String m = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    return password.scrub(m.strip());
  }

  // ---- StoreStatus ----

  @Override
  public String kind() {
    return "postgresql";
  }

  @Override
  public String location() {
    return settings.display();
  }

  @Override
  public State state() {
    return state;
  }

  @Override
  public String reason() {
    return reason;
  }

  @Override
  public int queuedWrites() {
    return queue.size();
  }

  @Override
  public long droppedWrites() {
    return dropped.get();
  }

  @Override
  public long failedReads() {
    return failedReads.get();
  }

  @Override
  public int unusablePasswordFiles() {
    return password.usable() ? 0 : 1;
  }

  /** Sends what is queued (when the database answers), then closes the pool. */
  @Override
  public void close() {
    if (closing) {
      return;
    }
    closing = true;
    worker.interrupt();
    try {
      worker.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    readers.shutdownNow();
    pool.close();
  }

  /** The statement memory misses run (one parameter, an array of hashes): tests check its plan uses the primary keys. */
  public static String lookupSql() {
    return SELECT;
  }
}
