package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code server.nar_splice}: on by default, off in the file, and a bad value names the field. */
class NarSpliceConfigTest {
  @Test
  void onByDefault() throws Exception {
    assertThat(ConfigLoader.load((Path) null, Map.of()).server().narSplice()).isTrue();
  }

  @Test
  void offInTheFile() throws Exception {
    Config c = YamlConfigs.load("""
        server:
          nar_splice: false
        """);
    assertThat(c.server().narSplice()).isFalse();
    assertThat(c.server().withNarSplice(true).narSplice()).isTrue();
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
