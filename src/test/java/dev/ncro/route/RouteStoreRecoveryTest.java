package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.ncro.support.Await;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * What {@link RouteStore#open} does with a file at {@code db_path} it cannot use (real SQLite
 * files, damaged in the ways disks and people damage them), and with locations that cannot work.
 * Runs as root in CI, so "unwritable" is made with things root cannot override: a regular file
 * where a directory must be, the immutable attribute, procfs.
 */
class RouteStoreRecoveryTest {
  private static final Clock CLOCK =
      Clock.fixed(Instant.parse("2026-11-25T10:15:30Z"), ZoneOffset.UTC);
  private static final String STAMP = "20261125T101530Z";

  @TempDir
  Path dir;

  private Path db;
  private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
  private final Logger logger = (Logger) LoggerFactory.getLogger(RouteStore.class);

  @BeforeEach
  void captureLog() {
    db = dir.resolve("routes.db");
    logged.start();
    logger.addAppender(logged);
    logger.setLevel(Level.INFO); // whatever level other tests in this JVM left on the root
  }

  @AfterEach
  void releaseLog() {
    logger.detachAppender(logged);
    logger.setLevel(null);
  }

  private static String hash(int i) {
    return String.format("%032d", i).replace('0', 'b');
  }

  private static Route route(int i) {
    String h = hash(i);
    return new Route(
        h,
        "http://up",
        3.5,
        "nar/" + h + ".nar.xz",
        "sha256:f",
        "sha256:n",
        4321,
        ("StorePath: /nix/store/" + h + "-x\n" + "x".repeat(200 + i % 100) + "\n")
            .getBytes(StandardCharsets.UTF_8),
        CLOCK.millis(),
        CLOCK.millis() + 3_600_000);
  }

  /** A real route database of {@code n} routes, closed (checkpointed) so the file holds them all. */
  private void realDatabase(int n) throws Exception {
    try (RouteStore s = RouteStore.open(db, 100_000, 10, CLOCK)) {
      for (int i = 0; i < n; i++) {
        s.put(route(i));
      }
    }
  }

  /** The store at {@code db} opens empty and works; the old file sits at the logged path, intact. */
  private void assertMovedAsideAndFresh(String kind, byte[] original) throws Exception {
    Path moved = dir.resolve("routes.db." + kind + "-" + STAMP);
    try (RouteStore s = RouteStore.open(db, 100, 10, CLOCK)) {
      assertThat(s.count()).isZero();
      s.put(route(7));
      assertThat(s.get(hash(7))).isPresent();
    }
    try (RouteStore s = RouteStore.open(db, 100, 10, CLOCK)) {
      assertThat(s.get(hash(7))).as("the fresh database persists").isPresent();
    }
    assertThat(moved).exists();
    assertThat(Files.readAllBytes(moved)).as("moved aside, not modified").isEqualTo(original);
    assertThat(logged.list).anySatisfy(e -> {
      assertThat(e.getLevel()).isEqualTo(Level.WARN);
      assertThat(e.getFormattedMessage()).contains("moved aside");
      assertThat(e.getKeyValuePairs())
          .anySatisfy(kv -> assertThat(kv.key + "=" + kv.value).isEqualTo("path=" + db));
      assertThat(e.getKeyValuePairs())
          .anySatisfy(kv -> assertThat(kv.key + "=" + kv.value).isEqualTo("moved_to=" + moved));
    });
  }

  @Test
  void randomBytesAreMovedAsideAndAFreshDatabaseStarts() throws Exception {
    byte[] junk = new byte[64 * 1024];
    new Random(5).nextBytes(junk);
    Files.write(db, junk);
    assertMovedAsideAndFresh("corrupt", junk);
  }

  @Test
  void aTruncatedDatabaseIsMovedAsideWithItsWal() throws Exception {
    realDatabase(3000);
    byte[] whole = Files.readAllBytes(db);
    byte[] half = Arrays.copyOf(whole, whole.length / 2);
    Files.write(db, half);
    // A stale WAL beside it must move too, or SQLite would replay it into the new file.
    Path wal = dir.resolve("routes.db-wal");
    Files.write(wal, new byte[] {1, 2, 3});
    assertMovedAsideAndFresh("corrupt", half);
    assertThat(dir.resolve("routes.db.corrupt-" + STAMP + "-wal"))
        .hasBinaryContent(new byte[] {1, 2, 3});
  }

