package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Coverage-guided fuzzing of what ncro does with an upstream's realisation bytes:
 * {@link Realisation#parse}, then {@link Realisation#fingerprint} and {@link Realisation#isSignedByAny}.
 * Properties: {@code parse} throws {@link NarInfoException} and nothing else; what it accepts has an
 * {@code outPath}; the fingerprint is itself a realisation that parses to the same fingerprint (the
 * re-serialisation is stable) and holds no {@code signatures}; verification never throws. The key is
 * the one that signed the Nix 2.8 seed, so mutated signatures by that name reach ed25519.
 *
 * <p>Seeds: {@code src/test/resources/dev/ncro/narinfo/RealisationFuzzTestInputs/parseVerify/}.
 */
class RealisationFuzzTest {
  private static final List<NixPublicKey> KEYS =
      List.of(NixPublicKey.parse("i20-test-1:/upWvOIq4vCFE9furmMHu6eAW5TwSCLOAUn2fXhLrug="));

  @FuzzTest(maxDuration = "15s")
  void parseVerify(byte[] data) {
    Realisation r;
    try {
      r = Realisation.parse(data);
    } catch (NarInfoException e) {
      assertThat(e.getMessage()).isNotBlank();
      return;
    }
    assertThat(r.outPath()).isNotNull();
    String fp = r.fingerprint();
    try {
      Realisation again = Realisation.parse(fp.getBytes(StandardCharsets.UTF_8));
      assertThat(again.fingerprint()).isEqualTo(fp);
      assertThat(again.signatures()).isEmpty();
    } catch (NarInfoException e) {
      throw new AssertionError("the fingerprint does not parse: " + fp, e);
    }
    r.isSignedByAny(KEYS);
    assertThat(r.isSignedByAny(List.of())).isFalse();
  }
}
