package dev.ncro.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.Config;
import dev.ncro.config.MeshConfig;
import dev.ncro.config.PathFilter;
import dev.ncro.config.PathFilter.Action;
import dev.ncro.config.PathFilter.Field;
import dev.ncro.config.PathFilters;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.mesh.NodeIdentity;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Path filters against real loopback upstreams: each field, allow and deny, deny winning. A refused
 * answer counts as absent from that upstream: never served or stored, the NAR never asked there,
 * a route stored before the filter existed not used, a peer's gossiped route for it ignored.
 */
class PathFiltersIT {
  private static final String STORE = "/nix/store/";

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  /** An unsigned narinfo for {@code /nix/store/<hash>-<name>}, with these reference names and deriver. */
  private static byte[] narinfo(
      String hash, String name, List<String> refNames, String deriverName) {
    List<String> refs = new ArrayList<>();
    for (int i = 0; i < refNames.size(); i++) {
      refs.add(TestNarinfo.hash(9000 + i) + "-" + refNames.get(i));
    }
    return ("StorePath: " + STORE + hash + "-" + name + "\nURL: nar/" + hash
            + ".nar\nCompression: none\n"
            + "FileHash: sha256:0a8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\nFileSize: 4\n"
            + "NarHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\nNarSize: 4\n"
            + "References: " + String.join(" ", refs) + "\n"
            + (deriverName == null
                ? ""
                : "Deriver: " + TestNarinfo.hash(8000) + "-" + deriverName + "\n"))
        .getBytes(StandardCharsets.UTF_8);
  }

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  /** Puts the path's narinfo and its 4-byte NAR on {@code u}. */
  private static void hold(TestUpstream u, String hash, byte[] narinfo) {
    u.putNarinfo(hash, narinfo);
    u.putNar("/nar/" + hash + ".nar", "nar!".getBytes(StandardCharsets.UTF_8));
  }

  private NcroHarness ncro(String db, List<UpstreamConfig> upstreams) throws Exception {
    return open.keep(NcroHarness.start(NcroHarness.config(dir.resolve(db), upstreams)));
  }

  private static UpstreamConfig filtered(URI uri, int priority, PathFilter... rules) {
    return new UpstreamConfig(uri, priority, List.of())
        .withFilters(new PathFilters(List.of(rules)));
  }

  private static String narinfoPath(String hash) {
    return "/" + hash + ".narinfo";
  }

  @Test
  void eachFieldDeniesAndTheDeniedPathIsAbsentThereNeverServedStoredOrFetched() throws Exception {
    TestUpstream a = upstream();
    TestUpstream b = upstream();
    String byName = TestNarinfo.hash(1);
    String byPath = TestNarinfo.hash(2);
    String byRef = TestNarinfo.hash(3);
    String byDeriver = TestNarinfo.hash(4);
    String clean = TestNarinfo.hash(5);
    hold(a, byName, narinfo(byName, "secret-tool-1.0", List.of(), null));
    hold(a, byPath, narinfo(byPath, "plain-1.0", List.of(), null));
    hold(a, byRef, narinfo(byRef, "app-1.0", List.of("openssl-1.0.2u", "zlib-1.3"), null));
    hold(a, byDeriver, narinfo(byDeriver, "built-1.0", List.of(), "evil-builder.drv"));
    hold(a, clean, narinfo(clean, "hello-2.12", List.of("glibc-2.39"), "hello-2.12.drv"));
    // B holds the name-denied path too: through B it is served, and only through B.
    hold(b, byName, narinfo(byName, "secret-tool-1.0", List.of(), null));
    NcroHarness n = ncro(
        "deny.db",
        List.of(
            filtered(
                a.uri(),
                10,
                new PathFilter(Action.DENY, Field.NAME, "secret-*"),
                new PathFilter(Action.DENY, Field.STORE_PATH, STORE + byPath + "-*"),
                new PathFilter(Action.DENY, Field.REFERENCE, STORE + "*-openssl-1.0*"),
                new PathFilter(Action.DENY, Field.DERIVER, STORE + "*-evil-*.drv")),
            new UpstreamConfig(b.uri(), 20, List.of())));

    for (String denied : List.of(byPath, byRef, byDeriver)) {
      HttpResponse<byte[]> r = n.get(narinfoPath(denied));
      assertThat(r.statusCode()).as("narinfo of %s", denied).isEqualTo(404);
      assertThat(a.requestCount(narinfoPath(denied)))
          .as("A was asked for %s", denied)
          .isEqualTo(1);
      assertThat(n.ncro().store().get(denied)).as("route of %s", denied).isEmpty();
      assertThat(n.get("/nar/" + denied + ".nar").statusCode())
          .as("NAR of %s", denied)
          .isEqualTo(404);
      assertThat(a.requestCount("/nar/" + denied + ".nar"))
          .as("A asked for the NAR of %s", denied)
          .isZero();
    }

    String metrics = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    assertThat(metrics).contains("ncro_narinfo_filtered_total{upstream=\"" + a.uri() + "\"} 3.0");

    HttpResponse<byte[]> viaB = n.get(narinfoPath(byName));
    assertThat(viaB.statusCode()).isEqualTo(200);
    assertThat(viaB.headers().firstValue("X-Ncro-Upstream")).hasValue(b.uri().getAuthority());
    assertThat(n.ncro().store().get(byName).orElseThrow().upstream())
        .isEqualTo(b.uri().toString());
    HttpResponse<byte[]> nar = n.get("/nar/" + byName + ".nar");
    assertThat(nar.statusCode()).isEqualTo(200);
    assertThat(nar.headers().firstValue("X-Ncro-Upstream")).hasValue(b.uri().getAuthority());
    // Even when B loses the file, A (which has it) is never asked for it.
    b.put("/nar/" + byName + ".nar", TestUpstream.Response.status(404));
    assertThat(n.get("/nar/" + byName + ".nar").statusCode()).isEqualTo(404);
    assertThat(a.requestCount("/nar/" + byName + ".nar")).isZero();

    HttpResponse<byte[]> ok = n.get(narinfoPath(clean));
    assertThat(ok.statusCode()).isEqualTo(200);
    assertThat(ok.headers().firstValue("X-Ncro-Upstream")).hasValue(a.uri().getAuthority());
    assertThat(n.get("/nar/" + clean + ".nar").statusCode()).isEqualTo(200);
    assertThat(a.requestCount("/nar/" + clean + ".nar")).isEqualTo(1);
  }

