package dev.ncro.mesh;

import dev.ncro.crypto.Ed25519PublicKey;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.NamedParameterSpec;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A mesh node's ed25519 identity: it signs the node's gossip packets, and its public key is what
 * peers list in their configuration. Signs with the JDK's own {@code Ed25519}; verifies
 * with {@link Ed25519PublicKey}, which is eight times faster (a packet is verified far more often
 * than signed).
 *
 * <p>The key file has the original Go ncro's layout, so a key file can move between the two: the
 * raw 64-byte ed25519 private key of Go's {@code crypto/ed25519}, that is the 32-byte seed followed
 * by the 32-byte public key, with mode 0600.
 *
 * <p>Immutable and thread-safe: {@link #sign} may be called from any thread.
 */
public final class NodeIdentity {
  /** Length of a raw ed25519 public key. */
  public static final int PUBLIC_KEY_BYTES = 32;
  /** Length of an ed25519 signature. */
  public static final int SIGNATURE_BYTES = 64;
  /** Length of the seed, the secret from which the whole key pair follows. */
  public static final int SEED_BYTES = 32;
  /** Length of the key file: seed then public key. */
  public static final int KEY_FILE_BYTES = SEED_BYTES + PUBLIC_KEY_BYTES;

  private static final HexFormat HEX = HexFormat.of();

  private final PrivateKey privateKey;
  private final byte[] publicKey;
  private final String publicKeyHex;
  private final String nodeId;

  private NodeIdentity(PrivateKey privateKey, byte[] publicKey) {
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.publicKeyHex = HEX.formatHex(publicKey);
    this.nodeId = nodeIdOf(publicKey);
  }

  /**
   * Loads the identity from {@code keyFile}, or creates a new random one there when the file does
   * not exist (parent directories included; the file is created with mode 0600 before any key
   * byte is written, so the secret is never readable by others).
   *
   * @throws IOException when the file cannot be read or written, is not 64 bytes, or its public
   *     half does not belong to its seed; the message names the path
   */
  public static NodeIdentity loadOrCreate(Path keyFile) throws IOException {
    Objects.requireNonNull(keyFile, "keyFile");
    try {
      return load(keyFile);
    } catch (NoSuchFileException missing) {
      // fall through: create it
    }
    NodeIdentity created = createKeyFile(keyFile);
    if (created != null) {
      return created;
    }
    // Someone else created the file between our read and our create: use theirs.
    return load(keyFile);
  }

  /** A fresh random identity that lives only as long as this process (no key file). */
  public static NodeIdentity ephemeral() {
    byte[] seed = new byte[SEED_BYTES];
    new SecureRandom().nextBytes(seed);
    try {
      return fromSeed(seed);
    } finally {
      Arrays.fill(seed, (byte) 0);
    }
  }

  /**
   * The identity whose private key is the 32-byte RFC 8032 {@code seed} (what Go calls
   * {@code ed25519.NewKeyFromSeed}). Deterministic: the same seed always gives the same keys.
   */
  public static NodeIdentity fromSeed(byte[] seed) {
    Objects.requireNonNull(seed, "seed");
    if (seed.length != SEED_BYTES) {
      throw new IllegalArgumentException(
          "an ed25519 seed is " + SEED_BYTES + " bytes, got " + seed.length);
    }
    KeyPair pair = keyPairFromSeed(seed);
    return new NodeIdentity(pair.getPrivate(), rawPublicKey(pair));
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
      throw new IllegalArgumentException(
          seedAndPublicKey.length
              + " bytes, expected "
              + KEY_FILE_BYTES
              + " (raw ed25519 private key: 32-byte seed followed by the 32-byte public key)");
    }
    byte[] seed = Arrays.copyOfRange(seedAndPublicKey, 0, SEED_BYTES);
    byte[] storedPublic = Arrays.copyOfRange(seedAndPublicKey, SEED_BYTES, KEY_FILE_BYTES);
    try {
      NodeIdentity identity = fromSeed(seed);
      if (!Arrays.equals(identity.publicKey, storedPublic)) {
        throw new IllegalArgumentException(
            "the public half ("
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
    Objects.requireNonNull(message, "message");
    try {
      Signature signer = Signature.getInstance("Ed25519");
      signer.initSign(privateKey);
      signer.update(message);
      return signer.sign();
    } catch (GeneralSecurityException e) {
      // Ed25519 is mandatory in every JDK since 15 and the key is ours: cannot happen.
      throw new IllegalStateException("ed25519 signing failed", e);
    }
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

  private static NodeIdentity load(Path keyFile) throws IOException {
    long size = Files.size(keyFile); // NoSuchFileException when missing
    if (size != KEY_FILE_BYTES) {
      throw new IOException(
          "mesh key file "
              + keyFile
              + ": "
              + size
              + " bytes, expected "
              + KEY_FILE_BYTES
              + " (raw ed25519 private key: 32-byte seed followed by the 32-byte public key)");
    }
    byte[] content = Files.readAllBytes(keyFile);
    try {
      return fromPrivateKey(content);
    } catch (IllegalArgumentException e) {
      throw new IOException("mesh key file " + keyFile + ": " + e.getMessage(), e);
    } finally {
      Arrays.fill(content, (byte) 0);
    }
  }

  /**
   * Creates {@code keyFile} with a new identity; null when the file appeared meanwhile (created by
   * a concurrent process), so the caller loads that one instead.
   */
  private static NodeIdentity createKeyFile(Path keyFile) throws IOException {
    Path parent = keyFile.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    byte[] seed = new byte[SEED_BYTES];
    new SecureRandom().nextBytes(seed);
    byte[] content = new byte[KEY_FILE_BYTES];
    try {
      NodeIdentity identity = fromSeed(seed);
      System.arraycopy(seed, 0, content, 0, SEED_BYTES);
      System.arraycopy(identity.publicKey, 0, content, SEED_BYTES, PUBLIC_KEY_BYTES);
      try {
        createOwnerOnly(keyFile);
      } catch (FileAlreadyExistsException raced) {
        return null;
      }
      try (OutputStream out =
          Files.newOutputStream(keyFile, StandardOpenOption.WRITE, StandardOpenOption.SYNC)) {
        out.write(content);
      } catch (IOException e) {
        Files.deleteIfExists(keyFile); // never leave a truncated key behind
        throw new IOException("mesh key file " + keyFile + ": cannot write: " + e.getMessage(), e);
      }
      return identity;
    } finally {
      Arrays.fill(seed, (byte) 0);
      Arrays.fill(content, (byte) 0);
    }
  }

  /** Creates an empty file that only its owner may read and write (0600), atomically. */
  private static void createOwnerOnly(Path file) throws IOException {
    try {
      Files.createFile(
          file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException notPosix) {
      Files.createFile(file); // a non-POSIX file system: its default ACLs apply
    }
  }

  /**
   * Derives the key pair from a seed with public JDK API only: the JDK's Ed25519 key-pair
   * generator draws exactly the 32 seed bytes from its {@link SecureRandom} and computes the
   * public point from them (RFC 8032 section 5.1.5), so a random source that yields the seed gives
   * that seed's key pair. The vectors' seed-to-public-key pairs pin this down in the tests.
   */
  private static KeyPair keyPairFromSeed(byte[] seed) {
    SecureRandom fixed =
        new SecureRandom() {
          private static final long serialVersionUID = 1L;
          private boolean used;

          @Override
          public void nextBytes(byte[] bytes) {
            if (used || bytes.length != SEED_BYTES) {
              throw new IllegalStateException(
                  "the JDK's Ed25519 key-pair generator asked for "
                      + bytes.length
                      + " random bytes after "
                      + (used ? "the seed" : "nothing")
                      + "; expected exactly one request of "
                      + SEED_BYTES);
            }
            System.arraycopy(seed, 0, bytes, 0, SEED_BYTES);
            used = true;
          }
        };
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("Ed25519");
      generator.initialize(NamedParameterSpec.ED25519, fixed);
      return generator.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK has no usable Ed25519", e);
    }
  }

  /**
   * The raw 32-byte public key: the X.509 SubjectPublicKeyInfo of an Ed25519 key is a fixed
   * 12-byte prefix followed by exactly the RFC 8032 encoding.
   */
  private static byte[] rawPublicKey(KeyPair pair) {
    byte[] x509 = pair.getPublic().getEncoded();
    if (x509 == null || x509.length != 12 + PUBLIC_KEY_BYTES) {
      throw new IllegalStateException(
          "unexpected Ed25519 public key encoding (" + (x509 == null ? "none" : x509.length) + ")");
    }
    return Arrays.copyOfRange(x509, 12, x509.length);
  }
}
