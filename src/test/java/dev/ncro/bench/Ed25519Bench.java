package dev.ncro.bench;

import dev.ncro.crypto.Ed25519PublicKey;
import dev.ncro.support.TestKey;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.util.Arrays;

/**
 * Why ncro verifies narinfo signatures with BouncyCastle and not the JDK: the cost of one Ed25519
 * verification of a narinfo fingerprint, JDK {@code Signature("Ed25519")} against
 * {@link Ed25519PublicKey} (the key's point decoded once), in rounds of N, interleaved, after a
 * warm-up round. Every miss pays one on its critical path. Run by {@code bench/crypto/run}; not a test.
 *
 * <p>Arguments: {@code [ROUNDS [N]]}, default {@code 5 3000}. A plain timing loop, not JMH: the
 * difference it shows is a factor, not a few percent.
 */
public final class Ed25519Bench {
  private Ed25519Bench() {}

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    int n = args.length > 1 ? Integer.parseInt(args[1]) : 3000;
    KeyPair pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    byte[] message = ("1;/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-hello-2.12.2;"
            + "sha256:1bd3jmw0ajxyq2l9kgcmbqbc7c2wqqq3x9fqxz1z1xhp2d1lkg7n;226560;"
            + "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-glibc-2.40,/nix/store/1c6kzph7l0dcbfmjap64f0czdafn3b7x-hello-2.12.2")
        .getBytes(StandardCharsets.UTF_8);
    Signature signer = Signature.getInstance("Ed25519");
    signer.initSign(pair.getPrivate());
    signer.update(message);
    byte[] signature = signer.sign();
    Ed25519PublicKey key = Ed25519PublicKey.of(TestKey.raw(pair.getPublic()));

    System.out.printf("%-6s %14s %14s %8s%n", "round", "JDK us/verify", "ncro us/verify", "ratio");
    double[] jdk = new double[rounds];
    double[] ours = new double[rounds];
    for (int r = -1; r < rounds; r++) { // round -1: warm-up, not reported
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        Signature v = Signature.getInstance("Ed25519");
        v.initVerify(pair.getPublic());
        v.update(message);
        check(v.verify(signature));
      }
      long t1 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        check(key.verify(message, signature));
      }
      long t2 = System.nanoTime();
      if (r >= 0) {
        jdk[r] = (t1 - t0) / 1e3 / n;
        ours[r] = (t2 - t1) / 1e3 / n;
        System.out.printf("%-6d %14.1f %14.1f %8.2f%n", r + 1, jdk[r], ours[r], ours[r] / jdk[r]);
      }
    }
    Arrays.sort(jdk);
    Arrays.sort(ours);
    double mj = jdk[rounds / 2];
    double mo = ours[rounds / 2];
    System.out.printf(
        "median: JDK %.1f us, ncro (BouncyCastle rfc8032) %.1f us: %.2f x, %.1f times faster%n",
        mj, mo, mo / mj, mj / mo);
  }

  private static void check(boolean valid) {
    if (!valid) {
      throw new IllegalStateException("a genuine signature did not verify");
    }
  }
}
