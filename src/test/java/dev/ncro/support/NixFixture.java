package dev.ncro.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;

/**
 * Real Nix store paths and real binary caches written by Nix itself, for end-to-end tests and
 * benchmarks that run the real Nix client (Debian's {@code nix-bin}, no daemon, as root).
 *
 * <p>Why: ncro's promise is about what the Nix client does, so the strongest test is Nix
 * substituting a real closure through it. The closure is built from nothing but nix-bin: text
 * files made with {@code builtins.toFile} (content-addressed, referencing each other), blobs added
 * with {@code nix-store --add}, and a few input-addressed derivation outputs built with
 * {@code /bin/sh} (these need a trusted signature, so they check that narinfos pass through ncro
 * byte-exact). Contents are deterministic, so the store paths are the same in every run and a
 * second build is a no-op.
 *
 * <p>Three caches are written with {@code nix copy --to file://...}, each with its own signing key
 * and compression. Binary caches refuse a path whose references are missing, so the partial caches
 * are written complete and then pruned (narinfo and NAR removed): a cache with holes, like a
 * private cache that relies on another one for its dependencies.
 *
 * <p>Built once per JVM ({@link #get()}); the cache directories are deleted at exit.
 */
public final class NixFixture {
  /**
   * Size in MiB of the two incompressible blobs when the system property {@code ncro.fixture.bigMiB}
   * is set (benchmarks: {@code NixClosureBench} sets 64); 0 = the small default (2 MiB and 1 MiB),
   * which keeps the e2e tests fast. Read once, when the class is loaded.
   */
  private static final int BIG_MIB = Integer.getInteger("ncro.fixture.bigMiB", 0);
  /**
   * Bump when the closure's shape changes: it is part of every store path name (the big variant
   * has its own paths, so both variants can sit in /nix/store side by side).
   */
  private static final String TAG = BIG_MIB > 0 ? "ncro-fx-v1-big" + BIG_MIB : "ncro-fx-v1";

  private static final Duration NIX_TIMEOUT = Duration.ofMinutes(3);
  private static NixFixture instance;

  /** A binary cache directory written by {@code nix copy}, and what it holds. */
  public record Cache(
      String name, Path dir, String publicKey, String compression, Set<String> paths) {
    public boolean holds(String storePath) {
      return paths.contains(storePath);
    }
  }

  /** A finished command: exit code, stdout, stderr. */
  public record Result(int exitCode, String stdout, String stderr) {
    public String output() {
      return stdout + stderr;
    }
  }

  private final Path dir;
  private final String root;
  private final List<String> paths;
  private final String absentPath;
  private final List<Cache> caches;

  private NixFixture(
      Path dir, String root, List<String> paths, String absentPath, List<Cache> caches) {
    this.dir = dir;
    this.root = root;
    this.paths = paths;
    this.absentPath = absentPath;
    this.caches = caches;
  }

