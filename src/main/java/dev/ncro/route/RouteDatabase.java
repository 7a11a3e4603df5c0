package dev.ncro.route;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sqlite.SQLiteConfig;

/**
 * Opens the route database file for {@link SqliteRouteBackend}, deciding what to do with a file that is
 * not usable (see {@link SqliteRouteBackend} for the policy): refuse, with a message naming the path, or
 * move it aside and start with an empty one.
 */
final class RouteDatabase {
  private static final Logger log = LoggerFactory.getLogger(RouteStore.class);
  /** SQLite's file sidecars: they belong to the database file and move with it. */
  private static final List<String> SIDECARS = List.of("-wal", "-shm", "-journal");

  private static final DateTimeFormatter STAMP =
      DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

  private RouteDatabase() {}

  /** The file cannot serve as ncro's route database, but may be replaced: it is only a cache. */
  private static final class Unusable extends Exception {
    final String kind;

    Unusable(String kind, String reason, Throwable cause) {
      super(reason, cause);
      this.kind = kind;
    }
  }

  /** An open, writable connection to ncro's route database at {@code path}, in WAL mode. */
  static Connection open(Path path, Clock clock) throws RouteStoreException {
    Path db = path.toAbsolutePath();
    checkLocation(path, db);
    try {
      return openChecked(path, db);
    } catch (Unusable u) {
      Path moved = moveAside(path, db, u, clock);
      log.atWarn()
          .setMessage("route database unusable, moved aside; starting with an empty one")
          .addKeyValue("path", path)
          .addKeyValue("moved_to", moved)
          .addKeyValue("reason", u.getMessage())
          .log();
      try {
        return openChecked(path, db);
      } catch (Unusable again) {
        throw new RouteStoreException(
            path + ": a new route database is unusable too: " + again.getMessage(), again);
      }
    }
  }

  /** Errors that no amount of replacing the file would fix: the operator must act. */
  private static void checkLocation(Path path, Path db) throws RouteStoreException {
    if (Files.isDirectory(db)) {
      throw new RouteStoreException(
          path + " is a directory, expected a database file (e.g. " + path.resolve("routes.db")
              + ")",
          null);
    }
    Path parent = db.getParent();
    if (parent == null) {
      throw new RouteStoreException(path + " has no parent directory", null);
    }
    for (Path p = parent; p != null; p = p.getParent()) {
      if (Files.exists(p)) {
        if (!Files.isDirectory(p)) {
          throw new RouteStoreException(
              path + ": cannot create its directory, " + p + " exists and is not a directory",
              null);
        }
        break;
      }
    }
    try {
      createPrivateDirectories(parent);
    } catch (IOException | SecurityException e) {
      throw new RouteStoreException(
          path + ": cannot create its directory " + parent + ": " + describe(e), e);
    }
    if (Files.exists(db)) {
      if (!Files.isRegularFile(db)) {
        throw new RouteStoreException(path + " is not a regular file", null);
      }
      if (!Files.isReadable(db) || !Files.isWritable(db)) {
        throw new RouteStoreException(path + " is not readable and writable by this process", null);
      }
    }
    // The directory must take the -wal and -shm files (and the database itself when new).
    if (!Files.isWritable(parent)) {
      throw new RouteStoreException(
          path + ": directory " + parent + " is not writable by this process", null);
    }
  }

  /**
   * Creates the missing directories of {@code dir} with mode 0700: the routes say which store
   * paths this machine fetches, which is nobody else's business. Existing directories are left as
   * they are (systemd's {@code StateDirectory=} makes its own).
   */
  private static void createPrivateDirectories(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return;
    }
    if (!dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      Files.createDirectories(dir);
      return;
    }
    Files.createDirectories(
        dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
  }

  /**
   * Moves a database that {@link #quickCheck} found damaged after start (its connections already
   * closed) aside, as {@link #open} does at start, and opens a fresh one at {@code path}.
   */
  static Connection replaceDamaged(Path path, String reason, Clock clock)
      throws RouteStoreException {
    Path db = path.toAbsolutePath();
    Unusable u = new Unusable("corrupt", reason, null);
    Path moved = moveAside(path, db, u, clock);
    log.atWarn()
        .setMessage("route database damaged, moved aside; continuing with an empty one")
        .addKeyValue("path", path)
        .addKeyValue("moved_to", moved)
        .addKeyValue("reason", reason)
        .log();
    try {
      return openChecked(path, db);
    } catch (Unusable again) {
      throw new RouteStoreException(
          path + ": a new route database is unusable too: " + again.getMessage(), again);
    }
  }

