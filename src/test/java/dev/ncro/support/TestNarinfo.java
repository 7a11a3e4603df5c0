package dev.ncro.support;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Builds narinfo bodies for tests, signed by a {@link TestKey} (or unsigned when key is null). */
public final class TestNarinfo {
  private TestNarinfo() {}

  /** A distinct valid store-path hash for each {@code i}: {@code i} in Nix base32, padded. */
  public static String hash(int i) {
    String alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
    char[] out = new char[32];
    Arrays.fill(out, 'z');
    long v = Integer.toUnsignedLong(i);
    for (int k = 31; k >= 20; k--) {
      out[k] = alphabet.charAt((int) (v % 32));
      v /= 32;
    }
    return new String(out);
  }

  public static byte[] make(String hash, String narUrl, long narSize, TestKey key) {
    String storePath = "/nix/store/" + hash + "-test-" + hash.substring(0, 4);
    String narHash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
    StringBuilder sb = new StringBuilder()
        .append("StorePath: ")
        .append(storePath)
        .append('\n')
        .append("URL: ")
        .append(narUrl)
        .append('\n')
        .append("Compression: xz\n")
        .append("FileHash: sha256:0a8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\n")
        .append("FileSize: ")
        .append(narSize / 2)
        .append('\n')
        .append("NarHash: ")
        .append(narHash)
        .append('\n')
        .append("NarSize: ")
        .append(narSize)
        .append('\n')
        .append("References: \n");
    if (key != null) {
      sb.append("Sig: ")
          .append(key.sign("1;" + storePath + ";" + narHash + ";" + narSize + ";"))
          .append('\n');
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }
}