  @Test
  void eachFieldAllowsAndWithAllowRulesAnUnmatchedPathIsAbsent() throws Exception {
    TestUpstream a = upstream();
    String byName = TestNarinfo.hash(11);
    String byPath = TestNarinfo.hash(12);
    String byRef = TestNarinfo.hash(13);
    String byDeriver = TestNarinfo.hash(14);
    String other = TestNarinfo.hash(15);
    hold(a, byName, narinfo(byName, "mycorp-tool-1.0", List.of(), null));
    hold(a, byPath, narinfo(byPath, "pinned-1.0", List.of(), null));
    hold(a, byRef, narinfo(byRef, "plugin-1.0", List.of("mycorp-lib-2.0"), null));
    hold(a, byDeriver, narinfo(byDeriver, "artifact", List.of(), "mycorp-build.drv"));
    hold(a, other, narinfo(other, "hello-2.12", List.of("glibc-2.39"), "hello-2.12.drv"));
    NcroHarness n = ncro(
        "allow.db",
        List.of(filtered(
            a.uri(),
            10,
            new PathFilter(Action.ALLOW, Field.NAME, "mycorp-*"),
            new PathFilter(Action.ALLOW, Field.STORE_PATH, STORE + byPath + "-pinned-*"),
            new PathFilter(Action.ALLOW, Field.REFERENCE, STORE + "*-mycorp-lib-*"),
            new PathFilter(Action.ALLOW, Field.DERIVER, "*-mycorp-*.drv"))));

    for (String allowed : List.of(byName, byPath, byRef, byDeriver)) {
      HttpResponse<byte[]> r = n.get(narinfoPath(allowed));
      assertThat(r.statusCode()).as("narinfo of %s", allowed).isEqualTo(200);
      assertThat(n.get("/nar/" + allowed + ".nar").statusCode())
          .as("NAR of %s", allowed)
          .isEqualTo(200);
    }
    assertThat(n.get(narinfoPath(other)).statusCode()).isEqualTo(404);
    assertThat(n.ncro().store().get(other)).isEmpty();
    assertThat(n.get("/nar/" + other + ".nar").statusCode()).isEqualTo(404);
    assertThat(a.requestCount("/nar/" + other + ".nar")).isZero();
  }

  @Test
  void denyWinsOverAnAllowThatMatches() throws Exception {
    TestUpstream a = upstream();
    String stable = TestNarinfo.hash(21);
    String beta = TestNarinfo.hash(22);
    String linked = TestNarinfo.hash(23);
    hold(a, stable, narinfo(stable, "mycorp-tool-1.0", List.of("mycorp-lib-2.0"), null));
    hold(a, beta, narinfo(beta, "mycorp-tool-beta", List.of(), null));
    hold(a, linked, narinfo(linked, "mycorp-app-1.0", List.of("unfree-codec-3"), null));
    NcroHarness n = ncro(
        "wins.db",
        List.of(filtered(
            a.uri(),
            10,
            new PathFilter(Action.DENY, Field.NAME, "*-beta"),
            new PathFilter(Action.ALLOW, Field.NAME, "mycorp-*"),
            new PathFilter(Action.DENY, Field.REFERENCE, "*-unfree-*"))));
    assertThat(n.get(narinfoPath(stable)).statusCode()).isEqualTo(200);
    assertThat(n.get(narinfoPath(beta)).statusCode())
        .as("allowed by name, denied by name")
        .isEqualTo(404);
    assertThat(n.get(narinfoPath(linked)).statusCode())
        .as("allowed by name, denied by reference")
        .isEqualTo(404);
  }

