package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Base64;
import org.junit.jupiter.api.Test;

/** The text form of a Nix signing key, and that its errors name the key and say what is wrong. */
class NixPublicKeyTest {
  @Test
  void parsesNameAndKey() {
    NixPublicKey key =
        NixPublicKey.parse("ncro-test-1:WTU8CoLrh+5CO2/ZbvIZ5EFxvRrORFf27w4TRi9BKqs=");
    assertThat(key.name()).isEqualTo("ncro-test-1");
    assertThat(key.key().raw())
        .isEqualTo(Base64.getDecoder().decode("WTU8CoLrh+5CO2/ZbvIZ5EFxvRrORFf27w4TRi9BKqs="));
  }

  @Test
  void aKeyThatIsNotACurvePointIsRefusedByName() {
    byte[] identity = new byte[32]; // y = 1: the identity point, order 1
    identity[0] = 1;
    assertThatThrownBy(
            () -> NixPublicKey.parse("k:" + Base64.getEncoder().encodeToString(identity)))
        .hasMessage(
            "key of \"k\" is not an ed25519 public key (not a point of the curve's prime-order group)");
    assertThatThrownBy(
            () -> NixPublicKey.parse("k:" + Base64.getEncoder().encodeToString(new byte[31])))
        .hasMessage("key of \"k\" is 31 bytes, expected 32");
    assertThatThrownBy(() -> NixPublicKey.parse("no-colon"))
        .hasMessageContaining("expected name:base64");
  }
}
