package dev.ncro.access;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * One entry of {@code server.clients}: a Basic user (what Nix sends from its {@code netrc-file})
 * or a bearer token. Only the SHA-256 of the secret is kept: the secret itself never sits in a
 * field that a log line, a debugger or a {@code toString} could show, and every comparison is
 * between two 32-byte digests, so {@link MessageDigest#isEqual} takes the same time whatever the
 * length or content of what a client sends.
 */
public sealed interface ClientCredential extends ClientEntry {
  /** A credential is its own fixed entry. */
  @Override
  default ClientCredential current() {
    return this;
  }

  /** {@code digest} = SHA-256 of {@code username:password}, exactly what a Basic header carries. */
  record Basic(String username, byte[] digest) implements ClientCredential {
    /** By content (a re-read file that holds the same secret is no change); never on a request. */
    @Override
    public boolean equals(Object o) {
      return o instanceof Basic b && b.username.equals(username) && Arrays.equals(b.digest, digest);
    }

    @Override
    public int hashCode() {
      return 31 * username.hashCode() + Arrays.hashCode(digest);
    }

    @Override
    public String toString() {
      return "Basic[" + username + "]";
    }
  }

  /** {@code digest} = SHA-256 of the token. */
  record Bearer(byte[] digest) implements ClientCredential {
    @Override
    public boolean equals(Object o) {
      return o instanceof Bearer b && Arrays.equals(b.digest, digest);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(digest);
    }

    @Override
    public String toString() {
      return "Bearer[...]";
    }
  }

  public static ClientCredential basic(String username, String password) {
    return new Basic(username, sha256(username + ":" + password));
  }

  public static ClientCredential bearer(String token) {
    return new Bearer(sha256(token));
  }

  static byte[] sha256(String s) {
    return sha256(s.getBytes(StandardCharsets.UTF_8));
  }

  static byte[] sha256(byte[] b) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(b);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
