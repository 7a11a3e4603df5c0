package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code cache.nar_hedge_delay} and {@code cache.nar_hedge_max}: defaults, "0" for off, problems named. */
class NarHedgeConfigTest {
  @Test
  void defaultsToOneSecondAndTwoAttempts() throws Exception {
    CacheConfig c = ConfigLoader.load((Path) null, Map.of()).cache();
    assertThat(c.narHedgeDelay())
        .isEqualTo(Duration.ofSeconds(1))
        .isEqualTo(CacheConfig.DEFAULT_NAR_HEDGE_DELAY);
    assertThat(c.narHedgeMax()).isEqualTo(2).isEqualTo(CacheConfig.DEFAULT_NAR_HEDGE_MAX);
    assertThat(c.hedgesNars()).isTrue();
  }

  @Test
  void zeroTurnsHedgingOff() throws Exception {
    CacheConfig c = YamlConfigs.load("cache:\n  nar_hedge_delay: '0'\n").cache();
    assertThat(c.narHedgeDelay()).isZero();
    assertThat(c.hedgesNars()).isFalse();
  }

  @Test
  void setsBoth() throws Exception {
    CacheConfig c = YamlConfigs.load("cache:\n  nar_hedge_delay: 250ms\n  nar_hedge_max: 3\n")
        .cache();
    assertThat(c.narHedgeDelay()).isEqualTo(Duration.ofMillis(250));
    assertThat(c.narHedgeMax()).isEqualTo(3);
  }

  @Test
  void theOldConstructorFillsTheDefaults() {
    CacheConfig c = new CacheConfig(
        Path.of("r.db"),
        10,
        Duration.ofHours(1),
        Duration.ofMinutes(1),
        0.3,
        Duration.ofSeconds(30));
    assertThat(c.narHedgeDelay()).isEqualTo(CacheConfig.DEFAULT_NAR_HEDGE_DELAY);
    assertThat(c.narHedgeMax()).isEqualTo(CacheConfig.DEFAULT_NAR_HEDGE_MAX);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "negative delay      | cache:\\n  nar_hedge_delay: -1s                  | cache.nar_hedge_delay: invalid duration \"-1s\"",
        "delay as number     | cache:\\n  nar_hedge_delay: 1                    | cache.nar_hedge_delay: expected a duration",
        "unparsable delay    | cache:\\n  nar_hedge_delay: soon                 | cache.nar_hedge_delay: invalid duration",
        "delay not below the first-byte timeout | cache:\\n  nar_hedge_delay: 10s | cache.nar_hedge_delay: must be shorter than timeouts.first_byte (10000 ms)",
        "max of one          | cache:\\n  nar_hedge_max: 1                      | cache.nar_hedge_max: 1 is out of range 2..8",
        "max too high        | cache:\\n  nar_hedge_max: 100                    | cache.nar_hedge_max: 100 is out of range 2..8",
        "max as text         | cache:\\n  nar_hedge_max: two                    | cache.nar_hedge_max: expected an integer",
      })
  void problemsNameTheField(String name, String yaml, String expected) {
    assertThat(YamlConfigs.problems(yaml.replace("\\n", "\n")))
        .anySatisfy(p -> assertThat(p).startsWith(expected));
  }
}
