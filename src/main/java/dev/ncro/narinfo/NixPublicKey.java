package dev.ncro.narinfo;

import dev.ncro.crypto.Ed25519PublicKey;
import java.util.Base64;

/**
 * A Nix signing key in its text form {@code name:base64(32-byte ed25519 public key)}, as written
 * in {@code trusted-public-keys}. Verification is {@link Ed25519PublicKey}'s (see there why not
 * the JDK's).
 */
public record NixPublicKey(String name, Ed25519PublicKey key) {

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
      throw new IllegalArgumentException(
          "key of \"" + text.substring(0, colon) + "\" is not valid base64");
    }
    if (raw.length != 32) {
      throw new IllegalArgumentException(
          "key of \"" + text.substring(0, colon) + "\" is " + raw.length + " bytes, expected 32");
    }
    try {
      return new NixPublicKey(text.substring(0, colon), Ed25519PublicKey.of(raw));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "key of \"" + text.substring(0, colon) + "\" is " + e.getMessage());
    }
  }

  /** True when {@code signature} is a valid ed25519 signature of {@code message} by this key. */
  public boolean verify(byte[] message, byte[] signature) {
    return key.verify(message, signature);
  }
}