  /** The fixture, built on first use in this JVM. */
  public static synchronized NixFixture get() {
    if (instance == null) {
      try {
        instance = build();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    return instance;
  }

  /** The store path whose closure is every path of {@link #paths()}. */
  public String root() {
    return root;
  }

  /** Every store path of the closure, sorted. */
  public List<String> paths() {
    return paths;
  }

  /** A valid store path in the local store that no cache holds (and that has no derivation). */
  public String absentPath() {
    return absentPath;
  }

  /**
   * The caches: {@code complete} (xz, every path), {@code partial-a} (zstd, two thirds) and
   * {@code partial-b} (no compression, half; overlapping partial-a).
   */
  public List<Cache> caches() {
    return caches;
  }

  public Cache cache(String name) {
    return caches.stream()
        .filter(c -> c.name().equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no cache " + name));
  }

  /** Every cache's public key, space-separated, for {@code trusted-public-keys}. */
  public String trustedPublicKeys() {
    return String.join(" ", caches.stream().map(Cache::publicKey).toList());
  }

  /** The 32-character hash part of a store path. */
  public static String hashOf(String storePath) {
    String base = storePath.substring(storePath.lastIndexOf('/') + 1);
    return base.substring(0, 32);
  }

  /** Fails with the Debian package to install when Nix is missing. */
  public static Path requireNix() {
    for (String dirName :
        List.of("/usr/bin", "/usr/local/bin", "/nix/var/nix/profiles/default/bin")) {
      Path p = Path.of(dirName, "nix-store");
      if (Files.isExecutable(p)) {
        return p.getParent();
      }
    }
    throw new IllegalStateException(
        "nix-store not found: install the Debian package nix-bin (apt-get install -y nix-bin)");
  }

  /**
   * The environment for a Nix command: no daemon, no user or system configuration that could leak
   * in, and the client-side caches (~/.cache/nix/binary-cache-v6.sqlite) under {@code home}.
   */
  public static Map<String, String> environment(Path home) {
    Map<String, String> env = new HashMap<>(System.getenv());
    env.keySet().removeIf(k -> k.startsWith("NIX_") && !k.equals("NIX_SSL_CERT_FILE"));
    env.put("HOME", home.toString());
    env.put("XDG_CACHE_HOME", home.resolve(".cache").toString());
    env.put("XDG_CONFIG_HOME", home.resolve(".config").toString());
    env.put("XDG_DATA_HOME", home.resolve(".local/share").toString());
    // Root without the nixbld group: build as root, unsandboxed (the builders are /bin/sh
    // one-liners).
    env.put(
        "NIX_CONFIG",
        String.join(
            "\n",
            "build-users-group =",
            "experimental-features = nix-command",
            "sandbox = false",
            "substituters =",
            ""));
    env.put("PATH", requireNix() + ":" + System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
    return env;
  }

  /** Runs a command to completion (output in files, so it never blocks on a full pipe). */
  public static Result exec(List<String> command, Map<String, String> env, Duration timeout)
      throws IOException, InterruptedException {
    Path out = Files.createTempFile("ncro-exec", ".out");
    Path err = Files.createTempFile("ncro-exec", ".err");
    try {
      ProcessBuilder pb =
          new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
      pb.environment().clear();
      pb.environment().putAll(env);
      Process p = pb.start();
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly().waitFor();
        throw new IllegalStateException(
            "timed out after " + timeout + ": " + command + "\n" + Files.readString(err));
      }
      return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  private static String run(Map<String, String> env, String... command)
      throws IOException, InterruptedException {
    Result r = exec(List.of(command), env, NIX_TIMEOUT);
    if (r.exitCode() != 0) {
      throw new IllegalStateException(
          "failed (exit " + r.exitCode() + "): " + String.join(" ", command) + "\n" + r.stderr());
    }
    return r.stdout().strip();
  }

  private static NixFixture build() throws IOException, InterruptedException {
    requireNix();
    Path store = Path.of("/nix/store");
    if (!Files.exists(store) && Files.isWritable(Path.of("/"))) {
      // A fresh machine with Debian's nix-bin has no /nix until Nix first opens its store as
      // root: create it here, as Nix itself would.
      Files.createDirectories(store);
    }
    if (!Files.isWritable(store) && !Files.isWritable(Path.of("/nix"))) {
      throw new IllegalStateException(
          "the fixture writes to /nix/store without a daemon: run the tests as root");
    }
    Path dir = Files.createTempDirectory("ncro-nix-fixture");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> ChildProcesses.deleteTree(dir)));
    Map<String, String> env = environment(dir.resolve("home"));

    // Larger files: two incompressible, two compressible.
    List<String> blobs = new ArrayList<>();
    int[] sizes = BIG_MIB > 0
        ? new int[] {BIG_MIB << 20, BIG_MIB << 20, 1 << 20, 512 << 10}
        : new int[] {2 << 20, 1 << 20, 1 << 20, 512 << 10};
    for (int i = 0; i < sizes.length; i++) {
      Path f = dir.resolve(TAG + "-blob-" + i + (i < 2 ? ".bin" : ".txt"));
      Files.write(f, i < 2 ? randomBytes(sizes[i], 42 + i) : textBytes(sizes[i], i));
      blobs.add(run(env, "nix-store", "--add", f.toString()));
    }

    Path expr = dir.resolve("closure.nix");
    Files.writeString(expr, expression(blobs));
    String root = lastLine(run(env, "nix-build", expr.toString(), "--no-out-link"));
    List<String> paths =
        run(env, "nix-store", "--query", "--requisites", root).lines().sorted().toList();

    Path absentExpr = dir.resolve("absent.nix");
    Files.writeString(absentExpr, "builtins.toFile \"" + TAG + "-absent\" \"in no cache\\n\"\n");
    String absent = run(
            env, "nix-instantiate", "--eval", "--read-write-mode", absentExpr.toString())
        .replace("\"", "");

    List<Cache> caches = new ArrayList<>();
    caches.add(cache(env, dir, "complete", "xz", root, paths, i -> true));
    caches.add(cache(env, dir, "partial-a", "zstd", root, paths, i -> i % 3 != 2));
    caches.add(cache(env, dir, "partial-b", "none", root, paths, i -> i % 2 == 0));
    return new NixFixture(dir, root, paths, absent, List.copyOf(caches));
  }

  /**
   * The closure, written explicitly: 12 leaves, 16 and 12 text files in two layers above them, 8
   * derivations (a chain of depth 4) above those, 6 more text files, and a root derivation.
   */
  private static String expression(List<String> blobs) {
    StringBuilder e = new StringBuilder("let\n");
    for (int i = 0; i < blobs.size(); i++) {
      e.append("  blob")
          .append(i)
          .append(" = builtins.storePath \"")
          .append(blobs.get(i))
          .append("\";\n");
    }
    for (int i = 0; i < 12; i++) {
      e.append(textFile(
          "l0_" + i,
          "leaf " + i + "\\n" + ("some text of leaf " + i + "\\n").repeat(20 * (i + 1))));
    }
    for (int j = 0; j < 16; j++) {
      String refs = "${l0_" + (j % 12) + "} ${l0_" + ((j * 5 + 1) % 12) + "}"
          + (j < 4 ? " ${blob" + j + "}" : "");
      e.append(textFile("l1_" + j, "layer 1 file " + j + " uses " + refs + "\\n"));
    }
    for (int k = 0; k < 12; k++) {
      e.append(textFile(
          "l2_" + k,
          "layer 2 file " + k + " uses ${l1_" + k + "} ${l1_" + ((k + 7) % 16) + "} ${l0_"
              + ((k * 7) % 12) + "}\\n"));
    }
    for (int m = 0; m < 8; m++) {
      String refs =
          "${l2_" + m + "} ${l2_" + ((m + 5) % 12) + "}" + (m >= 2 ? " ${d_" + (m - 2) + "}" : "");
      e.append(derivation("d_" + m, "derivation " + m + " uses " + refs));
    }
    for (int n = 0; n < 6; n++) {
      e.append(textFile(
          "l3_" + n,
          "layer 3 file " + n + " uses ${l2_" + (2 * n) + "} ${l2_" + (2 * n + 1) + "}\\n"));
    }
    e.append(derivation(
        "root", "root uses ${d_6} ${d_7} ${l3_0} ${l3_1} ${l3_2} ${l3_3} ${l3_4} ${l3_5}"));
    e.append("in root\n");
    return e.toString();
  }

  private static String textFile(String var, String content) {
    return "  " + var + " = builtins.toFile \"" + TAG + "-" + var.replace('_', '-') + "\" \""
        + content + "\";\n";
  }

  private static String derivation(String var, String content) {
    return "  " + var + " = derivation { name = \"" + TAG + "-" + var.replace('_', '-')
        + "\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"echo '"
        + content
        + "' > $out\" ]; };\n";
  }

  private static Cache cache(
      Map<String, String> env,
      Path dir,
      String name,
      String compression,
      String root,
      List<String> paths,
      IntPredicate keep)
      throws IOException, InterruptedException {
    Path cacheDir = dir.resolve("cache-" + name);
    Path secret = dir.resolve(name + ".sec");
    Path pub = dir.resolve(name + ".pub");
    run(
        env,
        "nix-store",
        "--generate-binary-cache-key",
        "ncro-test-" + name + "-1",
        secret.toString(),
        pub.toString());
    run(
        env,
        "nix",
        "copy",
        "--to",
        "file://" + cacheDir + "?compression=" + compression + "&secret-key=" + secret,
        root);
    Set<String> held = new LinkedHashSet<>();
    for (int i = 0; i < paths.size(); i++) {
      if (keep.test(i)) {
        held.add(paths.get(i));
      }
    }
    prune(cacheDir, paths, held);
    return new Cache(name, cacheDir, Files.readString(pub).strip(), compression, Set.copyOf(held));
  }

  /** Removes the narinfo (and the NAR, unless a kept narinfo names it) of every path not held. */
  private static void prune(Path cacheDir, List<String> paths, Set<String> held)
      throws IOException {
    Set<String> keptNars = new HashSet<>();
    for (String p : held) {
      keptNars.add(narUrl(cacheDir, p));
    }
    for (String p : paths) {
      if (!held.contains(p)) {
        String nar = narUrl(cacheDir, p);
        Files.delete(cacheDir.resolve(hashOf(p) + ".narinfo"));
        if (!keptNars.contains(nar)) {
          Files.deleteIfExists(cacheDir.resolve(nar));
        }
      }
    }
  }

  private static String narUrl(Path cacheDir, String storePath) throws IOException {
    return Files.readAllLines(cacheDir.resolve(hashOf(storePath) + ".narinfo")).stream()
        .filter(l -> l.startsWith("URL: "))
        .map(l -> l.substring(5))
        .findFirst()
        .orElseThrow(() -> new IllegalStateException("narinfo without URL for " + storePath));
  }

  private static byte[] randomBytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static byte[] textBytes(int size, int n) {
    StringBuilder s = new StringBuilder(size + 100);
    for (int line = 0; s.length() < size; line++) {
      s.append("compressible text ").append(n).append(" line ").append(line).append('\n');
    }
    return s.substring(0, size).getBytes(StandardCharsets.US_ASCII);
  }

  private static String lastLine(String s) {
    List<String> lines = s.lines().toList();
    return lines.get(lines.size() - 1).strip();
  }

  @Override
  public String toString() {
    return "NixFixture[" + dir + ", " + paths.size() + " paths]";
  }
}
