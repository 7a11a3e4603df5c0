package dev.ncro.ui;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.config.DiscoveryConfig;
import dev.ncro.config.OutboundProxy;
import dev.ncro.discovery.DiscoveredCaches;
import dev.ncro.support.ForwardProxy;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The status page in a real headless Chromium, against a real ncro: rows appear, update live, go stale. */
class StatusPageE2E {
  private static final Duration WAIT = Duration.ofSeconds(10);
  /** The upstream rows as the page shows them. */
  private static final String ROWS =
      "[...document.querySelectorAll('#upstreams tr[data-upstream]')].map(tr => ({"
          + "url: tr.dataset.upstream, state: tr.dataset.state, "
          + "wins: Number(tr.querySelector('[data-field=race_wins]').dataset.value), "
          + "errors: Number(tr.querySelector('[data-field=errors]').dataset.value)}))";

  private static final String TEXT = "document.querySelector('main').innerText";

  @TempDir
  Path dir;

  @Test
  void upstreamRowsAppearAndUpdateAfterTrafficWithoutReload() throws Exception {
    try (TestUpstream fast = TestUpstream.start();
        TestUpstream broken = TestUpstream.start()) {
      broken.status5xxForAll(500);
      try (NcroHarness n = NcroHarness.start(NcroHarness.config(
              dir.resolve("r.db"),
              NcroHarness.upstreams(List.of(fast.uri(), broken.uri()), null),
              Duration.ofMillis(200)));
          Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
        page.waitFor(
            "document.querySelectorAll('#upstreams tr[data-upstream]').length === 2", WAIT, TEXT);
        JsonNode rows = page.eval(ROWS);
        assertThat(rows.get(0).get("url").asText()).isEqualTo(fast.uri().toString());
        assertThat(rows.get(0).get("state").asText()).isEqualTo("active");
        assertThat(rows.get(0).get("wins").asInt()).isZero();
        assertThat(rows.get(1).get("url").asText()).isEqualTo(broken.uri().toString());
        assertThat(page.eval("document.title").asText()).startsWith("ncro");
        page.eval("window.ncroE2eMarker = 42"); // gone if the page reloads
        int polls = page.eval("Number(document.body.dataset.polls)").asInt();

        for (int i = 0; i < 3; i++) {
          String h = TestNarinfo.hash(700 + i);
          fast.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar", 100, null));
          assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
        }
        assertThat(n.get("/" + TestNarinfo.hash(700) + ".narinfo").statusCode())
            .isEqualTo(200); // a cache hit

        String fastRow =
            "document.querySelector('#upstreams tr[data-upstream=\"" + fast.uri() + "\"]')";
        page.waitFor(
            fastRow + ".querySelector('[data-field=race_wins]').dataset.value === '3'", WAIT, ROWS);
        page.waitFor(
            "['degraded', 'down'].includes(document.querySelector('#upstreams tr[data-upstream=\""
                + broken.uri() + "\"]').dataset.state)",
            WAIT,
            ROWS);
        page.waitFor(
            "document.querySelector('[data-tile=hit_ratio] .value').textContent === '25.0 %'",
            WAIT, TEXT);
        assertThat(page.eval(ROWS).get(1).get("errors").asInt()).isPositive();
        assertThat(page.eval("document.getElementById('health').dataset.state").asText())
            .isEqualTo("degraded");
        JsonNode races = page.eval("[...document.querySelectorAll('#races tr[data-hash]')]"
            + ".map(tr => tr.dataset.outcome + ' ' + tr.dataset.hash)");
        assertThat(races)
            .extracting(JsonNode::asText)
            .containsExactly(
                "won " + TestNarinfo.hash(702),
                "won " + TestNarinfo.hash(701),
                "won " + TestNarinfo.hash(700));
        assertThat(page.eval("window.ncroE2eMarker").asInt())
            .as("the page was not reloaded")
            .isEqualTo(42);
        assertThat(page.eval("Number(document.body.dataset.polls)").asInt()).isGreaterThan(polls);

        n.close(); // ncro goes away: the page says so and keeps the last data, greyed
        page.waitFor(
            "document.getElementById('health').dataset.state === 'unreachable'", WAIT, TEXT);
        assertThat(page.eval("document.getElementById('health').textContent").asText())
            .isEqualTo("ncro unreachable");
        assertThat(page.eval("document.body.classList.contains('stale')").asBoolean())
            .isTrue();
        assertThat(page.eval(ROWS)).hasSize(2);
      }
    }
  }

