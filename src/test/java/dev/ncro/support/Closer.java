package dev.ncro.support;

import java.util.ArrayDeque;
import java.util.Deque;

/** What a test opened (upstreams, ncro instances, relays), closed in reverse order. */
public final class Closer implements AutoCloseable {
  private final Deque<AutoCloseable> open = new ArrayDeque<>();

  public <T extends AutoCloseable> T add(T c) {
    open.push(c);
    return c;
  }

  /** Forgets {@code c} (the test closed it itself). */
  public void remove(AutoCloseable c) {
    open.remove(c);
  }

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
