package dev.ncro.support;

import java.util.ArrayDeque;
import java.util.Deque;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What a test opened (upstreams, ncro instances, relays), closed in reverse order. Registered on a
 * test class as {@code @RegisterExtension final Closer open = new Closer();}, it closes after each
 * test, after the class's own {@code @AfterEach} methods (JUnit runs those first), so such a
 * method can still use what is open, for example to scan ncro's log and status for secrets.
 */
public final class Closer implements AutoCloseable, AfterEachCallback {
  private final Deque<AutoCloseable> open = new ArrayDeque<>();

  /** Closes {@code c} with the rest; returns it. */
  public <T extends AutoCloseable> T keep(T c) {
    open.push(c);
    return c;
  }

  /** Forgets {@code c} (the test closed it itself). */
  public void remove(AutoCloseable c) {
    open.remove(c);
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    close();
  }

  /** Closes everything, the last kept first; throws the first failure, the others suppressed. */
  @Override
  public void close() throws Exception {
    Exception first = null;
    while (!open.isEmpty()) {
      try {
        open.pop().close();
      } catch (Exception e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