  /** A read-only connection to the database at {@code path}, for lookups beside the writer (WAL). */
  static Connection openReader(Path path) throws SQLException {
    SQLiteConfig readOnly = new SQLiteConfig();
    readOnly.setReadOnly(true);
    readOnly.setBusyTimeout(5000);
    return readOnly.createConnection("jdbc:sqlite:" + path.toAbsolutePath());
  }

  private static Connection openChecked(Path path, Path db) throws RouteStoreException, Unusable {
    if (hasContent(db)) {
      checkHeader(db);
      // Judged through a read-only connection first: a file that turns out not to be ours, or
      // damaged, is left exactly as it was (a read-write connection would checkpoint its WAL on
      // close, writing into the damaged file and deleting the WAL).
      SQLiteConfig readOnly = new SQLiteConfig();
      readOnly.setReadOnly(true);
      readOnly.setBusyTimeout(5000);
      try (Connection c = readOnly.createConnection("jdbc:sqlite:" + db)) {
        RouteSchema.Fit fit = RouteSchema.inspect(c);
        if (fit instanceof RouteSchema.Fit.Foreign f) {
          throw new RouteStoreException(
              path + " is an SQLite database but not ncro's: " + f.reason()
                  + "; refusing to touch it (point cache.db_path at another file)",
              null);
        }
        if (fit instanceof RouteSchema.Fit.Incompatible i) {
          throw new Unusable("incompatible", "not this ncro's route database: " + i.reason(), null);
        }
      } catch (SQLException e) {
        throw failure(path, "cannot read", e);
      }
    }
    Connection c;
    try {
      // Every write transaction takes the write lock at BEGIN (IMMEDIATE). A deferred one reads
      // first (does the route exist?) and asks for the lock at its first write; SQLite then skips
      // the busy handler (a transaction that has read could deadlock waiting) and fails at once
      // with SQLITE_BUSY if the lock is held at that instant, which a reader briefly does when it
      // re-reads a WAL-index header torn by a concurrent commit. Seen once in a 1 000 000-route
      // fill: a route lost. And a commit by any other connection in between would fail it with
      // SQLITE_BUSY_SNAPSHOT (WriterTransactionTest).
      SQLiteConfig writer = new SQLiteConfig();
      writer.setTransactionMode(SQLiteConfig.TransactionMode.IMMEDIATE);
      writer.setBusyTimeout(5000);
      c = writer.createConnection("jdbc:sqlite:" + db);
    } catch (SQLException e) {
      throw failure(path, "cannot open", e);
    }
    boolean ok = false;
    try {
      String mode = journalMode(c);
      if (!mode.equalsIgnoreCase("wal")) {
        log.atWarn()
            .setMessage("route database not in WAL mode")
            .addKeyValue("path", path)
            .addKeyValue("journal_mode", mode)
            .log();
      }
      RouteSchema.apply(c);
      ok = true;
      return c;
    } catch (SQLException e) {
      throw failure(path, "cannot write", e);
    } finally {
      if (!ok) {
        try {
          c.close();
        } catch (SQLException ignored) {
          // already failing
        }
      }
    }
  }

  private static boolean hasWal(Path db) {
    try {
      Path wal = db.resolveSibling(db.getFileName() + "-wal");
      return Files.exists(wal) && Files.size(wal) >= 32;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean hasContent(Path db) throws RouteStoreException {
    try {
      return Files.exists(db) && Files.size(db) > 0;
    } catch (IOException e) {
      throw new RouteStoreException(db + ": cannot read: " + describe(e), e);
    }
  }

  /**
   * What {@code PRAGMA quick_check} finds wrong with the database behind {@code c}, or empty. It
   * reads every page (about 2 s for the 146 MiB file of 100 000 routes on a busy 2-core machine,
   * docs/benchmarks.md; it grows with the file), so it runs after start, in the background
   * ({@link SqliteRouteBackend}), not before the first answer.
   */
  static Optional<String> quickCheck(Connection c) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("PRAGMA quick_check")) {
      String first = rs.next() ? rs.getString(1) : "no answer";
      return "ok".equals(first)
          ? Optional.empty()
          : Optional.of(
              "PRAGMA quick_check: " + RouteSchema.abbreviate(first.replace('\n', ' '), 300));
    }
  }

