package dev.ncro.route;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * One JDBC transaction around a piece of work, the same way for both stores: autocommit off, the
 * work, commit; on any failure a rollback (its own failure kept as suppressed, so the first cause
 * is what the caller sees), and autocommit back on in every case, because the connection goes back
 * to a pool or stays with its backend for the next write.
 */
final class Transaction {
  /** The work inside the transaction; {@code E} is any checked exception of its own. */
  @FunctionalInterface
  interface Work<T, E extends Exception> {
    T run() throws SQLException, E;
  }

  private Transaction() {}

  /** Runs {@code work} in one transaction on {@code c} (autocommit on, returned so). */
  static <T, E extends Exception> T run(Connection c, Work<T, E> work) throws SQLException, E {
    c.setAutoCommit(false);
    try {
      T result = work.run();
      c.commit();
      return result;
    } catch (Throwable t) {
      try {
        c.rollback();
      } catch (SQLException suppressed) {
        t.addSuppressed(suppressed);
      }
      throw t;
    } finally {
      c.setAutoCommit(true);
    }
  }
}
