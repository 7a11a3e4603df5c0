package dev.ncro.narinfo;

/**
 * The hash part of a store path: 32 characters of Nix's base32 alphabet (digits and lower-case
 * letters without e, o, t, u). Checked before anything else so a malformed request never reaches
 * an upstream.
 */
public final class StorePathHash {
  public static final int LENGTH = 32;
  private static final String ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

  private StorePathHash() {}

  public static boolean isValid(String s) {
    if (s == null || s.length() != LENGTH) {
      return false;
    }
    for (int i = 0; i < LENGTH; i++) {
      if (ALPHABET.indexOf(s.charAt(i)) < 0) {
        return false;
      }
    }
    return true;
  }
}
