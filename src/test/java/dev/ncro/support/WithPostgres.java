package dev.ncro.support;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

/**
 * Base of the tests that share one real {@link Postgres} per test class: started before the
 * first test, stopped after the last. Every PostgreSQL integration test needs the same set-up, so
 * it lives here once. A test that stops the server (an outage test) gets it back before the next
 * test. The server is a static field, one at a time: test classes run one after another (the build
 * configures no parallel execution).
 */
public abstract class WithPostgres {
  private static final AtomicInteger DATABASES = new AtomicInteger();

  protected static Postgres pg;

  @BeforeAll
  static void startPostgres() throws Exception {
    pg = Postgres.start();
  }

  @AfterAll
  static void stopPostgres() throws Exception {
    pg.close();
  }

  /** Runs after the subclass's own {@code @AfterEach} methods, so its clients are closed first. */
  @AfterEach
  void restartPostgresIfStopped() throws Exception {
    if (!pg.listening()) {
      pg.restart();
    }
  }

  /** A database name not used before on this server: {@code prefix} and a number. */
  protected static String newDatabaseName(String prefix) {
    return prefix + DATABASES.incrementAndGet();
  }
}
