package dev.ncro.crypto;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Objects;
import org.bouncycastle.math.ec.rfc8032.Ed25519;

/**
 * An ed25519 signing key held as its 32-byte RFC 8032 seed, with the public key derived from it
 * once. It signs a mesh node's gossip packets.
 *
 * <p>Why BouncyCastle's RFC 8032 code and not the JDK's {@code Ed25519}: the JDK can sign from a
 * seed ({@code EdECPrivateKeySpec}) but has no public way to derive the public key from one; the
 * only route was to feed the seed to its key-pair generator through a fake {@code SecureRandom},
 * which silently depends on the generator drawing exactly 32 bytes. BouncyCastle takes the seed
 * directly, and is already how ncro verifies ({@link Ed25519PublicKey}). Ed25519 is
 * deterministic, so both make the same signature; the tests check that they do.
 *
 * <p>Immutable and thread-safe. {@link #toString} shows only the public key.
 */
public final class Ed25519PrivateKey {
  /** Length of the seed, the secret from which the whole key pair follows. */
  public static final int SEED_BYTES = Ed25519.SECRET_KEY_SIZE;

  private final byte[] seed;
  private final byte[] publicKey;

  private Ed25519PrivateKey(byte[] seed) {
    this.seed = seed;
    this.publicKey = new byte[Ed25519PublicKey.BYTES];
    Ed25519.generatePublicKey(seed, 0, publicKey, 0);
  }

  /**
   * The key whose RFC 8032 seed is {@code seed} (what Go calls {@code ed25519.NewKeyFromSeed}).
   * Deterministic; {@code seed} is copied, so the caller may wipe its array.
   */
  public static Ed25519PrivateKey fromSeed(byte[] seed) {
    Objects.requireNonNull(seed, "seed");
    if (seed.length != SEED_BYTES) {
      throw new IllegalArgumentException(
          "an ed25519 seed is " + SEED_BYTES + " bytes, got " + seed.length);
    }
    return new Ed25519PrivateKey(seed.clone());
  }

  /** A fresh key from a {@link SecureRandom} seed. */
  public static Ed25519PrivateKey generate() {
    byte[] seed = new byte[SEED_BYTES];
    new SecureRandom().nextBytes(seed);
    return new Ed25519PrivateKey(seed);
  }

  /** The raw 32-byte public key (a copy). */
  public byte[] publicKey() {
    return publicKey.clone();
  }

  /** The seed (a copy): the secret, for writing a key file. The caller wipes it after use. */
  public byte[] seed() {
    return seed.clone();
  }

  /** The 64-byte ed25519 signature of {@code message}. */
  public byte[] sign(byte[] message) {
    Objects.requireNonNull(message, "message");
    byte[] signature = new byte[Ed25519PublicKey.SIGNATURE_BYTES];
    // The variant that takes the public key skips deriving it again (a scalar multiplication).
    Ed25519.sign(seed, 0, publicKey, 0, message, 0, message.length, signature, 0);
    return signature;
  }

  @Override
  public String toString() {
    return "Ed25519PrivateKey[public=" + HexFormat.of().formatHex(publicKey) + "]";
  }
}
