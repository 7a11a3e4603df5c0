package dev.ncro.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestUpstream;
import java.io.File;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;

/**
 * The monitoring files in {@code contrib/}: promtool accepts the alerting rules and their unit tests
 * pass ({@code src/test/resources/prometheus/alerts-test.yaml}), and every series the rules and the
 * Grafana dashboard select exists on a real ncro from the first scrape. The last is what goes wrong
 * with such files in practice: a renamed metric or label value, and a rule watches nothing, a
 * panel stays empty, silently, for ever.
 */
class MonitoringFilesIT {
  private static final Path ROOT =
      Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
  private static final Path RULES = ROOT.resolve("contrib/prometheus-alerts.yaml");
  private static final Path DASHBOARD = ROOT.resolve("contrib/grafana-dashboard.json");
  private static final Path RULE_TESTS =
      ROOT.resolve("src/test/resources/prometheus/alerts-test.yaml");
  /** A metric name with its label matchers, as written in a rule's expression. */
  private static final Pattern SELECTOR =
      Pattern.compile("((?:ncro|jvm|process)_[a-z_]+)(?:\\{([^}]*)})?");

  private static final Pattern MATCHER = Pattern.compile("(\\w+)\\s*(=~|=)\\s*\"([^\"]*)\"");

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @Test
  void promtoolAcceptsTheRulesAndTheirTestsPass() throws Exception {
    assertThat(promtool(dir, "check", "rules", RULES.toString()))
        .contains("SUCCESS: 15 rules found");
    Files.copy(RULES, dir.resolve("prometheus-alerts.yaml"));
    Files.copy(RULE_TESTS, dir.resolve("alerts-test.yaml"));
    assertThat(promtool(dir, "test", "rules", "alerts-test.yaml")).contains("SUCCESS");
  }

  @Test
  void everySeriesTheRulesAndTheDashboardSelectExistsOnAFreshNcro() throws Exception {
    TestUpstream up = open.keep(TestUpstream.start());
    Path cfg = dir.resolve("ncro.yaml");
    Files.writeString(cfg, """
        server:
          listen: "127.0.0.1:0"
        upstreams:
          - url: "%s"
        cache:
          db_path: "%s"
        mesh:
          enabled: true
          bind_addr: "127.0.0.1:0"
        """.formatted(up.uri(), dir.resolve("routes.db")));
    NcroHarness n = open.keep(NcroHarness.start(ConfigLoader.load(cfg, Map.of())));
    HttpResponse<byte[]> r = n.get("/metrics");
    assertThat(r.statusCode()).isEqualTo(200);
    List<String> scrape = new String(r.body(), StandardCharsets.UTF_8)
        .lines()
        .filter(l -> !l.startsWith("#"))
        .toList();

    List<String> rules = selectors(ruleExpressions());
    assertThat(rules).as("selectors in the rules").hasSizeGreaterThanOrEqualTo(14);
    List<String> panels = selectors(dashboardExpressions());
    assertThat(panels).as("selectors in the dashboard").hasSizeGreaterThanOrEqualTo(20);
    List<String> selectors = new ArrayList<>(rules);
    selectors.addAll(panels);
    List<String> missing = new ArrayList<>();
    for (String selector : selectors) {
      Matcher s = SELECTOR.matcher(selector);
      assertThat(s.matches()).isTrue();
      String name = s.group(1);
      List<String> series = scrape.stream()
          .filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
          .toList();
      if (series.isEmpty()) {
        missing.add(selector + ": no series " + name);
        continue;
      }
      Matcher m = MATCHER.matcher(s.group(2) == null ? "" : s.group(2));
      while (m.find()) {
        if (m.group(3).contains("$")) {
          continue; // a dashboard variable ($job, $instance, $upstream): any value
        }
        List<String> values =
            m.group(2).equals("=~") ? List.of(m.group(3).split("\\|")) : List.of(m.group(3));
        for (String v : values) {
          String label = m.group(1) + "=\"" + v + "\"";
          if (series.stream().noneMatch(l -> l.contains(label))) {
            missing.add(selector + ": no " + name + " series with " + label);
          }
        }
      }
    }
    assertThat(missing).as("what the rules select but ncro does not expose").isEmpty();
  }

  /** Every rule's {@code expr}. */
  private static List<String> ruleExpressions() throws IOException {
    Map<?, ?> file = (Map<?, ?>)
        new Load(LoadSettings.builder().build()).loadFromString(Files.readString(RULES));
    List<String> out = new ArrayList<>();
    for (Object group : (List<?>) file.get("groups")) {
      for (Object rule : (List<?>) ((Map<?, ?>) group).get("rules")) {
        out.add((String) ((Map<?, ?>) rule).get("expr"));
      }
    }
    return out;
  }

  /** Every {@code expr} of the dashboard's panels, and its variables' queries ({@code label_values}). */
  private static List<String> dashboardExpressions() throws IOException {
    JsonNode dashboard = new ObjectMapper().readTree(DASHBOARD.toFile());
    List<String> out = new ArrayList<>();
    dashboard.findValues("expr").forEach(n -> out.add(n.asText()));
    for (JsonNode q : dashboard.findValues("query")) { // text, or {"query": text, "refId": ...}
      JsonNode text = q.isObject() ? q.path("query") : q;
      if (text.isTextual()) {
        out.add(text.asText());
      }
    }
    dashboard.findValues("definition").forEach(n -> out.add(n.asText()));
    return out;
  }

  /** Every {@code ncro_*}, {@code jvm_*} and {@code process_*} selector in {@code expressions}. */
  private static List<String> selectors(List<String> expressions) {
    List<String> out = new ArrayList<>();
    for (String e : expressions) {
      Matcher s = SELECTOR.matcher(e);
      while (s.find()) {
        out.add(s.group());
      }
    }
    return out;
  }

  private static String promtool(Path cwd, String... args) throws Exception {
    File promtool = new File("/usr/bin/promtool");
    assertThat(promtool)
        .as(
            "promtool is missing: install the Debian package 'prometheus' (bin/test does when root)")
        .isExecutable();
    List<String> cmd = new ArrayList<>(List.of(promtool.getPath()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd)
        .directory(cwd.toFile())
        .redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("promtool %s: %s", String.join(" ", args), out).isZero();
    return out;
  }
}
