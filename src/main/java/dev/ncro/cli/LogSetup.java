package dev.ncro.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.encoder.Encoder;
import dev.ncro.config.LoggingConfig;
import org.slf4j.LoggerFactory;

/**
 * Applies {@code logging.level} and {@code logging.format} to Logback, replacing the start-up
 * configuration ({@link StartupLogConfigurator}). Logs go to stderr so stdout stays free for command
 * output ({@code --check}, {@code --version}).
 */
public final class LogSetup {
  private LogSetup() {}

  public static void apply(LoggingConfig config) {
    configure((LoggerContext) LoggerFactory.getILoggerFactory(), config);
  }

  /** Sets {@code ctx} up for {@code config}: one stderr appender on the root logger. */
  static void configure(LoggerContext ctx, LoggingConfig config) {
    Logger root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    root.detachAndStopAllAppenders();

    Encoder<ILoggingEvent> encoder;
    if ("json".equals(config.format())) {
      JsonEncoder json = new JsonEncoder();
      json.setWithSequenceNumber(false);
      json.setWithNanoseconds(false);
      json.setWithContext(false);
      json.setWithThreadName(false);
      json.setWithArguments(false);
      json.setWithKVPList(true); // structured fields: upstream, hash, latency_ms, route, ...
      json.setWithFormattedMessage(false);
      json.setWithMessage(true);
      encoder = json;
    } else {
      PatternLayoutEncoder text = new PatternLayoutEncoder();
      text.setPattern("%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level %logger{0} %msg %kvp%n");
      encoder = text;
    }
    encoder.setContext(ctx);
    encoder.start();

    ConsoleAppender<ILoggingEvent> out = new ConsoleAppender<>();
    out.setContext(ctx);
    out.setName("console");
    out.setTarget("System.err");
    out.setEncoder(encoder);
    out.start();

    root.addAppender(out);
    Level level = Level.toLevel(config.level(), Level.INFO);
    root.setLevel(level);
    // HikariCP (the PostgreSQL route store's pool) warns, with a stack trace, for every pooled
    // connection a database restart broke; the store reports the outage itself, one line per state
    // change (PostgresRouteBackend). Its own lines only when debugging.
    ctx.getLogger("com.zaxxer.hikari")
        .setLevel(level.isGreaterOrEqual(Level.INFO) ? Level.ERROR : level);
    // Netty and the SQLite driver are chatty at debug; keep them at info unless asked for more.
    ctx.getLogger("io.netty").setLevel(Level.INFO);
  }
}
