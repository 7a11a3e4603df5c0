package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.FallbackCacheConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.route.Route;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import dev.ncro.support.NixFixture;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client substituting a closure through ncro whose two regular upstreams (nginx over
 * the fixture's partial caches) each miss part of it, and miss some paths together: those come from
 * the fallback cache (nginx over the complete cache), and only those are ever asked of it.
 */
class FallbackCacheE2E {
  private static NixFixture fx;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @BeforeAll
  static void fixture() {
    fx = NixFixture.get();
  }

  private Nginx serve(String cache) throws Exception {
    return open.keep(Nginx.serve(fx.cache(cache).dir()));
  }

  @Test
  void theFallbackCacheSuppliesExactlyThePathsNoRegularUpstreamHas() throws Exception {
    Nginx a = serve("partial-a");
    Nginx b = serve("partial-b");
    Nginx fallback = serve("complete");
    NcroHarness ncro = open.keep(NcroHarness.start(NcroHarness.config(
            dir.resolve("routes.db"),
            NcroHarness.upstreams(
                List.of(a.uri(), b.uri()),
                List.of(fx.cache("partial-a").publicKey(), fx.cache("partial-b").publicKey())))
        .withFallbackCache(FallbackCacheConfig.of(
            new UpstreamConfig(fallback.uri(), 10, List.of(fx.cache("complete").publicKey()))))));

    NixClient nix = new NixClient(dir.resolve("client"));
    NixFixture.Result r = nix.realise(List.of(ncro.uri("")), fx.trustedPublicKeys(), fx.root());
    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    assertThat(nix.verify(fx.paths()).exitCode()).isZero();

    Set<String> onlyFallback = new TreeSet<>();
    for (String p : fx.paths()) {
      if (!fx.cache("partial-a").holds(p) && !fx.cache("partial-b").holds(p)) {
        onlyFallback.add(NixFixture.hashOf(p));
      }
    }
    assertThat(onlyFallback).as("paths no regular upstream has").isNotEmpty();
    for (String p : fx.paths()) {
      String hash = NixFixture.hashOf(p);
      URI expected = onlyFallback.contains(hash)
          ? fallback.uri()
          : fx.cache("partial-a").holds(p) && fx.cache("partial-b").holds(p)
              ? null
              : fx.cache("partial-a").holds(p) ? a.uri() : b.uri();
      if (expected != null) {
        assertThat(ncro.ncro().store().get(hash).map(Route::upstream))
            .as("route of %s", p)
            .hasValue(expected.toString());
      }
    }

    // The fallback cache was asked for exactly those narinfos, and served their NARs.
    Set<String> askedNarinfos = new TreeSet<>();
    int nars = 0;
    for (String line : fallback.accessLog()) {
      String uri = line.split(" ")[1];
      if (uri.endsWith(".narinfo")) {
        askedNarinfos.add(uri.substring(1, uri.length() - ".narinfo".length()));
      } else if (uri.startsWith("/nar/")) {
        assertThat(line.split(" ")[2]).as("fallback NAR answer: %s", line).isEqualTo("200");
        nars++;
      }
    }
    assertThat(askedNarinfos).isEqualTo(onlyFallback);
    assertThat(nars).isEqualTo(onlyFallback.size());
  }
}