  /**
   * Three upstreams (fast, slow, one that fails mid-run) under a little mixed traffic, captured as
   * {@code status-page.png} in the build directory: the picture in docs/ comes from here.
   */
  @Test
  void screenshotOfABusyProxy() throws Exception {
    try (TestUpstream fast = TestUpstream.start();
        TestUpstream slow = TestUpstream.start();
        TestUpstream flaky = TestUpstream.start()) {
      fast.setLatency(Duration.ofMillis(4));
      slow.setLatency(Duration.ofMillis(60));
      flaky.setLatency(Duration.ofMillis(20));
      try (NcroHarness n = NcroHarness.start(NcroHarness.config(
          dir.resolve("r.db"),
          NcroHarness.upstreams(List.of(fast.uri(), slow.uri(), flaky.uri()), null),
          Duration.ofMillis(250)))) {
        Random random = new Random(7);
        List<String> hashes = new ArrayList<>();
        for (int i = 0; i < 40; i++) { // random-looking hashes, as real store paths have
          StringBuilder h = new StringBuilder();
          random
              .ints(32, 0, 32)
              .forEach(k -> h.append("0123456789abcdfghijklmnpqrsvwxyz".charAt(k)));
          hashes.add(h.toString());
        }
        for (int i = 0; i < 34; i++) {
          String h = hashes.get(i);
          byte[] narinfo = TestNarinfo.make(h, "nar/" + h + ".nar.xz", 4096, null);
          if (i < 18) { // everywhere: the fast one wins
            fast.putNarinfo(h, narinfo);
            slow.putNarinfo(h, narinfo);
            byte[] nar = new byte[256 * 1024 + random.nextInt(768 * 1024)];
            random.nextBytes(nar);
            fast.putNar("/nar/" + h + ".nar.xz", nar);
          } else if (i < 24) {
            slow.putNarinfo(h, narinfo);
          } else if (i < 28) {
            flaky.putNarinfo(h, narinfo);
          } // else: nowhere
          n.get("/" + h + ".narinfo");
          if (i < 8) {
            n.get("/nar/" + h + ".nar.xz");
          }
        }
        for (int i = 0; i < 56; i++) {
          n.get("/" + hashes.get(i % 28) + ".narinfo"); // cache hits
        }
        n.get("/" + hashes.get(31) + ".narinfo"); // negative hits
        n.get("/" + hashes.get(32) + ".narinfo");
        flaky.status5xxForAll(502);
        for (int i = 0; i < 4; i++) {
          String h = hashes.get(34 + i);
          if (i < 2) {
            fast.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 4096, null));
          }
          n.get("/" + h + ".narinfo"); // won by fast, or unavailable (flaky answers 502)
        }
        try (Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
          page.send(
              "Emulation.setEmulatedMedia",
              new ObjectMapper()
                  .createObjectNode()
                  .set(
                      "features",
                      new ObjectMapper()
                          .readTree(
                              "[{\"name\": \"prefers-color-scheme\", \"value\": \"light\"}]")));
          page.waitFor(
              "document.querySelector('#upstreams tr[data-upstream=\"" + flaky.uri()
                  + "\"]')?.dataset.state === 'down'",
              WAIT,
              ROWS);
          page.waitFor(
              "document.querySelectorAll('#races tr[data-hash]').length >= 38", WAIT, TEXT);
          assertThat(page.eval("document.getElementById('health').textContent").asText())
              .isEqualTo("Degraded: 1 of 3 upstreams down");
          byte[] png = page.screenshot();
          assertThat(png).startsWith(0x89, 'P', 'N', 'G');
          Path out = Path.of(System.getProperty("ncro.jar", "target/ncro.jar"))
              .resolveSibling("status-page.png");
          Files.createDirectories(out.getParent());
          Files.write(out, png);
        }
      }
    }
  }

  @Test
  void pageIsSelfContainedAndNeverInjectsMarkup() throws Exception {
    String html;
    try (InputStream in = StatusPageE2E.class.getResourceAsStream("/ui/status.html")) {
      html = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    assertThat(html)
        .doesNotContain(
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "<link",
            " src=",
            "@import",
            "url(",
            "http://",
            "https://");
  }

  /**
   * An upstream found by mDNS gets a row marked as discovered, with the instance that announced
   * it, and the row goes when the announcement does (the announcement is handed to discovery
   * directly here; DiscoveryIT covers the multicast side).
   */
  @Test
  void aDiscoveredUpstreamIsMarkedAndItsRowLeavesWithItsAnnouncement() throws Exception {
    try (TestUpstream configured = TestUpstream.start();
        TestUpstream lan = TestUpstream.start()) {
      try (NcroHarness n = NcroHarness.start(NcroHarness.config(
              dir.resolve("r.db"),
              NcroHarness.upstreams(List.of(configured.uri()), null),
              Duration.ofMillis(200)));
          Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
        page.waitFor(
            "document.querySelectorAll('#upstreams tr[data-upstream]').length === 1", WAIT, TEXT);
        DiscoveryConfig d = new DiscoveryConfig(
            true,
            "_nix-serve._tcp",
            "local",
            20,
            List.of("lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="));
        DiscoveredCaches caches = new DiscoveredCaches(n.ncro().registry(), d, 0.3);
        caches.announced(new DiscoveredCaches.Announcement(
            "lo builder",
            "builder-3 cache",
            List.of(InetAddress.getLoopbackAddress()),
            lan.uri().getPort(),
            ""));
        String lanRow = "document.querySelector('#upstreams tr[data-upstream=\"http://127.0.0.1:"
            + lan.uri().getPort() + "\"]')";
        page.waitFor(lanRow + " !== null && " + lanRow + ".dataset.state === 'active'", WAIT, TEXT);
        assertThat(page.eval(lanRow + ".querySelector('[data-field=url]').innerText")
                .asText())
            .contains("discovered (mDNS): builder-3 cache");
        assertThat(page.eval(lanRow + ".querySelector('[data-field=priority]').dataset.value")
                .asText())
            .isEqualTo("20");
        String configuredRow =
            "document.querySelector('#upstreams tr[data-upstream=\"" + configured.uri() + "\"]')";
        assertThat(page.eval(configuredRow + ".innerText").asText()).doesNotContain("discovered");
        // For a person to look at: the build directory's status-page-discovered.png.
        Path out = Path.of(System.getProperty("ncro.jar", "target/ncro.jar"))
            .resolveSibling("status-page-discovered.png");
        Files.createDirectories(out.getParent());
        Files.write(out, page.screenshot());
        caches.withdrawn("lo builder", "goodbye");
        page.waitFor(lanRow + " === null", WAIT, TEXT);
        assertThat(page.eval(ROWS)).hasSize(1);
      }
    }
  }

  @Test
  void aRateLimitedUpstreamSaysForHowLongAndAProxiedOneThroughWhich() throws Exception {
    try (ForwardProxy proxy = ForwardProxy.http(null, null);
        TestUpstream busy = TestUpstream.start();
        TestUpstream other = TestUpstream.start()) {
      try (NcroHarness n = NcroHarness.start(NcroHarness.config(
                  dir.resolve("r.db"),
                  NcroHarness.upstreams(List.of(busy.uri(), other.uri()), null),
                  Duration.ofHours(1))
              .withProxy(
                  OutboundProxy.fromEnvironment(Map.of("http_proxy", proxy.url("http", null)))));
          Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
        n.awaitProbedAndWarm(Duration.ZERO);
        busy.throttleAll(429, "300");
        String h = TestNarinfo.hash(730);
        other.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar", 100, null));
        assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
        String busyRow =
            "document.querySelector('#upstreams tr[data-upstream=\"" + busy.uri() + "\"]')";
        page.waitFor(
            busyRow + "?.querySelector('[data-field=state]').innerText.includes('rate-limited')",
            WAIT,
            TEXT);
        assertThat(page.eval(busyRow + ".querySelector('[data-field=state]').innerText")
                .asText())
            .contains("active")
            .containsPattern("rate-limited: asked to wait [45]m");
        assertThat(page.eval(busyRow + ".querySelector('[data-field=url]').innerText")
                .asText())
            .contains("via proxy " + proxy.url("http", null));
        assertThat(page.eval(busyRow + ".querySelector('[data-field=errors]').innerText")
                .asText())
            .contains("throttled");
      }
    }
  }

  @Test
  void anUnusableCredentialFileIsShownUnderItsUpstream() throws Exception {
    try (TestUpstream up = TestUpstream.start()) {
      Path token = Files.writeString(dir.resolve("token"), "tok-1\n");
      Config c = ConfigLoader.load(
          """
          server:
            listen: "127.0.0.1:0"
          cache:
            db_path: "%s"
            probe_interval: 1h
          upstreams:
            - url: "%s"
              bearer_token_file: "%s"
          """.formatted(dir.resolve("c.db"), up.uri(), token), "test.yaml", Map.of());
      try (NcroHarness n = NcroHarness.start(c);
          Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
        String row = "document.querySelector('#upstreams tr[data-upstream=\"" + up.uri() + "\"]')";
        page.waitFor(row + " !== null", WAIT, TEXT);
        assertThat(page.eval(row + ".querySelector('[data-field=state]').innerText")
                .asText())
            .doesNotContain("credential file");
        Files.writeString(token, ""); // a rotation gone wrong: ncro keeps the last good token
        page.waitFor(
            row + ".querySelector('[data-field=state]').innerText.includes('credential file')",
            WAIT,
            TEXT);
        assertThat(page.eval(row + ".querySelector('[data-field=state]').innerText")
                .asText())
            .contains("credential file changed but unusable")
            .doesNotContain("tok-1");
      }
    }
  }
}
