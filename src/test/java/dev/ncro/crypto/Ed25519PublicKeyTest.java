package dev.ncro.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.TestKey;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.SignatureException;
import java.util.Arrays;
import java.util.Base64;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * ncro verifies with BouncyCastle for speed; the JDK's Ed25519 is the reference: every signature
 * it makes must verify, and every tampered one must fail, in both.
 */
class Ed25519PublicKeyTest {
  private static final SplittableRandom RANDOM = new SplittableRandom(42);
  /** The public half of the test suite's narinfo signing key ncro-test-1. */
  private static final String TEST_KEY = "WTU8CoLrh+5CO2/ZbvIZ5EFxvRrORFf27w4TRi9BKqs=";

  @Test
  void agreesWithTheJdkOnGenuineAndTamperedSignatures() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("Ed25519");
    for (int k = 0; k < 20; k++) {
      KeyPair pair = generator.generateKeyPair();
      byte[] raw = TestKey.raw(pair.getPublic());
      Ed25519PublicKey key = Ed25519PublicKey.of(raw);
      byte[] message = new byte[RANDOM.nextInt(0, 400)];
      RANDOM.nextBytes(message);
      Signature signer = Signature.getInstance("Ed25519");
      signer.initSign(pair.getPrivate());
      signer.update(message);
      byte[] signature = signer.sign();

      assertThat(key.verify(message, signature)).isTrue();
      assertThat(Ed25519PublicKey.verify(raw, message, signature)).isTrue();
      assertThat(jdkVerify(pair, message, signature)).isTrue();

      byte[] badSignature = signature.clone();
      badSignature[RANDOM.nextInt(64)] ^= (byte) (1 << RANDOM.nextInt(8));
      assertThat(key.verify(message, badSignature))
          .isEqualTo(jdkVerify(pair, message, badSignature))
          .isFalse();

      if (message.length > 0) {
        byte[] badMessage = message.clone();
        badMessage[RANDOM.nextInt(message.length)] ^= 1;
        assertThat(key.verify(badMessage, signature))
            .isEqualTo(jdkVerify(pair, badMessage, signature))
            .isFalse();
      }
      byte[] longer = Arrays.copyOf(message, message.length + 1);
      assertThat(key.verify(longer, signature)).isFalse();
    }
  }

  @Test
  void malformedInputIsNotValidAndNeverThrows() {
    byte[] raw = Base64.getDecoder().decode(TEST_KEY);
    Ed25519PublicKey key = Ed25519PublicKey.of(raw);
    assertThat(key.verify(new byte[1], new byte[63])).isFalse();
    assertThat(key.verify(new byte[1], new byte[65])).isFalse();
    assertThat(key.verify(null, new byte[64])).isFalse();
    assertThat(key.verify(new byte[1], new byte[64])).isFalse();
    byte[] allOnes = new byte[64];
    Arrays.fill(allOnes, (byte) 0xff); // S far above the group order
    assertThat(key.verify(new byte[1], allOnes)).isFalse();
    assertThat(Ed25519PublicKey.verify(new byte[31], new byte[1], new byte[64])).isFalse();
    assertThat(Ed25519PublicKey.verify(null, new byte[1], new byte[64])).isFalse();
  }

  @Test
  void rejectsKeysThatAreNotUsableEd25519Keys() {
    assertThatThrownBy(() -> Ed25519PublicKey.of(new byte[31]))
        .hasMessageContaining("32 bytes, got 31");
    // y = 1: the identity, a point of order 1: no signature by it means anything.
    byte[] identity = new byte[32];
    identity[0] = 1;
    assertThatThrownBy(() -> Ed25519PublicKey.of(identity))
        .hasMessageContaining("not an ed25519 public key");
    // y = 2 is not on the curve.
    byte[] offCurve = new byte[32];
    offCurve[0] = 2;
    assertThatThrownBy(() -> Ed25519PublicKey.of(offCurve))
        .hasMessageContaining("not an ed25519 public key");
  }

  @Test
  void equalKeysAreEqualAndTheRawBytesAreCopied() {
    byte[] raw = Base64.getDecoder().decode(TEST_KEY);
    Ed25519PublicKey a = Ed25519PublicKey.of(raw);
    assertThat(Ed25519PublicKey.of(raw.clone())).isEqualTo(a).hasSameHashCodeAs(a);
    byte[] out = a.raw();
    out[0] ^= 1;
    assertThat(a.raw()).isEqualTo(raw);
    raw[1] ^= 1;
    assertThat(a.raw()).isNotEqualTo(raw);
  }

  private static boolean jdkVerify(KeyPair pair, byte[] message, byte[] signature)
      throws Exception {
    Signature verifier = Signature.getInstance("Ed25519");
    verifier.initVerify(pair.getPublic());
    verifier.update(message);
    try {
      return verifier.verify(signature);
    } catch (SignatureException e) { // the JDK throws when R is not a curve point
      return false;
    }
  }
}