  @Test
  void aDamagedPageInTheMiddleIsFoundAfterStartAndTheStoreSwitchesToAFreshFile() throws Exception {
    realDatabase(3000);
    byte[] bytes = Files.readAllBytes(db);
    byte[] garbage = new byte[4096];
    new Random(9).nextBytes(garbage);
    System.arraycopy(garbage, 0, bytes, bytes.length / 2 / 4096 * 4096, garbage.length);
    Files.write(db, bytes);
    Path moved = dir.resolve("routes.db.corrupt-" + STAMP);
    try (RouteStore s = RouteStore.open(db, 100_000, 10, CLOCK)) {
      // Opening reads only the header and the schema: the damage is found by quick_check after
      // start.
      Await.until("the damaged file moved aside", () -> Files.exists(moved));
      Await.until("the store switched to a fresh file", () -> s.count() == 0);
      s.put(route(7));
      assertThat(s.get(hash(7))).isPresent();
      assertThat(s.get(hash(8))).as("routes of the damaged file are gone").isEmpty();
    }
    try (RouteStore s = RouteStore.open(db, 100, 10, CLOCK)) {
      assertThat(s.get(hash(7))).as("the fresh database persists").isPresent();
      assertThat(s.count()).isEqualTo(1);
    }
    assertThat(moved).exists();
    assertThat(logged.list).anySatisfy(e -> {
      assertThat(e.getLevel()).isEqualTo(Level.WARN);
      assertThat(e.getFormattedMessage()).contains("moved aside");
      assertThat(e.getKeyValuePairs())
          .anySatisfy(kv -> assertThat(kv.key + "=" + kv.value).isEqualTo("path=" + db));
      assertThat(e.getKeyValuePairs())
          .anySatisfy(kv -> assertThat(kv.key + "=" + kv.value).isEqualTo("moved_to=" + moved));
      assertThat(e.getKeyValuePairs())
          .anySatisfy(kv ->
              assertThat(kv.key + "=" + kv.value).startsWith("reason=").contains("quick_check"));
    });
  }

  @Test
  void aHealthyStoreIsCheckedAfterStartAndKept() throws Exception {
    realDatabase(300);
    try (RouteStore s = RouteStore.open(db, 100_000, 10, CLOCK)) {
      assertThat(s.count()).isEqualTo(300);
      SqliteRouteBackend backend = (SqliteRouteBackend) s.backend();
      Await.until("the background check finished", backend::checked);
      assertThat(s.count()).isEqualTo(300);
      assertThat(s.get(hash(299))).isPresent();
    }
    assertThat(siblings()).containsExactlyInAnyOrder("routes.db");
  }

  @Test
  void aRoutesTableOfAnotherSchemaIsMovedAsideAsIncompatible() throws Exception {
    sql(
        "CREATE TABLE routes (store_path TEXT PRIMARY KEY, upstream_url TEXT, latency_ema REAL)",
        "INSERT INTO routes VALUES ('/nix/store/x', 'https://cache.nixos.org', 12.0)");
    byte[] original = Files.readAllBytes(db);
    assertMovedAsideAndFresh("incompatible", original);
  }

  @Test
  void anotherApplicationsDatabaseIsRefusedAndLeftUntouched() throws Exception {
    sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO users VALUES (1, 'alice')");
    byte[] original = Files.readAllBytes(db);
    assertThatThrownBy(() -> RouteStore.open(db, 100, 10, CLOCK))
        .isInstanceOf(RouteStoreException.class)
        .hasMessageStartingWith(db.toString())
        .hasMessageContaining("not ncro's")
        .hasMessageContaining("users");
    assertThat(Files.readAllBytes(db)).isEqualTo(original);
    assertThat(siblings()).containsExactly("routes.db");
  }

  @Test
  void aForeignApplicationIdIsRefusedEvenWithARoutesTable() throws Exception {
    sql("PRAGMA application_id=1234", "CREATE TABLE routes (a TEXT)");
    assertThatThrownBy(() -> RouteStore.open(db, 100, 10, CLOCK))
        .isInstanceOf(RouteStoreException.class)
        .hasMessageStartingWith(db.toString())
        .hasMessageContaining("application_id");
    assertThat(siblings()).containsExactly("routes.db");
  }

