package dev.ncro.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.e2e.NixClient;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import dev.ncro.support.NixFixture;
import dev.ncro.support.Postgres;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client (nix-bin) and two ncro nodes on one real PostgreSQL: a closure one machine
 * substituted through node A is substituted by another machine through node B with no narinfo
 * request reaching the binary cache (B answers every narinfo from the shared routes).
 */
class PostgresFleetE2E {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private static long narinfoRequests(Nginx cache) throws Exception {
    return cache.accessLog().stream()
        .filter(l -> l.split(" ")[1].endsWith(".narinfo"))
        .count();
  }

  @Test
  void aClosureLearnedThroughNodeAIsSubstitutedThroughNodeBWithoutUpstreamNarinfoRequests()
      throws Exception {
    NixFixture fx = NixFixture.get();
    NixFixture.Cache complete = fx.cache("complete");
    Nginx cache = open.keep(Nginx.serve(complete.dir()));
    Postgres pg = open.keep(Postgres.start());
    PostgresFleet fleet = new PostgresFleet(pg, "nixfleet", dir, open);
    NcroHarness a = fleet.node(List.of(cache.uri()), complete.publicKey(), "");
    NcroHarness b = fleet.node(List.of(cache.uri()), complete.publicKey(), "");

    NixClient first = new NixClient(dir.resolve("machine-1"));
    NixFixture.Result r1 = first.realise(List.of(a.uri("")), fx.trustedPublicKeys(), fx.root());
    assertThat(r1.exitCode())
        .as("nix-store --realise through node A:\n%s", r1.output())
        .isZero();
    for (String path : fx.paths()) {
      Await.until(
          "node A's route for " + path + " reached the database",
          () -> fleet.hasRoute(NixFixture.hashOf(path)));
    }
    long before = narinfoRequests(cache);
    assertThat(before).isGreaterThanOrEqualTo(fx.paths().size());

    NixClient second = new NixClient(dir.resolve("machine-2"));
    NixFixture.Result r2 = second.realise(List.of(b.uri("")), fx.trustedPublicKeys(), fx.root());
    assertThat(r2.exitCode())
        .as("nix-store --realise through node B:\n%s", r2.output())
        .isZero();
    assertThat(second.requisites(fx.root())).containsExactlyElementsOf(new TreeSet<>(fx.paths()));
    NixFixture.Result verified = second.verify(fx.paths());
    assertThat(verified.exitCode())
        .as("nix-store --verify-path:\n%s", verified.output())
        .isZero();
    assertThat(narinfoRequests(cache))
        .as("narinfo requests reaching the cache through node B")
        .isEqualTo(before);
    String metrics = PostgresFleet.text(b.get("/metrics").body());
    assertThat(metrics)
        .containsPattern("(?m)^ncro_narinfo_cache_misses_total 0(\\.0)?$")
        .containsPattern("(?m)^ncro_narinfo_cache_hits_total [1-9]");
  }
}