  /**
   * The cheap check at open, 100 bytes read: an SQLite header, and a file at least as long as the
   * header says (when the header's page count is valid). Catches a truncated file before SQLite
   * opens it read-write, so its WAL moves aside untouched with it; damage inside the pages is
   * {@link #quickCheck}'s, after start.
   */
  private static void checkHeader(Path db) throws RouteStoreException, Unusable {
    byte[] h = new byte[100];
    long size;
    try (var in = Files.newInputStream(db)) {
      size = Files.size(db);
      if (in.readNBytes(h, 0, h.length) < h.length) {
        throw new Unusable("corrupt", "shorter than an SQLite header (" + size + " bytes)", null);
      }
    } catch (IOException e) {
      throw new RouteStoreException(db + ": cannot read: " + describe(e), e);
    }
    if (!new String(h, 0, 16, StandardCharsets.ISO_8859_1).equals("SQLite format 3\0")) {
      throw new Unusable("corrupt", "file is not a database (no SQLite header)", null);
    }
    ByteBuffer b = ByteBuffer.wrap(h);
    int pageSize = Short.toUnsignedInt(b.getShort(16));
    long pageBytes = pageSize == 1 ? 65536 : pageSize;
    long pages = Integer.toUnsignedLong(b.getInt(28));
    boolean countValid = b.getInt(24) == b.getInt(92) && pages > 0;
    // A checkpoint cut short (kill -9) may have written page 1 before extending the file; the WAL
    // beside it (at least its 32-byte header) completes it at open. Then quick_check judges.
    if (countValid && size < pages * pageBytes && !hasWal(db)) {
      throw new Unusable(
          "corrupt",
          "truncated: " + size + " bytes, the header says " + pages + " pages of " + pageBytes,
          null);
    }
  }

  private static String journalMode(Connection c) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("PRAGMA journal_mode=WAL")) {
      return rs.next() ? rs.getString(1) : "unknown";
    }
  }

  /**
   * SQLite's verdict on the file: "not a database" and "malformed" mean the file is damaged (or
   * was never a database); anything else (cannot open, read-only, I/O error, locked) is about the
   * environment, and replacing the file would not help.
   */
  private static Unusable failure(Path path, String doing, SQLException e)
      throws RouteStoreException {
    int primary = e.getErrorCode() & 0xff;
    if (primary == 11 /* SQLITE_CORRUPT */ || primary == 26 /* SQLITE_NOTADB */) {
      return new Unusable("corrupt", e.getMessage(), e);
    }
    String hint = switch (primary) {
      case 8 -> " (the file or its directory is read-only)"; // SQLITE_READONLY
      case 5, 6 -> " (another process holds it locked)"; // SQLITE_BUSY, SQLITE_LOCKED
      case 14 -> " (check that the directory exists and is writable)"; // SQLITE_CANTOPEN
      default -> "";
    };
    throw new RouteStoreException(
        path + ": " + doing + " the route database: " + e.getMessage() + hint, e);
  }

  /** Renames the file and its sidecars to {@code <db>.<kind>-<UTC time>}; returns the new path. */
  private static Path moveAside(Path path, Path db, Unusable u, Clock clock)
      throws RouteStoreException {
    String base = db.getFileName() + "." + u.kind + "-" + STAMP.format(clock.instant());
    Path target = db.resolveSibling(base);
    for (int n = 1; Files.exists(target); n++) {
      target = db.resolveSibling(base + "-" + n);
    }
    try {
      Files.move(db, target, StandardCopyOption.ATOMIC_MOVE);
      for (String s : SIDECARS) {
        Path side = db.resolveSibling(db.getFileName() + s);
        if (Files.exists(side)) {
          Files.move(
              side,
              target.resolveSibling(target.getFileName() + s),
              StandardCopyOption.ATOMIC_MOVE);
        }
      }
    } catch (IOException | SecurityException e) {
      throw new RouteStoreException(
          path + " is unusable (" + u.getMessage() + ") and cannot be moved aside: " + describe(e),
          e);
    }
    return target;
  }

  private static String describe(Exception e) {
    return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage());
  }
}
