package dev.ncro.narinfo;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.EdECPoint;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.Base64;

/**
 * A Nix signing key in its text form {@code name:base64(32-byte ed25519 public key)}, as written
 * in {@code trusted-public-keys}. Verification uses the JDK's own Ed25519, so no crypto library
 * is needed.
 */
public record NixPublicKey(String name, PublicKey key) {

  /** Parses {@code name:base64}; throws {@link IllegalArgumentException} saying what is wrong. */
  public static NixPublicKey parse(String text) {
    int colon = text == null ? -1 : text.indexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("expected name:base64, got \"" + text + "\"");
    }
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(text.substring(colon + 1).trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("key of \"" + text.substring(0, colon) + "\" is not valid base64");
    }
    if (raw.length != 32) {
      throw new IllegalArgumentException(
          "key of \"" + text.substring(0, colon) + "\" is " + raw.length + " bytes, expected 32");
    }
    return new NixPublicKey(text.substring(0, colon), ed25519PublicKey(raw));
  }

  /** True when {@code signature} is a valid ed25519 signature of {@code message} by this key. */
  public boolean verify(byte[] message, byte[] signature) {
    if (signature.length != 64) {
      return false;
    }
    try {
      Signature verifier = Signature.getInstance("Ed25519");
      verifier.initVerify(key);
      verifier.update(message);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  /**
   * Builds a JDK public key from the raw 32-byte RFC 8032 encoding (little-endian y with the
   * sign of x in the top bit), which is what Nix and Go's crypto/ed25519 use.
   */
  public static PublicKey ed25519PublicKey(byte[] raw) {
    byte[] le = raw.clone();
    boolean xOdd = (le[31] & 0x80) != 0;
    le[31] &= 0x7f;
    byte[] be = new byte[32];
    for (int i = 0; i < 32; i++) {
      be[i] = le[31 - i];
    }
    try {
      return KeyFactory.getInstance("Ed25519")
          .generatePublic(
              new EdECPublicKeySpec(
                  NamedParameterSpec.ED25519,
                  new EdECPoint(xOdd, new java.math.BigInteger(1, be))));
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("not an ed25519 public key", e);
    }
  }
}
