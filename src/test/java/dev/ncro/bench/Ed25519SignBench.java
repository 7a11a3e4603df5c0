package dev.ncro.bench;

import dev.ncro.crypto.Ed25519PrivateKey;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.EdECPrivateKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The cost of signing one gossip datagram: the JDK's {@code Signature("Ed25519")} (how
 * {@code NodeIdentity} signed until issue 18) against {@link Ed25519PrivateKey} (BouncyCastle from
 * the seed), in rounds of N, interleaved, after a warm-up round, for a short body and a full 16 KiB
 * announce datagram. Also checks that both produce the same bytes. Run by
 * {@code bench/crypto/run sign}; not a test.
 *
 * <p>Arguments: {@code [ROUNDS [N]]}, default {@code 5 2000}. A plain timing loop, not JMH.
 */
public final class Ed25519SignBench {
  private Ed25519SignBench() {}

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    int n = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
    SplittableRandom random = new SplittableRandom(18);
    byte[] seed = new byte[Ed25519PrivateKey.SEED_BYTES];
    random.nextBytes(seed);
    Ed25519PrivateKey ours = Ed25519PrivateKey.fromSeed(seed);
    PrivateKey jdkKey = KeyFactory.getInstance("Ed25519")
        .generatePrivate(new EdECPrivateKeySpec(NamedParameterSpec.ED25519, seed));
    System.out.printf(
        "%-8s %-6s %14s %14s %8s%n", "body", "round", "JDK us/sign", "ncro us/sign", "ratio");
    for (int size : new int[] {200, 16_288}) { // an announce of one route; a full 16 KiB datagram
      byte[] message = new byte[size];
      random.nextBytes(message);
      if (!Arrays.equals(jdkSign(jdkKey, message), ours.sign(message))) {
        throw new IllegalStateException("the JDK and BouncyCastle signatures differ");
      }
      double[] jdk = new double[rounds];
      double[] bc = new double[rounds];
      for (int r = -1; r < rounds; r++) { // round -1: warm-up, not reported
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
          jdkSign(jdkKey, message);
        }
        long t1 = System.nanoTime();
        for (int i = 0; i < n; i++) {
          ours.sign(message);
        }
        long t2 = System.nanoTime();
        if (r >= 0) {
          jdk[r] = (t1 - t0) / 1e3 / n;
          bc[r] = (t2 - t1) / 1e3 / n;
          System.out.printf(
              "%-8d %-6d %14.1f %14.1f %8.2f%n", size, r + 1, jdk[r], bc[r], bc[r] / jdk[r]);
        }
      }
      Arrays.sort(jdk);
      Arrays.sort(bc);
      double mj = jdk[rounds / 2];
      double mb = bc[rounds / 2];
      System.out.printf(
          "median, %d-byte body: JDK %.1f us, ncro (BouncyCastle rfc8032) %.1f us: %.2f x%n",
          size, mj, mb, mb / mj);
    }
  }

  private static byte[] jdkSign(PrivateKey key, byte[] message) throws Exception {
    Signature signer = Signature.getInstance("Ed25519");
    signer.initSign(key);
    signer.update(message);
    return signer.sign();
  }
}
