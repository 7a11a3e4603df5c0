package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.NixFixture;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client (nix-bin 2.8) reading build logs and realisations through ncro, from binary
 * caches that Nix itself wrote: {@code nix store copy-log --to file://...} for a log,
 * {@code nix copy --to file://...} of a content-addressed derivation built with
 * {@code ca-derivations} and a signing key (which writes a signed {@code realisations/...doi}), and
 * {@code nix copy --to 'file://...?index-debug-info=true&write-nar-listing=true'} for debuginfo and
 * listings. What Nix sent for each is printed (from nginx's access log) for
 * docs/nix-client-behaviour.md.
 *
 * <p>Every run builds fresh derivations (a run tag in their names): a realisation is signed when
 * its output is built, so one built by an earlier run would carry that run's throwaway key.
 */
class CacheFileE2E {
  private static final Duration TIMEOUT = Duration.ofMinutes(3);
  private static final String NIX_EXPR = """
      { tag }:
      {
        plain = derivation { name = "ncro-i20-log-${tag}"; system = builtins.currentSystem; builder = "/bin/sh";
          args = [ "-c" "echo building ${tag} for ncro; echo the second line of the log; echo ${tag} > $out" ]; };
        zipped = derivation { name = "ncro-i20-zipped-${tag}"; system = builtins.currentSystem; builder = "/bin/sh";
          args = [ "-c" "echo this log is stored gzip-compressed ${tag}; echo ${tag} > $out" ]; };
        ca = derivation { name = "ncro-i20-ca-${tag}"; system = builtins.currentSystem; builder = "/bin/sh";
          __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256";
          args = [ "-c" "echo content-addressed ${tag} > $out" ]; };
        dbg = derivation { name = "ncro-i20-dbg-${tag}"; system = builtins.currentSystem; builder = "/bin/sh";
          args = [ "-c" "/bin/mkdir -p $out/lib/debug/.build-id/ab; echo debug ${tag} > $out/lib/debug/.build-id/ab/cdef0123456789abcdef0123456789abcdef01.debug" ]; };
      }
      """;

  @TempDir
  static Path work;

  private static String tag;
  private static Path expr;
  private static Map<String, String> env;
  private static String publicKey;
  private static String plainDrv;
  private static String caOut;
  private static String dbgOut;
  private static FarCache near;
  private static FarCache far;
  private static FarCache empty;
  private static FarCache gzipped;
  private static String zippedDrv;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private NcroHarness ncro;

  @BeforeAll
  static void cachesWrittenByNix() throws Exception {
    NixFixture.requireNix();
    tag = "r" + Long.toString(System.currentTimeMillis(), 36);
    expr = work.resolve("i20.nix");
    Files.writeString(expr, NIX_EXPR);
    env = withCaDerivations(NixFixture.environment(work.resolve("home")));
    run(
        "nix-store",
        "--generate-binary-cache-key",
        "ncro-i20-1",
        work.resolve("sk").toString(),
        work.resolve("pk").toString());
    publicKey = Files.readString(work.resolve("pk")).strip();
    Path logs = Files.createDirectories(work.resolve("far"));
    Path ca = Files.createDirectories(work.resolve("near"));
    Path nothing = Files.createDirectories(work.resolve("empty"));
    Files.writeString(nothing.resolve("nix-cache-info"), "StoreDir: /nix/store\n");

    plainDrv =
        lastLine(run("nix-instantiate", expr.toString(), "-A", "plain", "--argstr", "tag", tag));
    run("nix-build", expr.toString(), "-A", "plain", "--argstr", "tag", tag, "--no-out-link");
    run("nix", "store", "copy-log", "--to", "file://" + logs, plainDrv);

    // A log stored compressed with Content-Encoding, as an S3 cache with log-compression keeps it.
    zippedDrv =
        lastLine(run("nix-instantiate", expr.toString(), "-A", "zipped", "--argstr", "tag", tag));
    run("nix-build", expr.toString(), "-A", "zipped", "--argstr", "tag", tag, "--no-out-link");
    Path plainLogs = Files.createDirectories(work.resolve("plain-logs"));
    run("nix", "store", "copy-log", "--to", "file://" + plainLogs, zippedDrv);
    Path gz = Files.createDirectories(work.resolve("gzipped/log"));
    String zippedName = zippedDrv.substring(zippedDrv.lastIndexOf('/') + 1);
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz.resolve(zippedName)))) {
      out.write(Files.readAllBytes(plainLogs.resolve("log/" + zippedName)));
    }
    Files.writeString(gz.getParent().resolve("nix-cache-info"), "StoreDir: /nix/store\n");

    caOut = lastLine(run(
        "nix-build",
        expr.toString(),
        "-A",
        "ca",
        "--argstr",
        "tag",
        tag,
        "--no-out-link",
        "--option",
        "secret-key-files",
        work.resolve("sk").toString()));
    run("nix", "copy", "--to", "file://" + ca, "-f", expr.toString(), "ca", "--argstr", "tag", tag);

    dbgOut = lastLine(
        run("nix-build", expr.toString(), "-A", "dbg", "--argstr", "tag", tag, "--no-out-link"));
    run(
        "nix",
        "copy",
        "--to",
        "file://" + logs + "?index-debug-info=true&write-nar-listing=true",
        dbgOut);

    near = FarCache.serving("near", ca, Duration.ofMillis(5));
    empty = FarCache.serving("empty", nothing, Duration.ofMillis(20));
    far = FarCache.serving("far", logs, Duration.ofMillis(100));
    gzipped = FarCache.serving(
        "gzipped",
        gz.getParent(),
        "location /log/ { default_type text/plain; add_header Content-Encoding gzip; }",
        Duration.ofMillis(30));
  }

  @AfterAll
  static void stopCaches() {
    for (FarCache c : new FarCache[] {near, empty, far, gzipped}) {
      if (c != null) {
        c.close();
      }
    }
  }

  private static Map<String, String> withCaDerivations(Map<String, String> base) {
    Map<String, String> e = new HashMap<>(base);
    e.put(
        "NIX_CONFIG",
        e.get("NIX_CONFIG")
            .replace(
                "experimental-features = nix-command",
                "experimental-features = nix-command ca-derivations"));
    return e;
  }

  private static String run(String... command) throws IOException, InterruptedException {
    NixFixture.Result r = NixFixture.exec(List.of(command), env, TIMEOUT);
    if (r.exitCode() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + r.output());
    }
    return r.stdout();
  }

  private static String lastLine(String s) {
    List<String> lines = s.lines().filter(l -> !l.isBlank()).toList();
    return lines.get(lines.size() - 1).strip();
  }

  private URI ncro() throws Exception {
    List<URI> upstreams = List.of(near.uri(), empty.uri(), far.uri(), gzipped.uri());
    ncro = open.keep(NcroHarness.start(NcroHarness.config(
        dir.resolve("routes.db"),
        NcroHarness.upstreams(upstreams, List.of(publicKey, publicKey, publicKey, publicKey)))));
    return ncro.uri("");
  }

  private static void printRequests(String what, FarCache c, String needle) throws IOException {
    for (String line : c.nginx().accessLog()) {
      if (line.contains(needle)) {
        System.out.println(
            "[nix-client-behaviour] " + what + " via ncro, " + c.name() + " saw: " + line);
      }
    }
  }

  @Test
  void nixLogPrintsTheBuildLogThroughNcro() throws Exception {
    URI proxy = ncro();
    NixClient client = new NixClient(dir.resolve("client"));
    // The client's own store holds the derivation but not its log: Nix 2.8's `nix log` then asks
    // its substituters (`nix-store -l` does not: it reads the local store only).
    NixFixture.Result inst = NixFixture.exec(
        List.of(
            "nix-instantiate",
            "--store",
            client.storeUri(),
            expr.toString(),
            "-A",
            "plain",
            "--argstr",
            "tag",
            tag),
        env,
        TIMEOUT);
    assertThat(inst.exitCode()).as(inst.output()).isZero();

    NixFixture.Result log = NixFixture.exec(
        List.of(
            "nix",
            "log",
            "--store",
            client.storeUri(),
            "--option",
            "substituters",
            proxy.toString(),
            plainDrv),
        env,
        TIMEOUT);

    assertThat(log.exitCode()).as("nix log through ncro:\n%s", log.output()).isZero();
    assertThat(log.stdout())
        .contains("building " + tag + " for ncro", "the second line of the log");
    String drvName = plainDrv.substring(plainDrv.lastIndexOf('/') + 1);
    assertThat(far.nginx().accessLog()).anyMatch(l -> l.startsWith("GET /log/" + drvName + " 200"));
    printRequests("nix log", far, "/log/");
    printRequests("nix log", near, "/log/");
  }

  @Test
  void nixLogDecodesALogThatAnUpstreamStoresCompressed() throws Exception {
    URI proxy = ncro();
    NixClient client = new NixClient(dir.resolve("client"));
    NixFixture.Result inst = NixFixture.exec(
        List.of(
            "nix-instantiate",
            "--store",
            client.storeUri(),
            expr.toString(),
            "-A",
            "zipped",
            "--argstr",
            "tag",
            tag),
        env,
        TIMEOUT);
    assertThat(inst.exitCode()).as(inst.output()).isZero();

    NixFixture.Result log = NixFixture.exec(
        List.of(
            "nix",
            "log",
            "--store",
            client.storeUri(),
            "--option",
            "substituters",
            proxy.toString(),
            zippedDrv),
        env,
        TIMEOUT);

    assertThat(log.exitCode()).as("nix log through ncro:\n%s", log.output()).isZero();
    assertThat(log.stdout()).contains("this log is stored gzip-compressed " + tag);
    String name = zippedDrv.substring(zippedDrv.lastIndexOf('/') + 1);
    HttpResponse<byte[]> raw = ncro.get("/log/" + name);
    assertThat(raw.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(raw.body()).isEqualTo(Files.readAllBytes(work.resolve("gzipped/log/" + name)));
  }

  @Test
  void nixWithCaDerivationsSubstitutesAContentAddressedOutputThroughNcro() throws Exception {
    URI proxy = ncro();
    NixClient client = new NixClient(dir.resolve("client"));

    NixFixture.Result r = NixFixture.exec(
        List.of(
            "nix",
            "build",
            "--store",
            client.storeUri(),
            "--no-link",
            "-f",
            expr.toString(),
            "ca",
            "--argstr",
            "tag",
            tag,
            "-L",
            "--option",
            "substituters",
            proxy.toString(),
            "--option",
            "trusted-public-keys",
            publicKey),
        env,
        TIMEOUT);

    assertThat(r.exitCode())
        .as("nix build (ca-derivations) through ncro:\n%s", r.output())
        .isZero();
    assertThat(r.output()).as("substituted, not built").doesNotContain("content-addressed " + tag);
    NixFixture.Result valid = NixFixture.exec(
        List.of("nix-store", "--store", client.storeUri(), "--verify-path", caOut), env, TIMEOUT);
    assertThat(valid.exitCode())
        .as("%s valid in the client's store: %s", caOut, valid.output())
        .isZero();
    assertThat(near.nginx().accessLog())
        .as("the realisation came from the cache Nix wrote it to")
        .anyMatch(l -> l.startsWith("GET /realisations/sha256:") && l.contains("!out.doi 200"));
    String metrics = new String(ncro.get("/metrics").body(), StandardCharsets.UTF_8);
    assertThat(metrics).containsPattern("ncro_requests_total\\{kind=\"realisation\"\\} [1-9]");
    printRequests("nix build (ca-derivations)", near, "/realisations/");
    printRequests("nix build (ca-derivations)", empty, "/realisations/");
  }

  @Test
  void debuginfoAndListingsWrittenByNixAreServedAndTheArchiveResolvesThroughNcro()
      throws Exception {
    ncro();
    Path cache = work.resolve("far");
    Path debuginfo;
    try (Stream<Path> s = Files.list(cache.resolve("debuginfo"))) {
      debuginfo = s.filter(p -> p.getFileName().toString().startsWith("abcdef0123"))
          .findFirst()
          .orElseThrow();
    }
    String name = debuginfo.getFileName().toString();
    HttpResponse<byte[]> d = ncro.get("/debuginfo/" + name);
    assertThat(d.statusCode()).isEqualTo(200);
    assertThat(d.body()).isEqualTo(Files.readAllBytes(debuginfo));
    Matcher archive = Pattern.compile("\"archive\":\"([^\"]+)\"")
        .matcher(new String(d.body(), StandardCharsets.UTF_8));
    assertThat(archive.find()).isTrue();
    URI nar = ncro.uri("/debuginfo/" + name).resolve(archive.group(1));
    HttpResponse<byte[]> n = ncro.get(nar.getRawPath());
    assertThat(n.statusCode())
        .as("%s, relative to the debuginfo file", archive.group(1))
        .isEqualTo(200);
    assertThat(n.body())
        .isEqualTo(Files.readAllBytes(cache.resolve(archive.group(1).substring(3))));

    String hash = NixFixture.hashOf(dbgOut);
    HttpResponse<byte[]> ls = ncro.get("/" + hash + ".ls");
    assertThat(ls.statusCode()).isEqualTo(200);
    assertThat(ls.body()).isEqualTo(Files.readAllBytes(cache.resolve(hash + ".ls")));
    assertThat(ls.headers().firstValue("X-Ncro-Upstream")).hasValue(far.uri().getAuthority());
  }
}
