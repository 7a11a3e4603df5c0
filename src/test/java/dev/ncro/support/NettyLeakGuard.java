package dev.ncro.support;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.LoggerFactory;

/**
 * Fails a test class after which Netty reports a leak: a buffer (or another reference-counted
 * object) that became garbage without its last {@code release()}. Who releases a buffer is the
 * ownership rule every handler of ncro's keeps; a path that forgets it (an error branch, a
 * cancelled transfer) slowly eats the direct memory of a long-running node and nothing else shows it.
 *
 * <p>The tests run with {@code -Dio.netty.leakDetection.level=paranoid} (the pom), so Netty tracks
 * every buffer; but it reports a leak only once the buffer has been collected and a later
 * allocation looks at its queue, which a short test class may never reach. So after each class this
 * guard collects garbage, waits until the collector has handed its cleared references over (a
 * canary reference of its own arriving in its queue), allocates a few buffers to make Netty drain
 * its queue, and fails with every report Netty logged meanwhile ({@code LEAK: ...}, with the access
 * records that say where the buffer went).
 *
 * <p>Registered for every test class through JUnit's extension auto-detection (the pom turns it
 * on; {@code META-INF/services/org.junit.jupiter.api.extension.Extension} names this class), so a
 * new test is guarded without remembering to be.
 */
public final class NettyLeakGuard implements BeforeAllCallback, AfterAllCallback {
  private static final String DETECTOR = "io.netty.util.ResourceLeakDetector";
  private static final ListAppender<ILoggingEvent> REPORTS = install();
  private static final ExtensionContext.Namespace NS =
      ExtensionContext.Namespace.create(NettyLeakGuard.class);

  private static ListAppender<ILoggingEvent> install() {
    // Its own logger: LogSetup replaces the root logger's appenders, not this one's.
    Logger logger = (Logger) LoggerFactory.getLogger(DETECTOR);
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.setContext(logger.getLoggerContext());
    appender.start();
    logger.addAppender(appender);
    return appender;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    context.getStore(NS).put("from", reportCount());
  }

  @Override
  public void afterAll(ExtensionContext context) throws InterruptedException {
    int from = context.getStore(NS).getOrDefault("from", Integer.class, 0);
    flush();
    List<String> leaks = takeReportsSince(from);
    if (!leaks.isEmpty()) {
      throw new AssertionError("Netty reported " + leaks.size() + " leak(s) after "
          + context.getDisplayName() + ":\n" + String.join("\n\n", leaks));
    }
  }

  /** Makes Netty report what has leaked so far: collect, wait for the queues, allocate. */
  static void flush() throws InterruptedException {
    for (int round = 0; round < 2; round++) {
      ReferenceQueue<Object> queue = new ReferenceQueue<>();
      WeakReference<Object> canary = new WeakReference<>(new Object(), queue);
      System.gc();
      if (queue.remove(10_000) == null) {
        throw new AssertionError("the garbage collector did not clear a weak reference in 10 s");
      }
      canary.clear();
      for (int i = 0; i < 4; i++) {
        PooledByteBufAllocator.DEFAULT.directBuffer(16).release(); // tracked: a leak check
        UnpooledByteBufAllocator.DEFAULT.directBuffer(16).release();
      }
    }
  }

  static int reportCount() {
    synchronized (REPORTS.list) {
      return REPORTS.list.size();
    }
  }

  /** Netty's leak reports logged since the {@code from}-th event, which are then forgotten. */
  static List<String> takeReportsSince(int from) {
    List<String> out = new ArrayList<>();
    synchronized (REPORTS.list) {
      List<ILoggingEvent> since = REPORTS.list.subList(from, REPORTS.list.size());
      for (ILoggingEvent e : since) {
        if (e.getLevel().isGreaterOrEqual(Level.ERROR)) {
          out.add(e.getFormattedMessage());
        }
      }
      since.clear();
    }
    return out;
  }
}
