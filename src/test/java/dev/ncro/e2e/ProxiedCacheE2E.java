package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.OutboundProxy;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.config.UpstreamCredentials;
import dev.ncro.route.Route;
import dev.ncro.support.Closer;
import dev.ncro.support.ForwardProxy;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import dev.ncro.support.NixFixture;
import dev.ncro.support.TestCa;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client substituting through ncro on a machine whose only way to the HTTPS cache is a
 * proxy: ncro reaches nginx (TLS, a CA made for this run) through a CONNECT tunnel of real
 * tinyproxy, from {@code https_proxy}; nginx admits only the proxy's outgoing address. The
 * plain-HTTP LAN cache beside it is reached directly. Nix itself knows of neither the proxy nor
 * the caches.
 */
class ProxiedCacheE2E {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @Test
  void nixSubstitutesAClosureWhosePrivatePartIsOnlyBehindTheProxy() throws Exception {
    NixFixture fx = NixFixture.get();
    TestCa ca = TestCa.create(dir.resolve("ca"), "ncro proxy e2e CA");
    TestCa.ServerCert cert = ca.issue(List.of("localhost"), List.of("127.0.0.1"));
    ForwardProxy proxy = open.keep(ForwardProxy.http(null, null));
    Nginx lan = open.keep(Nginx.serve(fx.cache("partial-a").dir()));
    Nginx remote = open.keep(Nginx.tls(
        cert,
        "allow " + ForwardProxy.OUTGOING + ";\n      deny all;\n      root "
            + fx.cache("complete").dir() + ";\n      location / { }"));
    String remoteUrl = remote.httpsUri("localhost").toString();
    List<UpstreamConfig> ups = List.of(
        new UpstreamConfig(lan.uri(), 10, List.of(fx.cache("partial-a").publicKey())),
        new UpstreamConfig(
            remote.httpsUri("localhost"),
            20,
            List.of(fx.cache("complete").publicKey()),
            ca.certificate(),
            UpstreamCredentials.NONE));
    NcroHarness ncro = open.keep(NcroHarness.start(NcroHarness.config(dir.resolve("routes.db"), ups)
        .withProxy(OutboundProxy.fromEnvironment(Map.of("https_proxy", proxy.url("http", null))))));

    new NixClient(dir.resolve("client")).assertSubstitutes(List.of(ncro.uri("")), fx);
    List<String> remoteOnly =
        fx.paths().stream().filter(p -> !fx.cache("partial-a").holds(p)).toList();
    assertThat(remoteOnly).isNotEmpty();
    for (String p : remoteOnly) {
      assertThat(ncro.ncro().store().get(NixFixture.hashOf(p)).map(Route::upstream))
          .as("route of %s", p)
          .hasValue(remoteUrl);
    }
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("CONNECT localhost:" + remote.port()))
        .noneSatisfy(l -> assertThat(l).contains(":" + lan.port()));
  }
}
