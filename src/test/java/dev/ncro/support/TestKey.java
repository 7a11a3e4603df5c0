package dev.ncro.support;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.Signature;
import java.util.Arrays;
import java.util.Base64;

/** A throwaway Nix signing key for tests: JDK Ed25519, rendered in Nix's {@code name:base64} form. */
public final class TestKey {
  private final String name;
  private final KeyPair pair;

  public TestKey(String name) {
    this.name = name;
    try {
      this.pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public String name() {
    return name;
  }

  /** The public key as Nix writes it in trusted-public-keys. */
  public String publicKey() {
    return name + ":" + Base64.getEncoder().encodeToString(raw(pair.getPublic()));
  }

  /** A {@code Sig:} value: {@code name:base64(signature of fingerprint)}. */
  public String sign(String fingerprint) {
    try {
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(pair.getPrivate());
      s.update(fingerprint.getBytes(StandardCharsets.UTF_8));
      return name + ":" + Base64.getEncoder().encodeToString(s.sign());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The raw 32-byte RFC 8032 form of a JDK Ed25519 public key (what Nix and ncro use). */
  public static byte[] raw(PublicKey key) {
    byte[] spki = key.getEncoded(); // X.509 SubjectPublicKeyInfo: the raw key is the last 32 bytes
    return Arrays.copyOfRange(spki, spki.length - 32, spki.length);
  }
}
