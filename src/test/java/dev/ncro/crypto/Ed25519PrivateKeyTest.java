package dev.ncro.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.TestKey;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.interfaces.EdECPrivateKey;
import java.security.spec.EdECPrivateKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * ncro signs with BouncyCastle from a seed; the JDK's Ed25519 is the reference. Ed25519 is
 * deterministic (RFC 8032 section 5.1.6), so for the same seed and message both must produce the
 * very same 64 bytes, and BouncyCastle must derive the public key the JDK generated with the seed.
 */
class Ed25519PrivateKeyTest {
  private static final HexFormat HEX = HexFormat.of();
  private static final SplittableRandom RANDOM = new SplittableRandom(18);

  @Test
  void signsExactlyAsTheJdkDoesFromTheSameSeed() throws Exception {
    KeyFactory factory = KeyFactory.getInstance("Ed25519");
    for (int k = 0; k < 20; k++) {
      byte[] seed = new byte[Ed25519PrivateKey.SEED_BYTES];
      RANDOM.nextBytes(seed);
      Ed25519PrivateKey ours = Ed25519PrivateKey.fromSeed(seed);
      PrivateKey jdk =
          factory.generatePrivate(new EdECPrivateKeySpec(NamedParameterSpec.ED25519, seed));
      for (int length : new int[] {0, 1, 95 + k, 1_000 + 37 * k}) {
        byte[] message = new byte[length];
        RANDOM.nextBytes(message);
        Signature signer = Signature.getInstance("Ed25519");
        signer.initSign(jdk);
        signer.update(message);
        byte[] expected = signer.sign();
        assertThat(ours.sign(message)).isEqualTo(expected);
        assertThat(Ed25519PublicKey.verify(ours.publicKey(), message, expected)).isTrue();
      }
    }
  }

  @Test
  void derivesThePublicKeyTheJdkGeneratesForTheSeed() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("Ed25519");
    for (int k = 0; k < 20; k++) {
      KeyPair pair = generator.generateKeyPair();
      byte[] seed = ((EdECPrivateKey) pair.getPrivate()).getBytes().orElseThrow();
      assertThat(Ed25519PrivateKey.fromSeed(seed).publicKey())
          .isEqualTo(TestKey.raw(pair.getPublic()));
    }
  }

  @Test
  void rfc8032TestVectorOne() {
    Ed25519PrivateKey key = Ed25519PrivateKey.fromSeed(
        HEX.parseHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    assertThat(HEX.formatHex(key.publicKey()))
        .isEqualTo("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    assertThat(HEX.formatHex(key.sign(new byte[0])))
        .isEqualTo("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
            + "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  }

  @Test
  void theSeedIsCopiedInAndOutAndNeverShown() {
    byte[] seed = new byte[32];
    RANDOM.nextBytes(seed);
    Ed25519PrivateKey key = Ed25519PrivateKey.fromSeed(seed);
    byte[] publicKey = key.publicKey();
    byte[] kept = seed.clone();
    seed[0] ^= 1; // the caller wiping its array changes nothing
    assertThat(key.seed()).isEqualTo(kept);
    assertThat(key.publicKey()).isEqualTo(publicKey);
    key.seed()[1] ^= 1;
    key.publicKey()[1] ^= 1;
    assertThat(key.seed()).isEqualTo(kept);
    assertThat(key.publicKey()).isEqualTo(publicKey);
    assertThat(key.toString())
        .contains(HEX.formatHex(publicKey))
        .doesNotContain(HEX.formatHex(kept));
  }

  @Test
  void generatedKeysDifferAndSeedsMustBe32Bytes() {
    assertThat(Ed25519PrivateKey.generate().publicKey())
        .isNotEqualTo(Ed25519PrivateKey.generate().publicKey());
    assertThatThrownBy(() -> Ed25519PrivateKey.fromSeed(new byte[31]))
        .hasMessageContaining("32 bytes, got 31");
    assertThatThrownBy(() -> Ed25519PrivateKey.fromSeed(null))
        .isInstanceOf(NullPointerException.class);
  }
}
