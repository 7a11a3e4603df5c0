package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link Transaction} on a real (in-memory) SQLite connection. */
class TransactionTest {
  private Connection c;

  @BeforeEach
  void open() throws SQLException {
    c = DriverManager.getConnection("jdbc:sqlite::memory:");
    try (Statement st = c.createStatement()) {
      st.execute("CREATE TABLE t (x INTEGER)");
    }
  }

  @AfterEach
  void close() throws SQLException {
    c.close();
  }

  private int rows() throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM t")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private void insert(int x) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute("INSERT INTO t VALUES (" + x + ")");
    }
  }

  @Test
  void theWorkIsCommittedAndItsResultReturned() throws SQLException {
    int result = Transaction.run(c, () -> {
      insert(1);
      insert(2);
      return 42;
    });
    assertThat(result).isEqualTo(42);
    assertThat(rows()).isEqualTo(2);
    assertThat(c.getAutoCommit()).isTrue();
  }

  @Test
  void aFailureRollsEverythingBackAndIsRethrownAsItself() throws SQLException {
    IllegalStateException boom = new IllegalStateException("boom");
    assertThatThrownBy(() -> Transaction.run(c, () -> {
          insert(1);
          throw boom;
        }))
        .isSameAs(boom);
    assertThat(rows()).isZero();
    assertThat(c.getAutoCommit()).as("autocommit restored for the next user").isTrue();
  }

  /** A checked exception of the work's own passes through with its type. */
  static final class Refused extends Exception {
    Refused() {
      super("refused");
    }
  }

  @Test
  void aCheckedExceptionOfTheWorkRollsBackToo() throws SQLException {
    assertThatThrownBy(() -> Transaction.<Void, Refused>run(c, () -> {
          insert(1);
          throw new Refused();
        }))
        .isInstanceOf(Refused.class);
    assertThat(rows()).isZero();
    assertThat(c.getAutoCommit()).isTrue();
  }
}
