package dev.ncro.cli;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.core.spi.ContextAwareBase;
import dev.ncro.config.LoggingConfig;

/**
 * Logback's start-up configuration (text, info, stderr) until the configured
 * {@code logging.level} and {@code logging.format} take over in {@link LogSetup}. Found by
 * Logback through {@code META-INF/services}; it replaces a {@code logback.xml}, whose XML
 * parsing (Joran and {@code java.xml}, about 490 classes) cost 0.5 s of every start.
 */
public final class StartupLogConfigurator extends ContextAwareBase implements Configurator {
  @Override
  public ExecutionStatus configure(LoggerContext context) {
    LogSetup.configure(context, new LoggingConfig("info", "text"));
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }
}
