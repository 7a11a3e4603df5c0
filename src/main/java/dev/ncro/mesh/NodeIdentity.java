package dev.ncro.mesh;

import dev.ncro.crypto.Ed25519PrivateKey;
import dev.ncro.crypto.Ed25519PublicKey;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A mesh node's ed25519 identity: it signs the node's gossip packets, and its public key is what
 * peers list in their configuration. Signing is {@link Ed25519PrivateKey}'s and verification
 * {@link Ed25519PublicKey}'s (see there why BouncyCastle and not the JDK).
 *
 * <p>On disk it is the original Go ncro's 64-byte key file ({@link NodeKeyFile}): seed then
 * public key. A file whose public half is not its seed's is refused rather than trusted, since
 * peers would then be configured with a key this node cannot sign for.
 *
 * <p>Immutable and thread-safe: {@link #sign} may be called from any thread.
 */
public final class NodeIdentity {
  /** Length of a raw ed25519 public key. */
  public static final int PUBLIC_KEY_BYTES = Ed25519PublicKey.BYTES;
  /** Length of an ed25519 signature. */
  public static final int SIGNATURE_BYTES = Ed25519PublicKey.SIGNATURE_BYTES;
  /** Length of the seed, the secret from which the whole key pair follows. */
  public static final int SEED_BYTES = Ed25519PrivateKey.SEED_BYTES;
  /** Length of the key file: seed then public key. */
  public static final int KEY_FILE_BYTES = NodeKeyFile.BYTES;

  private static final HexFormat HEX = HexFormat.of();

  private final Ed25519PrivateKey key;
  private final byte[] publicKey;
  private final String publicKeyHex;
  private final String nodeId;

  private NodeIdentity(Ed25519PrivateKey key) {
    this.key = key;
    this.publicKey = key.publicKey();
    this.publicKeyHex = HEX.formatHex(publicKey);
    this.nodeId = nodeIdOf(publicKey);
  }

  /**
   * Loads the identity from {@code keyFile}, or creates a new random one there when the file does
   * not exist (parent directories included; mode 0600, see {@link NodeKeyFile}).
   *
   * @throws IOException when the file cannot be read or written, is not 64 bytes, or its public
   *     half does not belong to its seed; the message names the path
   */
  public static NodeIdentity loadOrCreate(Path keyFile) throws IOException {
    byte[] content = NodeKeyFile.readOrCreate(keyFile, NodeIdentity::newKeyFileContent);
    try {
      return fromPrivateKey(content);
    } catch (IllegalArgumentException e) {
      throw new IOException("mesh key file " + keyFile + ": " + e.getMessage(), e);
    } finally {
      Arrays.fill(content, (byte) 0);
    }
  }

  /** A fresh random identity that lives only as long as this process (no key file). */
  public static NodeIdentity ephemeral() {
    return new NodeIdentity(Ed25519PrivateKey.generate());
  }

  /**
   * The identity whose private key is the 32-byte RFC 8032 {@code seed} (what Go calls
   * {@code ed25519.NewKeyFromSeed}). Deterministic: the same seed always gives the same keys.
   */
  public static NodeIdentity fromSeed(byte[] seed) {
    return new NodeIdentity(Ed25519PrivateKey.fromSeed(seed));
  }

  /**
   * The identity held in the 64 bytes of a key file (seed then public key).
   *
   * @throws IllegalArgumentException when it is not 64 bytes or the public half does not match
   *     the seed
   */
  public static NodeIdentity fromPrivateKey(byte[] seedAndPublicKey) {
    Objects.requireNonNull(seedAndPublicKey, "seedAndPublicKey");
    if (seedAndPublicKey.length != KEY_FILE_BYTES) {
      throw new IllegalArgumentException(seedAndPublicKey.length
          + " bytes, expected "
          + KEY_FILE_BYTES
          + " (raw ed25519 private key: 32-byte seed followed by the 32-byte public key)");
    }
    byte[] seed = Arrays.copyOfRange(seedAndPublicKey, 0, SEED_BYTES);
    byte[] storedPublic = Arrays.copyOfRange(seedAndPublicKey, SEED_BYTES, KEY_FILE_BYTES);
    try {
      NodeIdentity identity = fromSeed(seed);
      if (!Arrays.equals(identity.publicKey, storedPublic)) {
        throw new IllegalArgumentException("the public half ("
            + HEX.formatHex(storedPublic)
            + ") is not the public key of the seed ("
            + identity.publicKeyHex
            + "): not an ed25519 private key, or corrupted");
      }
      return identity;
    } finally {
      Arrays.fill(seed, (byte) 0);
    }
  }

  /** The raw 32-byte public key (a copy). */
  public byte[] publicKey() {
    return publicKey.clone();
  }

  /** The public key as 64 lower-case hex characters: what peers put in their configuration. */
  public String publicKeyHex() {
    return publicKeyHex;
  }

  /** The node ID carried in gossip messages: hex of the first 8 bytes of the public key. */
  public String nodeId() {
    return nodeId;
  }

  /** The 64-byte ed25519 signature of {@code message}. */
  public byte[] sign(byte[] message) {
    return key.sign(message);
  }

  /**
   * True when {@code signature64} is a valid ed25519 signature of {@code message} by the raw
   * {@code publicKey32}. Any malformed input (wrong lengths, a public key that is not a curve point)
   * is simply "not valid": this never throws.
   */
  public static boolean verify(byte[] publicKey32, byte[] message, byte[] signature64) {
    return Ed25519PublicKey.verify(publicKey32, message, signature64);
  }

  /** Hex of the first 8 bytes of a raw public key: the original's node ID. */
  static String nodeIdOf(byte[] publicKey32) {
    return HEX.formatHex(publicKey32, 0, 8);
  }

  @Override
  public String toString() {
    return "NodeIdentity[nodeId=" + nodeId + ", publicKey=" + publicKeyHex + "]";
  }

  /** A new random key in the key file's layout: seed then public key. */
  private static byte[] newKeyFileContent() {
    Ed25519PrivateKey fresh = Ed25519PrivateKey.generate();
    byte[] seed = fresh.seed();
    byte[] content = new byte[KEY_FILE_BYTES];
    System.arraycopy(seed, 0, content, 0, SEED_BYTES);
    System.arraycopy(fresh.publicKey(), 0, content, SEED_BYTES, PUBLIC_KEY_BYTES);
    Arrays.fill(seed, (byte) 0);
    return content;
  }
}
