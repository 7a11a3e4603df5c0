package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code server.nar_splice}: off by default, on in the file, and a bad value names the field. */
class NarSpliceConfigTest {
  @Test
  void offByDefault() throws Exception {
    assertThat(ConfigLoader.load((Path) null, Map.of()).server().narSplice()).isFalse();
  }

  @Test
  void onInTheFile() throws Exception {
    Config c = YamlConfigs.load("""
        server:
          nar_splice: true
        """);
    assertThat(c.server().narSplice()).isTrue();
    assertThat(c.server().withNarSplice(false).narSplice()).isFalse();
  }

  @Test
  void aBadValueNamesTheField() {
    assertThat(YamlConfigs.problems("""
        server:
          nar_splice: "sometimes"
        """))
        .singleElement()
        .satisfies(p -> assertThat(p).startsWith("server.nar_splice: expected true or false"));
  }
}
