package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The netrc format as curl and Nix read it. */
class NetrcTest {
  @Test
  void machineByHostThenDefault() throws Exception {
    Netrc n = Netrc.parse("""
        # Cachix and Attic tokens, as in Nix's netrc-file
        machine mycache.cachix.org password eyJhbGciOi
        machine attic.example.com
          login ignored
          password "with space \\" quote"
        default login anon password anon-pw
        """);
    assertThat(n.forHost("MyCache.cachix.org")).hasValueSatisfying(e -> {
      assertThat(e.login()).isEmpty();
      assertThat(e.password()).isEqualTo("eyJhbGciOi");
      assertThat(e.line()).isEqualTo(2);
    });
    assertThat(n.forHost("attic.example.com").orElseThrow().password())
        .isEqualTo("with space \" quote");
    assertThat(n.forHost("other.example").orElseThrow().login()).isEqualTo("anon");
  }

  @Test
  void firstMatchingMachineWinsAndMacdefIsSkipped() throws Exception {
    Netrc n = Netrc.parse(
        "machine h login a password one\nmacdef init\nmachine h password x\n\nmachine h password two\n");
    assertThat(n.forHost("h").orElseThrow().password()).isEqualTo("one");
    assertThat(Netrc.parse("machine h login only\n").forHost("h")).isEmpty();
  }

  @Test
  void errorsNameTheLineAndNeverTheSecret() {
    assertThatThrownBy(() -> Netrc.parse("machine h\n  password my secret\n"))
        .isInstanceOf(Netrc.SyntaxException.class)
        .hasMessageStartingWith("line 2: ")
        .hasMessageNotContaining("secret");
    assertThatThrownBy(() -> Netrc.parse("machine h password \"unterminated\n"))
        .hasMessage("line 1: unterminated quoted value");
    assertThatThrownBy(() -> Netrc.parse("default password a\nmachine h password b\n"))
        .hasMessageContaining("line 2")
        .hasMessageContaining("after \"default\"");
    assertThatThrownBy(() -> Netrc.parse("\n\nmachine"))
        .hasMessage("line 3: \"machine\" without a host name");
    assertThatThrownBy(() -> Netrc.parse("machine h password"))
        .hasMessage("line 1: \"password\" without a value");
  }
}
