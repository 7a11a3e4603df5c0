package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.TestKey;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class RealisationTest {
  /**
   * Written by Nix 2.8: {@code nix-build} of a {@code __contentAddressed} derivation with
   * {@code secret-key-files} set (which signs the realisation), then {@code nix copy --to file://...}.
   */
  private static final String NIX_KEY = "i20-test-1:/upWvOIq4vCFE9furmMHu6eAW5TwSCLOAUn2fXhLrug=";

  private static final String NIX_ID =
      "sha256:ff89706d4f63a4f9ee7b2dfdc357771749274b97d9139035065042dd3c809fca!out";

  static byte[] nixSigned() throws Exception {
    try (InputStream in =
        RealisationTest.class.getResourceAsStream("nix-2.8-signed-realisation.doi")) {
      return in.readAllBytes();
    }
  }

  @Test
  void verifiesARealisationSignedByNix() throws Exception {
    Realisation r = Realisation.parse(nixSigned());
    assertThat(r.id()).isEqualTo(NIX_ID);
    assertThat(r.outPath()).isEqualTo("8lripx2hgwzaz3v8j8kvczjh337wx0y1-i20-ca-i20x-v2");
    assertThat(r.fingerprint())
        .isEqualTo("{\"dependentRealisations\":{},\"id\":\"" + NIX_ID
            + "\",\"outPath\":\"8lripx2hgwzaz3v8j8kvczjh337wx0y1-i20-ca-i20x-v2\"}");
    assertThat(r.isSignedByAny(List.of(NixPublicKey.parse(NIX_KEY)))).isTrue();
  }

  @Test
  void aChangedOutPathOrAnotherKeyDoesNotVerify() throws Exception {
    String forged =
        new String(nixSigned(), StandardCharsets.UTF_8).replace("8lripx2hgw", "9lripx2hgw");
    assertThat(Realisation.parse(forged.getBytes(StandardCharsets.UTF_8))
            .isSignedByAny(List.of(NixPublicKey.parse(NIX_KEY))))
        .isFalse();
    TestKey other = new TestKey("i20-test-1"); // same name, another key
    assertThat(Realisation.parse(nixSigned())
            .isSignedByAny(List.of(NixPublicKey.parse(other.publicKey()))))
        .isFalse();
    assertThat(Realisation.parse(nixSigned()).isSignedByAny(List.of())).isFalse();
  }

  @Test
  void memberOrderAndWhitespaceOfTheBodyDoNotMatterButDependentRealisationsAreSigned()
      throws Exception {
    TestKey key = new TestKey("k-1");
    String fp =
        "{\"dependentRealisations\":{\"sha256:aa!dev\":\"x-y\",\"sha256:ab!out\":\"z-w\"},\"id\":\"sha256:cc!out\",\"outPath\":\"p-q\"}";
    String body = "{ \"signatures\": [\"" + key.sign(fp)
        + "\"], \"outPath\": \"p-q\", \"id\": \"sha256:cc!out\",\n"
        + " \"dependentRealisations\": {\"sha256:ab!out\": \"z-w\", \"sha256:aa!dev\": \"x-y\"} }";
    Realisation r = Realisation.parse(body.getBytes(StandardCharsets.UTF_8));
    assertThat(r.fingerprint()).isEqualTo(fp);
    assertThat(r.isSignedByAny(List.of(NixPublicKey.parse(key.publicKey())))).isTrue();
    String other = body.replace("\"z-w\"", "\"z-v\"");
    assertThat(Realisation.parse(other.getBytes(StandardCharsets.UTF_8))
            .isSignedByAny(List.of(NixPublicKey.parse(key.publicKey()))))
        .isFalse();
  }

  @Test
  void stringsAreEscapedAsNlohmannDumpsThem() throws Exception {
    Realisation r =
        Realisation.parse("{\"outPath\":\"a\\u0001\\n\\\"/é\"}".getBytes(StandardCharsets.UTF_8));
    assertThat(r.fingerprint()).isEqualTo("{\"outPath\":\"a\\u0001\\n\\\"/é\"}");
  }

  @Test
  void aSurrogatePairIsKept() throws Exception {
    Realisation r = Realisation.parse(
        "{\"outPath\":\"a\",\"x\":\"\\ud83d\\ude00\"}".getBytes(StandardCharsets.UTF_8));
    assertThat(r.fingerprint()).contains("\ud83d\ude00");
  }

  @Test
  void rejectsWhatIsNotARealisation() {
    for (String bad : List.of(
        "",
        "[]",
        "{}",
        "{\"outPath\":1}",
        "{\"outPath\":\"a\"} x",
        "{\"outPath\":\"a\",\"signatures\":\"s\"}",
        "{\"outPath\":\"a\",\"n\":1.5}",
        "not json",
        // lone surrogates, as a value and as a key: no UTF-8 form, so nothing Nix could have signed
        "{\"outPath\":\"a\",\"x\":\"\\udddd\"}",
        "{\"outPath\":\"a\",\"\\ud800\":1}")) {
      assertThatThrownBy(() -> Realisation.parse(bad.getBytes(StandardCharsets.UTF_8)))
          .as(bad)
          .isInstanceOf(NarInfoException.class);
    }
  }
}
