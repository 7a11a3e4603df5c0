package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.S3Location;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.route.Route;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.NixFixture;
import dev.ncro.support.S3Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client (nix-bin 2.8, which has no S3 support of its own) substitutes a real closure
 * through ncro from an S3 bucket (S3Proxy, signatures checked) and an nginx binary cache; the
 * paths the nginx cache lacks exist only in the bucket.
 */
class S3SubstitutionE2E {
  private static NixFixture fx;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @BeforeAll
  static void fixture() {
    fx = NixFixture.get();
  }

  @Test
  void nixSubstitutesAClosureWhosePathsAreOnlyPartlyOutsideTheBucket() throws Exception {
    S3Proxy s3 = open.keep(S3Proxy.start(dir.resolve("s3proxy")));
    s3.putTree("nix-cache", "ci/main", fx.cache("complete").dir());
    FarCache partial =
        open.keep(FarCache.serving("partial-a", fx.cache("partial-a").dir(), Duration.ofMillis(5)));
    UpstreamConfig bucket = UpstreamConfig.s3(
        S3Location.parse("s3://nix-cache/ci/main?endpoint=" + s3.hostPort()
            + "&scheme=http&region=eu-central-1"),
        20,
        List.of(fx.cache("complete").publicKey()));
    UpstreamConfig http =
        new UpstreamConfig(partial.uri(), 10, List.of(fx.cache("partial-a").publicKey()));
    NcroHarness ncro = open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), List.of(http, bucket)),
        S3Proxy.awsEnv(dir.resolve("home"), s3.secretKey())));

    NixClient nix = new NixClient(dir.resolve("client"));
    NixFixture.Result r = nix.realise(List.of(ncro.uri("")), fx.trustedPublicKeys(), fx.root());

    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    nix.assertHoldsValid(fx);
    List<String> onlyInBucket = new ArrayList<>();
    for (String path : fx.paths()) {
      if (fx.cache("partial-a").holds(path)) {
        continue;
      }
      onlyInBucket.add(path);
      Route route = ncro.ncro().store().get(NixFixture.hashOf(path)).orElseThrow();
      assertThat(route.upstream())
          .as("route of %s, held only by the bucket", path)
          .isEqualTo(bucket.url().toString());
    }
    assertThat(onlyInBucket).as("the closure needs the bucket").isNotEmpty();
    assertThat(ncro.ncro().registry().all().get(1).stats().narBytes()).isPositive();
  }
}
