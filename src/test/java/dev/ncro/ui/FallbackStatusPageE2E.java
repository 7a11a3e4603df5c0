package dev.ncro.ui;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.FallbackCacheConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The status page in headless Chromium shows the fallback cache apart from the upstreams, and its answers. */
class FallbackStatusPageE2E {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final String TEXT = "document.querySelector('main').innerText";
  private static final String ROW = "document.querySelector('#fallback tr[data-upstream]')";

  @TempDir
  Path dir;

  @Test
  void theFallbackCardShowsItsStateAndItsAnswersAppearAmongTheRaces() throws Exception {
    try (TestUpstream regular = TestUpstream.start();
        TestUpstream fallback = TestUpstream.start()) {
      try (NcroHarness n = NcroHarness.start(NcroHarness.config(
                  dir.resolve("r.db"),
                  NcroHarness.upstreams(List.of(regular.uri()), null),
                  Duration.ofMillis(200))
              .withFallbackCache(
                  FallbackCacheConfig.of(new UpstreamConfig(fallback.uri(), 10, List.of()))));
          Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
        page.waitFor(
            "document.getElementById('fallback-card')?.hidden === false && " + ROW
                + "?.dataset.state === 'active'" + " && " + ROW
                + ".querySelector('[data-field=last_probe_age_seconds]').dataset.value !== ''",
            WAIT,
            TEXT);
        assertThat(page.eval(ROW + ".dataset.upstream").asText())
            .isEqualTo(fallback.uri().toString());
        assertThat(page.eval("document.querySelectorAll('#upstreams tr[data-upstream]').length")
                .asInt())
            .as("the fallback cache is not an upstream row")
            .isEqualTo(1);

        String h = TestNarinfo.hash(900);
        fallback.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar", 100, null));
        assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Route"))
            .hasValue("fallback");
        page.waitFor(
            "document.querySelector('#races tr[data-hash=\"" + h
                + "\"]')?.dataset.outcome === 'fallback'",
            WAIT,
            TEXT);
        assertThat(
                page.eval("document.getElementById('races-meta').textContent").asText())
            .contains("1 fallback");

        fallback.status5xxForAll(500); // failing now: the card shows it
        assertThat(n.get("/" + TestNarinfo.hash(901) + ".narinfo").statusCode()).isEqualTo(503);
        page.waitFor(
            "Number(" + ROW + ".querySelector('[data-field=errors]').dataset.value) > 0",
            WAIT,
            TEXT);
      }
    }
  }

  @Test
  void withoutAFallbackCacheTheCardIsHidden() throws Exception {
    try (TestUpstream regular = TestUpstream.start();
        NcroHarness n = NcroHarness.start(NcroHarness.config(
            dir.resolve("r.db"), NcroHarness.upstreams(List.of(regular.uri()), null)));
        Chromium page = Chromium.open(n.uri("/"), dir.resolve("chromium"))) {
      page.waitFor(
          "document.querySelectorAll('#upstreams tr[data-upstream]').length === 1", WAIT, TEXT);
      assertThat(page.eval("document.getElementById('fallback-card').hidden").asBoolean())
          .isTrue();
    }
  }
}
