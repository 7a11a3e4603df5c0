package dev.ncro.crypto;

import java.util.Arrays;
import java.util.Base64;
import org.bouncycastle.math.ec.rfc8032.Ed25519;

/**
 * A raw 32-byte RFC 8032 ed25519 public key, decoded once, that verifies signatures. Every narinfo
 * miss verifies one signature on its critical path, and every gossip packet one more, so this is
 * the hot crypto of ncro.
 *
 * <p>Why not the JDK's {@code Signature("Ed25519")}, which does the job without a library: it is
 * slow. Measured on the benchmark machine (Temurin 25, 3 000 verifications of a narinfo
 * fingerprint, warm): JDK 610 µs per verify, BouncyCastle's constant-time RFC 8032 code 80 µs, or
 * 72 µs with the key's point decoded once as here. At 16 concurrent misses on 2 cores the JDK's
 * cost alone was 5 ms of added latency (docs/benchmarks.md §2). The tests keep the JDK as the
 * reference implementation and check both agree.
 *
 * <p>Immutable and thread-safe.
 */
public final class Ed25519PublicKey {
  /** Length of a raw ed25519 public key. */
  public static final int BYTES = 32;
  /** Length of an ed25519 signature. */
  public static final int SIGNATURE_BYTES = 64;

  private final byte[] raw;
  private final Ed25519.PublicPoint point;

  private Ed25519PublicKey(byte[] raw, Ed25519.PublicPoint point) {
    this.raw = raw;
    this.point = point;
  }

  /**
   * Decodes a raw key; throws {@link IllegalArgumentException} when it is not 32 bytes or not a
   * point of the curve (no valid signature could ever be made for it).
   */
  public static Ed25519PublicKey of(byte[] raw) {
    if (raw == null || raw.length != BYTES) {
      throw new IllegalArgumentException("an ed25519 public key is " + BYTES + " bytes, got "
          + (raw == null ? "none" : raw.length));
    }
    Ed25519.PublicPoint point = Ed25519.validatePublicKeyFullExport(raw, 0);
    if (point == null) {
      throw new IllegalArgumentException(
          "not an ed25519 public key (not a point of the curve's prime-order group)");
    }
    return new Ed25519PublicKey(raw.clone(), point);
  }

  /** True when {@code signature} is a valid ed25519 signature of {@code message} by this key; never throws. */
  public boolean verify(byte[] message, byte[] signature) {
    if (message == null || signature == null || signature.length != SIGNATURE_BYTES) {
      return false;
    }
    return Ed25519.verify(signature, 0, point, message, 0, message.length);
  }

  /**
   * True when {@code signature64} is a valid signature of {@code message} by the raw key
   * {@code publicKey32}, decoded for this one check (for keys that arrive with the message, as in
   * gossip). Malformed input of any kind is simply "not valid": this never throws.
   */
  public static boolean verify(byte[] publicKey32, byte[] message, byte[] signature64) {
    if (publicKey32 == null
        || publicKey32.length != BYTES
        || message == null
        || signature64 == null
        || signature64.length != SIGNATURE_BYTES) {
      return false;
    }
    return Ed25519.verify(signature64, 0, publicKey32, 0, message, 0, message.length);
  }

  /** The raw key, a copy. */
  public byte[] raw() {
    return raw.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Ed25519PublicKey other && Arrays.equals(raw, other.raw);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(raw);
  }

  @Override
  public String toString() {
    return "Ed25519PublicKey[" + Base64.getEncoder().encodeToString(raw) + "]";
  }
}
