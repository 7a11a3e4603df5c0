package dev.ncro.fleet;

import dev.ncro.support.Closer;
import dev.ncro.support.WithPostgres;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * Base of the fleet tests: on the class's {@link dev.ncro.support.Postgres}, a new
 * {@link PostgresFleet} (its own database and owner role) for each test, and what the test opened
 * (nodes, upstreams, log captures) closed after it. The fleet tests all set this up the same way.
 */
abstract class WithPostgresFleet extends WithPostgres {
  @TempDir
  Path dir;

  final Closer open = new Closer();
  PostgresFleet fleet;

  @BeforeEach
  void newFleet() throws Exception {
    fleet = new PostgresFleet(pg, newDatabaseName("fleet"), dir, open);
  }

  /**
   * Closes the nodes here, not as a registered extension: extensions run after every
   * {@code @AfterEach}, and the nodes must go before {@link WithPostgres} restarts a stopped server.
   */
  @AfterEach
  void closeAll() throws Exception {
    open.close();
  }
}
