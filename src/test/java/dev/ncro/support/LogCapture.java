package dev.ncro.support;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * Captures every log event of an in-process ncro (root logger, all levels the config lets through)
 * as the full text an appender could write: message, key-value pairs and exception messages.
 * Tests count state-change lines and scan for secrets in it.
 */
public final class LogCapture implements AutoCloseable {
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  private final Logger ncro = (Logger) LoggerFactory.getLogger("dev.ncro");
  private final Level ncroLevelBefore = ncro.getLevel();

  public LogCapture() {
    appender.setContext(root.getLoggerContext());
    appender.start();
    root.addAppender(appender);
    // At least INFO, whatever another test in this JVM left (Main.run applies a config's level):
    // what ncro logs at its default level is what these tests count.
    if (!ncro.isInfoEnabled()) {
      ncro.setLevel(Level.INFO);
    }
  }

  /** One line per event: {@code LEVEL logger message key=value ... | exception messages}. */
  public List<String> lines() {
    List<String> out = new ArrayList<>();
    synchronized (appender.list) {
      for (ILoggingEvent e : List.copyOf(appender.list)) {
        StringBuilder sb = new StringBuilder()
            .append(e.getLevel())
            .append(' ')
            .append(e.getLoggerName())
            .append(' ')
            .append(e.getFormattedMessage());
        if (e.getKeyValuePairs() != null) {
          e.getKeyValuePairs()
              .forEach(kv -> sb.append(' ').append(kv.key).append('=').append(kv.value));
        }
        for (IThrowableProxy t = e.getThrowableProxy(); t != null; t = t.getCause()) {
          sb.append(" | ").append(t.getClassName()).append(": ").append(t.getMessage());
        }
        out.add(sb.toString());
      }
    }
    return out;
  }

  @Override
  public void close() {
    root.detachAppender(appender);
    appender.stop();
    ncro.setLevel(ncroLevelBefore);
  }
}
