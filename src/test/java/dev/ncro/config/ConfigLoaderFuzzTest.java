package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * Coverage-guided fuzzing of {@link ConfigLoader#load(String, String, Map)}: the YAML file merged
 * over the embedded default, then the {@code NCRO_*} environment variables, then validation. The
 * property: a {@link Config} that satisfies what the binder promises, or a {@link ConfigException}
 * whose every problem is a non-blank line of bounded length; nothing else escapes (no
 * RuntimeException, no StackOverflowError from deep nesting, no OutOfMemoryError from alias bombs).
 *
 * <p>The input is the file's text; when it contains a line {@code #ncro-env} (a YAML comment), the
 * lines after it are {@code NAME=value} environment variables. Without {@code JAZZER_FUZZ} this runs
 * once per seed in {@code src/test/resources/dev/ncro/config/ConfigLoaderFuzzTestInputs/load/} (the
 * embedded default, the README's examples, anchors, flow style, errors) plus the empty input; with
 * {@code JAZZER_FUZZ=1} it fuzzes for {@code maxDuration}.
 */
class ConfigLoaderFuzzTest {
  private static final String ENV_MARKER = "\n#ncro-env\n";

  @FuzzTest(maxDuration = "20s")
  void load(byte[] data) {
    String input = new String(data, StandardCharsets.UTF_8);
    String yaml = input;
    Map<String, String> env = new HashMap<>();
    int marker = input.indexOf(ENV_MARKER);
    if (marker >= 0) {
      yaml = input.substring(0, marker + 1);
      for (String line : input.substring(marker + ENV_MARKER.length()).split("\n")) {
        int eq = line.indexOf('=');
        if (eq > 0) {
          env.put(line.substring(0, eq), line.substring(eq + 1));
        }
      }
    }
    Config config;
    try {
      config = ConfigLoader.load(yaml, "fuzz.yaml", env);
    } catch (ConfigException e) {
      assertThat(e.problems())
          .isNotEmpty()
          .allSatisfy(p -> assertThat(p).isNotBlank().hasSizeLessThan(2 * input.length() + 1000));
      return;
    }
    assertThat(config.upstreams()).isNotEmpty().allSatisfy(u -> {
      assertThat(u.url().getScheme()).isIn("http", "https", "s3");
      if (u.s3() == null) {
        assertThat(u.url().getHost()).isNotEmpty();
      } else {
        assertThat(u.s3().canonical()).isEqualTo(u.url());
        assertThat(u.s3().httpBase().getScheme()).isIn("http", "https");
      }
      assertThat(u.priority()).isNotNegative();
    });
    assertThat(config.cache().maxEntries()).isPositive();
    assertThat(config.cache().latencyAlpha()).isStrictlyBetween(0.0, 1.0);
    assertThat(config.cache().ttl()).isPositive();
    assertThat(config.timeouts().stall()).isPositive();
    assertThat(config.server().listen().port()).isBetween(0, 65535);
    assertThat(config.logging().level()).isIn("debug", "info", "warn", "error");
  }
}