  @Test
  void aDatabaseFromBeforeTheApplicationIdIsAdoptedWithItsRoutes() throws Exception {
    realDatabase(3);
    sql("PRAGMA application_id=0");
    try (RouteStore s = RouteStore.open(db, 100, 10, CLOCK)) {
      assertThat(s.count()).isEqualTo(3);
    }
    assertThat(query("PRAGMA application_id"))
        .isEqualTo(String.valueOf(RouteSchema.APPLICATION_ID));
    assertThat(siblings()).doesNotContain("routes.db.corrupt-" + STAMP);
  }

  @Test
  void anEmptyFileIsJustANewDatabase() throws Exception {
    Files.write(db, new byte[0]);
    try (RouteStore s = RouteStore.open(db, 100, 10, CLOCK)) {
      s.put(route(1));
    }
    assertThat(logged.list).noneSatisfy(e -> assertThat(e.getLevel()).isEqualTo(Level.WARN));
  }

  @Test
  void aSecondMoveOnTheSameSecondGetsItsOwnName() throws Exception {
    Files.writeString(db, "not a database, first");
    RouteStore.open(db, 100, 10, CLOCK).close();
    Files.delete(db);
    Files.writeString(db, "not a database, second");
    RouteStore.open(db, 100, 10, CLOCK).close();
    assertThat(dir.resolve("routes.db.corrupt-" + STAMP)).hasContent("not a database, first");
    assertThat(dir.resolve("routes.db.corrupt-" + STAMP + "-1"))
        .hasContent("not a database, second");
  }

  // Locations that cannot work: a clear error naming the path, and nothing created or moved.

  @Test
  void aDirectoryAtThePathIsAnError() throws Exception {
    Files.createDirectories(db);
    assertThatThrownBy(() -> RouteStore.open(db, 100, 10, CLOCK))
        .isInstanceOf(RouteStoreException.class)
        .hasMessageStartingWith(db.toString())
        .hasMessageContaining("is a directory");
  }

  @Test
  void aFileWhereTheDirectoryShouldBeIsAnError() throws Exception {
    Path file = dir.resolve("not-a-dir");
    Files.writeString(file, "x");
    Path path = file.resolve("sub/routes.db");
    assertThatThrownBy(() -> RouteStore.open(path, 100, 10, CLOCK))
        .isInstanceOf(RouteStoreException.class)
        .hasMessageStartingWith(path.toString())
        .hasMessageContaining(file + " exists and is not a directory");
  }

  @Test
  void aDirectoryNobodyMayCreateIsAnError() {
    // procfs refuses new entries even to root.
    Path path = Path.of("/proc/ncro-test-" + ProcessHandle.current().pid() + "/routes.db");
    assertThatThrownBy(() -> RouteStore.open(path, 100, 10, CLOCK))
        .isInstanceOf(RouteStoreException.class)
        .hasMessageStartingWith(path.toString())
        .hasMessageContaining("cannot create its directory");
  }

  @Test
  void anImmutableDirectoryIsAnError() throws Exception {
    Path locked = Files.createDirectories(dir.resolve("locked"));
    assumeTrue(chattr("+i", locked), "chattr +i not supported here");
    try {
      Path path = locked.resolve("routes.db");
      assertThatThrownBy(() -> RouteStore.open(path, 100, 10, CLOCK))
          .isInstanceOf(RouteStoreException.class)
          .hasMessageStartingWith(path.toString())
          .hasMessageContaining("not writable");
    } finally {
      chattr("-i", locked);
    }
  }

  @Test
  void anImmutableDatabaseFileIsAnErrorNotASilentlyReadOnlyStore() throws Exception {
    realDatabase(2);
    assumeTrue(chattr("+i", db), "chattr +i not supported here");
    try {
      assertThatThrownBy(() -> RouteStore.open(db, 100, 10, CLOCK))
          .isInstanceOf(RouteStoreException.class)
          .hasMessageStartingWith(db.toString())
          .hasMessageContaining("writable");
    } finally {
      chattr("-i", db);
    }
    assertThat(siblings()).containsExactly("routes.db");
  }

  private static boolean chattr(String flag, Path p) throws IOException, InterruptedException {
    try {
      Process pr = new ProcessBuilder("chattr", flag, p.toString())
          .redirectErrorStream(true)
          .start();
      pr.getInputStream().readAllBytes();
      return pr.waitFor() == 0;
    } catch (IOException e) {
      return false; // no chattr
    }
  }

  private List<String> siblings() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private void sql(String... statements) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement st = c.createStatement()) {
      for (String s : statements) {
        st.execute(s);
      }
    }
  }

  private String query(String sql) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }
}
