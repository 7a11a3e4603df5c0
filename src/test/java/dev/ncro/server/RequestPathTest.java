package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.narinfo.CacheFileKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RequestPathTest {
  private static final String HASH = "0123456789abcdfghijklmnpqrsvwxyz";

  @Test
  void knownShapes() {
    assertThat(RequestPath.classify("/nix-cache-info")).isEqualTo(new Target.NixCacheInfo());
    assertThat(RequestPath.classify("/health")).isEqualTo(new Target.Health());
    assertThat(RequestPath.classify("/" + HASH + ".narinfo")).isEqualTo(new Target.Narinfo(HASH));
    assertThat(RequestPath.classify("/nar/1abc.nar.xz"))
        .isEqualTo(new Target.Nar("nar/1abc.nar.xz"));
    assertThat(RequestPath.classify("/nar/x.nar.zst?hash=abc"))
        .isEqualTo(new Target.Nar("nar/x.nar.zst?hash=abc"));
    assertThat(RequestPath.classify("/other")).isEqualTo(new Target.NotFound());
    assertThat(RequestPath.classify("/")).isEqualTo(new Target.StatusPage());
    assertThat(RequestPath.classify("/ui")).isEqualTo(new Target.StatusPage());
    assertThat(RequestPath.classify("/status")).isEqualTo(new Target.Status());
    assertThat(RequestPath.classify("/metrics")).isEqualTo(new Target.Metrics());
  }

  private static final String DRV = HASH + "-hello-2.12.drv";
  private static final String ID =
      "sha256:3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c!out";

  @Test
  void cacheFiles() {
    assertThat(RequestPath.classify("/log/" + DRV))
        .isEqualTo(new Target.CacheFile(CacheFileKind.LOG, "/log/" + DRV, null));
    assertThat(RequestPath.classify("/" + HASH + ".ls"))
        .isEqualTo(new Target.CacheFile(CacheFileKind.LISTING, "/" + HASH + ".ls", HASH));
    assertThat(RequestPath.classify("/debuginfo/0123456789abcdef0123456789abcdef01234567"))
        .isEqualTo(new Target.CacheFile(
            CacheFileKind.DEBUGINFO, "/debuginfo/0123456789abcdef0123456789abcdef01234567", null));
    assertThat(RequestPath.classify("/debuginfo/abcdef0123456789abcdef0123456789abcdef01.debug"))
        .as("as Nix 2.8 names it")
        .isEqualTo(new Target.CacheFile(
            CacheFileKind.DEBUGINFO,
            "/debuginfo/abcdef0123456789abcdef0123456789abcdef01.debug",
            null));
    assertThat(RequestPath.classify("/realisations/" + ID + ".doi"))
        .isEqualTo(
            new Target.CacheFile(CacheFileKind.REALISATION, "/realisations/" + ID + ".doi", ID));
    assertThat(RequestPath.classify("/build-trace-v2/" + DRV + "/out.doi"))
        .isEqualTo(new Target.CacheFile(
            CacheFileKind.BUILD_TRACE, "/build-trace-v2/" + DRV + "/out.doi", DRV + "^out"));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "/realisations/sha256%3A3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c%21out.doi",
        "/realisations/sha256%3a3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c%21out.doi",
        "/realisations/sha256:3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c%21out.doi",
        "/realisations/%73ha256:3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c!out%2Edoi",
      })
  void escapedRealisationsAreTheSameTarget(String uri) {
    assertThat(RequestPath.classify(uri))
        .isEqualTo(
            new Target.CacheFile(CacheFileKind.REALISATION, "/realisations/" + ID + ".doi", ID));
  }

  /** {@code ?} may be in a store path name; it can only arrive escaped, and goes upstream escaped. */
  @Test
  void questionMarkGoesUpstreamEscaped() {
    assertThat(RequestPath.classify("/log/" + HASH + "-what%3F.drv"))
        .isEqualTo(new Target.CacheFile(CacheFileKind.LOG, "/log/" + HASH + "-what%3F.drv", null));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "/log/x",
        "/log/",
        "/log/..",
        "/log/%2e%2e",
        "/log/%2E%2E/%2E%2E/etc/passwd",
        "/log/" + HASH + "-a%2fb.drv",
        "/log/" + HASH + "-a%00.drv",
        "/log/" + HASH + "-a%0a.drv",
        "/log/" + HASH + "-a%.drv",
        "/log/" + HASH + "-a%4.drv",
        "/log/" + HASH + "-a%252e.drv",
        "/log/" + HASH + "-.hidden",
        "/log/" + HASH + "-a/b",
        "/log/" + HASH + "-a\b",
        "/log/" + HASH + "-a b",
        "/log/" + HASH + "-é",
        // '^' is decoded (raw or %5E) but is in no name Nix uses: a store path or output name with
        // it is malformed
        "/build-trace-v2/" + HASH + "-x.drv/a^b.doi",
        "/build-trace-v2/" + HASH + "-x.drv/a%5Eb.doi",
        "/log/" + HASH + "-x.drv^out",
        "/realisations/sha256:abc!out",
        "/realisations/sha256:abc.doi",
        "/realisations/sha256:!out.doi",
        "/realisations/:abc!out.doi",
        "/realisations/sha256:abc!.doi",
        "/realisations/sha256:abc!out/x.doi",
        "/realisations/sha256:ABC%2F!out.doi",
        "/realisations/../x.doi",
        "/build-trace-v2/" + HASH + "-x.drv/..",
        "/build-trace-v2/" + HASH + "-x.drv/../out.doi",
        "/build-trace-v2/" + HASH + "-x/out.doi",
        "/build-trace-v2/" + HASH + "-x.drv",
        "/build-trace-v2/" + HASH + "-x.drv/out",
        "/debuginfo/",
        "/debuginfo/XYZ",
        "/debuginfo/ABCDEF",
        "/debuginfo/..",
        "/debuginfo/.debug",
        "/debuginfo/ab.debug.debug",
        "/eeee456789abcdfghijklmnpqrsvwxyz.ls",
        "/" + HASH + "x.ls",
      })
  void malformedCacheFilesAreRejectedWith400(String uri) {
    assertThat(RequestPath.classify(uri)).isInstanceOf(Target.Rejected.class);
    assertThat(((Target.Rejected) RequestPath.classify(uri)).status()).isEqualTo(400);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "/eeee456789abcdfghijklmnpqrsvwxyz.narinfo", // 'e' is not in Nix base32
        "/0123456789abcdfghijklmnpqrsvwxy.narinfo", // 31 chars
        "/0123456789abcdfghijklmnpqrsvwxyzz.narinfo", // 33 chars
        "/../etc/passwd",
        "/nar/../secret",
        "/nar/%2e%2e/secret",
        "/nar/a%2fb",
        "/nar/a/b",
        "/nar/",
        "//evil.example/x",
        "http://evil.example/x",
        "*",
        "/nar/a\\b",
        "/nar/a b",
        "/nix-cache-info/.",
        "/a//b",
      })
  void malformedIsRejectedWith4xx(String uri) {
    Target t = RequestPath.classify(uri);
    assertThat(t).isInstanceOf(Target.Rejected.class);
    assertThat(((Target.Rejected) t).status()).isBetween(400, 499);
  }

  @Test
  void overlongUriIsRejected() {
    Target t = RequestPath.classify("/nar/" + "a".repeat(2000));
    assertThat(t).isEqualTo(new Target.Rejected(414, "URI too long"));
  }
}