  @Test
  void aRouteStoredBeforeTheFilterExistedIsNotServedNorItsNarFetchedThere() throws Exception {
    TestUpstream a = upstream();
    String h = TestNarinfo.hash(31);
    hold(a, h, narinfo(h, "unfree-thing-1.0", List.of(), null));
    NcroHarness before = ncro("restart.db", List.of(new UpstreamConfig(a.uri(), 10, List.of())));
    assertThat(before.get(narinfoPath(h)).statusCode()).isEqualTo(200);
    Await.until("route stored", () -> before.ncro().store().count() == 1);
    before.close();

    NcroHarness after = ncro(
        "restart.db",
        List.of(filtered(a.uri(), 10, new PathFilter(Action.DENY, Field.NAME, "unfree-*"))));
    assertThat(after.ncro().store().get(h))
        .as("the old route is still in the database")
        .isPresent();
    int narinfoAsks = a.requestCount(narinfoPath(h));
    HttpResponse<byte[]> r = after.get(narinfoPath(h));
    assertThat(r.statusCode()).isEqualTo(404);
    assertThat(r.headers().firstValue("X-Ncro-Route")).isEmpty();
    assertThat(a.requestCount(narinfoPath(h)))
        .as("raced again instead of served from the stored route")
        .isEqualTo(narinfoAsks + 1);
    assertThat(after.get("/nar/" + h + ".nar").statusCode()).isEqualTo(404);
    assertThat(a.requestCount("/nar/" + h + ".nar")).isZero();
  }

  private static int freeUdpPort() throws Exception {
    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private NcroHarness meshNode(
      String name, int port, int peerPort, String peerKey, List<UpstreamConfig> ups)
      throws Exception {
    Path key = dir.resolve(name + ".key");
    NodeIdentity.loadOrCreate(key);
    Config base = NcroHarness.config(dir.resolve(name + ".db"), ups);
    MeshConfig mesh = new MeshConfig(
        true,
        "127.0.0.1:" + port,
        List.of(new MeshConfig.Peer("127.0.0.1:" + peerPort, peerKey)),
        key.toString(),
        Duration.ofMillis(200));
    return open.keep(NcroHarness.start(new Config(
        base.server(), base.upstreams(), base.cache(), base.timeouts(), base.logging(), mesh)));
  }

  @Test
  void aGossipedRouteNamingAnUpstreamWhoseFiltersRefuseThePathIsNotUsed() throws Exception {
    TestUpstream shared = upstream();
    TestUpstream second = upstream();
    String h = TestNarinfo.hash(41);
    byte[] info = narinfo(h, "unfree-thing-1.0", List.of(), null);
    hold(shared, h, info);
    hold(second, h, info);
    Path keyA = dir.resolve("a.key");
    Path keyB = dir.resolve("b.key");
    String pubA = NodeIdentity.loadOrCreate(keyA).publicKeyHex();
    String pubB = NodeIdentity.loadOrCreate(keyB).publicKeyHex();
    int portA = freeUdpPort();
    int portB = freeUdpPort();
    NcroHarness nodeA =
        meshNode("a", portA, portB, pubB, List.of(new UpstreamConfig(shared.uri(), 10, List.of())));
    NcroHarness nodeB = meshNode(
        "b",
        portB,
        portA,
        pubA,
        List.of(
            filtered(shared.uri(), 10, new PathFilter(Action.DENY, Field.NAME, "unfree-*")),
            new UpstreamConfig(second.uri(), 20, List.of())));

    HttpResponse<byte[]> atA = nodeA.get(narinfoPath(h));
    assertThat(atA.headers().firstValue("X-Ncro-Upstream"))
        .hasValue(shared.uri().getAuthority());
    Await.until(
        "B learns A's route naming `shared`",
        () -> nodeB.ncro().mesh().status().routesLearned() > 0);

    HttpResponse<byte[]> atB = nodeB.get(narinfoPath(h));
    assertThat(atB.statusCode()).isEqualTo(200);
    assertThat(atB.headers().firstValue("X-Ncro-Route"))
        .as("not the mesh route")
        .hasValue("race");
    assertThat(atB.headers().firstValue("X-Ncro-Upstream"))
        .hasValue(second.uri().getAuthority());
    assertThat(nodeB.ncro().store().get(h).orElseThrow().upstream())
        .isEqualTo(second.uri().toString());
    HttpResponse<byte[]> nar = nodeB.get("/nar/" + h + ".nar");
    assertThat(nar.statusCode()).isEqualTo(200);
    assertThat(nar.headers().firstValue("X-Ncro-Upstream"))
        .hasValue(second.uri().getAuthority());
    assertThat(shared.requestCount("/nar/" + h + ".nar")).isZero();
  }
}
