package dev.ncro.support;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A binary cache directory for nginx to serve: {@code nix-cache-info}, and {@code paths} narinfos
 * signed by {@code key}, each with a NAR of random bytes under {@code nar/}. The same directory,
 * behind different front doors (TLS, auth_basic, a proxy), is what several tests must see served.
 */
public final class SignedCache {
  /** Fetches a path from ncro (the caller's client and base URL). */
  public interface Get {
    HttpResponse<byte[]> get(String path) throws Exception;
  }

  private final Path root;
  private final List<String> hashes = new ArrayList<>();
  private final Map<String, byte[]> nars = new HashMap<>();

  private SignedCache(Path root) {
    this.root = root;
  }

  /** Hashes {@code TestNarinfo.hash(firstHash + i)}; NARs of {@code narBytes + i} bytes from {@code seed}. */
  public static SignedCache create(
      Path root, TestKey key, int paths, int firstHash, int narBytes, long seed)
      throws IOException {
    SignedCache c = new SignedCache(root);
    Files.createDirectories(root.resolve("nar"));
    Files.writeString(
        root.resolve("nix-cache-info"), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n");
    Random rnd = new Random(seed);
    for (int i = 0; i < paths; i++) {
      String h = TestNarinfo.hash(firstHash + i);
      byte[] nar = new byte[narBytes + i];
      rnd.nextBytes(nar);
      Files.write(root.resolve("nar/" + h + ".nar.xz"), nar);
      Files.write(
          root.resolve(h + ".narinfo"),
          TestNarinfo.make(h, "nar/" + h + ".nar.xz", nar.length * 2L, key));
      c.hashes.add(h);
      c.nars.put(h, nar);
    }
    return c;
  }

  public Path root() {
    return root;
  }

  public List<String> hashes() {
    return hashes;
  }

  public byte[] nar(String hash) {
    return nars.get(hash);
  }

  public long narBytes() {
    return nars.values().stream().mapToLong(b -> b.length).sum();
  }

  /** Every path through {@code ncro}: narinfo 200 and byte-exact, its NAR 200 with the right bytes. */
  public void assertServedBy(Get ncro) throws Exception {
    for (String h : hashes) {
      HttpResponse<byte[]> ni = ncro.get("/" + h + ".narinfo");
      assertThat(ni.statusCode()).as("narinfo %s", h).isEqualTo(200);
      assertThat(ni.body()).isEqualTo(Files.readAllBytes(root.resolve(h + ".narinfo")));
      HttpResponse<byte[]> nar = ncro.get("/nar/" + h + ".nar.xz");
      assertThat(nar.statusCode()).as("NAR %s", h).isEqualTo(200);
      assertThat(nar.body()).isEqualTo(nars.get(h));
    }
  }
}
