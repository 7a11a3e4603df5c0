package dev.ncro.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.LoggingConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.ServiceLoader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** logging.format and logging.level, observed on what Logback actually writes to stderr. */
class LogSetupTest {
  private final PrintStream realErr = System.err;
  private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

  @AfterEach
  void restore() {
    System.setErr(realErr);
    LogSetup.apply(new LoggingConfig("info", "text"));
  }

  private List<String> logWith(String level, String format) {
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    LogSetup.apply(new LoggingConfig(level, format));
    Logger log = LoggerFactory.getLogger("dev.ncro.test");
    log.atInfo()
        .setMessage("race won")
        .addKeyValue("hash", "abc")
        .addKeyValue("upstream", "https://cache.nixos.org")
        .addKeyValue("latency_ms", 41)
        .log();
    log.debug("a debug line");
    System.err.flush();
    return captured.toString(StandardCharsets.UTF_8).lines().toList();
  }

  @Test
  void jsonIsOneObjectPerLineWithStructuredFields() throws Exception {
    List<String> lines = logWith("info", "json");
    assertThat(lines).hasSize(1);
    JsonNode j = new ObjectMapper().readTree(lines.get(0));
    assertThat(j.get("level").asText()).isEqualTo("INFO");
    assertThat(j.get("loggerName").asText()).isEqualTo("dev.ncro.test");
    assertThat(j.get("message").asText()).isEqualTo("race won");
    assertThat(j.get("timestamp").asLong()).isPositive();
    assertThat(j.get("kvpList").toString())
        .contains(
            "\"hash\":\"abc\"",
            "\"upstream\":\"https://cache.nixos.org\"",
            "\"latency_ms\":\"41\"");
  }

  @Test
  void textIsHumanReadableAndDebugAppearsOnlyAtDebug() {
    List<String> lines = logWith("debug", "text");
    assertThat(lines).hasSize(2);
    assertThat(lines.get(0)).contains("INFO", "race won", "hash=\"abc\"", "latency_ms=\"41\"");
    assertThat(lines.get(1)).contains("DEBUG", "a debug line");
  }

  @Test
  void startUpLoggingIsConfiguredWithoutXmlByTheServiceLoadedConfigurator() {
    assertThat(ServiceLoader.load(Configurator.class).stream().map(p -> p.type().getName()))
        .containsExactly(StartupLogConfigurator.class.getName());
    assertThat(getClass().getResource("/logback.xml")).isNull();
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    assertThat(new StartupLogConfigurator().configure(context))
        .isEqualTo(Configurator.ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY);
    Logger log = LoggerFactory.getLogger("dev.ncro.test");
    log.info("starting");
    log.debug("not at start-up");
    System.err.flush();
    assertThat(captured.toString(StandardCharsets.UTF_8).lines().toList())
        .singleElement()
        .asString()
        .contains("INFO", "test", "starting");
  }
}
