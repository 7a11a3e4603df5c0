package dev.ncro.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.config.ListenAddress;
import dev.ncro.config.StoreConfig;
import dev.ncro.support.NcroProcess;
import dev.ncro.support.ProcessResources;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.File;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * nix/module.nix evaluated by nixpkgs' real module system ({@code lib.evalModules} from
 * /work/shared/nixpkgs-lib or $NCRO_NIXPKGS_LIB, with Debian's nix-instantiate) through
 * nix/tests/eval-module.nix, for each set-up of nix/tests/module-scenarios.nix: the rendered
 * settings, unit files, nix.settings, firewall ports, assertions and warnings must be what
 * src/test/resources/packaging/eval/&lt;scenario&gt;.json says; the unit files pass
 * {@code systemd-analyze verify} and stay hardened; the settings load in ncro. Also
 * nix/package.nix, evaluated with stand-ins: its Maven repository is exactly the lock.
 */
class ModuleEvalIT {
  private static final Path ROOT =
      Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
  private static final String FAKE_JAVA =
      "/nix/store/00000000000000000000000000000000-openjdk-headless-21/bin/java";
  static final String FAKE_SYSTEMCTL =
      "/nix/store/00000000000000000000000000000000-systemd-257/bin/systemctl";

  @ParameterizedTest
  @ValueSource(
      strings = {
        "default",
        "substituter",
        "exclusive",
        "socket",
        "mesh",
        "instances",
        "credentials",
        "policy",
        "discovery",
        "postgresql",
        "rotation",
        "invalid"
      })
  void scenarioRendersWhatTheFixtureSays(String scenario) throws Exception {
    JsonNode got = eval(scenario);
    JsonNode want = new ObjectMapper()
        .readTree(ROOT.resolve("src/test/resources/packaging/eval/" + scenario + ".json")
            .toFile());
    assertThat(got)
        .as(
            "nix/tests/eval-module.nix --argstr scenario %s (after a deliberate module change:"
                + " nix/tests/regenerate-eval-fixtures, then read the diff)",
            scenario)
        .isEqualTo(want);
    if (!scenario.equals("invalid")) {
      assertThat(got.get("failedAssertions")).as("assertions of %s", scenario).isEmpty();
    }
  }

  @Test
  void invalidSetUpsAreRefusedWithTheOptionNamed() throws Exception {
    List<String> failed = texts(eval("invalid").get("failedAssertions"));
    assertThat(failed)
        .anyMatch(m -> m.contains("settings.mesh.bind_addr: port 70000 is outside 1-65535"))
        .anyMatch(m -> m.contains("instances.zero.settings.server.listen: port 0 is outside"))
        .anyMatch(m -> m.contains("instances.zero.settings.upstreams: `password`"))
        .anyMatch(m -> m.contains("every instance needs its own settings.server.listen port"))
        .anyMatch(m -> m.contains("instances.db.settings.cache.store is \"postgresql\": set"))
        .anyMatch(
            m -> m.contains("instances.dbpw.settings.cache.postgresql.url carries a password"));
  }

  /** Instances: own unit, port, state directory, config file, credentials; the default instance stays ncro.service. */
  @Test
  void instancesGetDistinctUnitsPortsAndStateDirectories() throws Exception {
    JsonNode r = eval("instances");
    Map<String, String> services = new LinkedHashMap<>();
    r.get("units").fields().forEachRemaining(e -> {
      if (e.getKey().endsWith(".service") && !e.getKey().endsWith("-credentials.service")) {
        services.put(e.getKey(), e.getValue().asText());
      }
    });
    assertThat(services)
        .containsOnlyKeys("ncro.service", "ncro-private.service", "ncro-staging.service");
    assertThat(r.get("units").has("ncro-staging.socket")).isTrue();
    Set<String> stateDirs = new HashSet<>();
    Set<String> configs = new HashSet<>();
    for (var e : services.entrySet()) {
      String unit = e.getValue();
      String name = e.getKey().replace(".service", "");
      assertThat(directive(unit, "StateDirectory")).containsExactly(name);
      assertThat(directive(unit, "WorkingDirectory")).containsExactly("/var/lib/" + name);
      assertThat(directive(unit, "DynamicUser")).containsExactly("true");
      stateDirs.add(directive(unit, "StateDirectory").get(0));
      Matcher m = Pattern.compile("--config (\\S+)")
          .matcher(directive(unit, "ExecStart").get(0));
      assertThat(m.find()).isTrue();
      configs.add(m.group(1));
      JsonNode settings = r.get("settings").get(name);
      assertThat(settings.get("cache").get("db_path").asText())
          .isEqualTo("/var/lib/" + name + "/routes.db");
    }
    assertThat(stateDirs).hasSize(3);
    assertThat(configs).hasSize(3);
    assertThat(r.get("settings").get("ncro").get("server").get("listen").asText())
        .isEqualTo(":8080");
    assertThat(r.get("settings").get("ncro-private").get("server").get("listen").asText())
        .isEqualTo("127.0.0.1:8081");
    assertThat(r.get("settings").get("ncro-staging").get("server").get("listen").asText())
        .isEmpty();
    assertThat(r.get("units").get("ncro-staging.socket").asText())
        .contains("ListenStream=[::1]:8082");
    // Credentials: loaded by the private instance only, under its own credentials directory.
    assertThat(directive(services.get("ncro-private.service"), "LoadCredential"))
        .containsExactly(
            "upstream0-ca:/etc/ssl/private-ca.pem",
                "upstream0-password:/run/secrets/private-cache-password",
            "upstream1-token:/run/secrets/attic-token", "netrc:/run/secrets/ncro-netrc");
    assertThat(directive(services.get("ncro.service"), "LoadCredential")).isEmpty();
    // ... and only it is restarted when one of them changes on the host.
    assertThat(
            directive(r.get("units").get("ncro-private-credentials.path").asText(), "PathChanged"))
        .containsExactly(
            "/etc/ssl/private-ca.pem",
            "/run/secrets/private-cache-password",
            "/run/secrets/attic-token",
            "/run/secrets/ncro-netrc");
    assertThat(r.get("units").has("ncro-credentials.path")).isFalse();
    assertThat(r.get("units").has("ncro-staging-credentials.path")).isFalse();
    assertThat(r.get("settings")
            .get("ncro-private")
            .get("upstreams")
            .get(0)
            .get("password_file")
            .asText())
        .isEqualTo("/run/credentials/ncro-private.service/upstream0-password");
  }

  /** No secret and no host path of one reaches the rendered (store) settings; all go through LoadCredential. */
  @Test
  void secretsStayOutOfTheStore() throws Exception {
    for (String scenario : List.of("instances", "credentials", "mesh", "policy", "postgresql")) {
      JsonNode r = eval(scenario);
      String settings = r.get("settings").toString();
      assertThat(settings)
          .as(scenario)
          .doesNotContain("/run/secrets/", "/etc/ncro/node.key", "hunter2");
    }
    String unit = eval("credentials").get("units").get("ncro.service").asText();
    assertThat(directive(unit, "EnvironmentFile")).containsExactly("/run/secrets/ncro.env");
    assertThat(directive(unit, "Environment"))
        .containsExactlyInAnyOrder(
            "\"AWS_SHARED_CREDENTIALS_FILE=/run/credentials/ncro.service/aws-credentials\"",
            "\"AWS_CONFIG_FILE=/run/credentials/ncro.service/aws-config\"",
            "\"AWS_PROFILE=nix-cache\"",
            // networking.proxy, passed on as NixOS passes it to nix-daemon (no secret in it).
            "\"https_proxy=http://proxy.corp.example:3128\"",
            "\"HTTPS_PROXY=http://proxy.corp.example:3128\"",
            "\"no_proxy=127.0.0.1,localhost\"");
  }

  /**
   * The rendered settings load in ncro's real loader, with what the module promised. Credential
   * files are not read (they exist only once systemd starts the unit), exactly as the module's
   * build-time {@code ncro --check --skip-secret-files} does; every other field is checked.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "default",
        "substituter",
        "exclusive",
        "socket",
        "mesh",
        "instances",
        "credentials",
        "policy",
        "discovery",
        "postgresql",
        "rotation"
      })
  void renderedSettingsLoadInNcro(String scenario, @TempDir Path dir) throws Exception {
    JsonNode all = eval(scenario).get("settings");
    for (Iterator<Map.Entry<String, JsonNode>> it = all.fields(); it.hasNext(); ) {
      var instance = it.next();
      Path yaml = dir.resolve(instance.getKey() + ".yaml");
      Files.writeString(yaml, instance.getValue().toString()); // JSON is YAML
      Config c = ConfigLoader.load(yaml, Map.of(), ConfigLoader.SecretFiles.SKIP);
      assertThat(c.cache().dbPath())
          .as(instance.getKey())
          .isEqualTo(Path.of("/var/lib/" + instance.getKey() + "/routes.db"));
    }
    Path yaml = dir.resolve("ncro.yaml");
    Config c = ConfigLoader.load(yaml, Map.of(), ConfigLoader.SecretFiles.SKIP);
    assertThat(c.cache().dbPath()).isEqualTo(Path.of("/var/lib/ncro/routes.db"));
    switch (scenario) {
      case "socket" -> assertThat(c.server().listen()).isNull();
      case "mesh" -> {
        assertThat(c.mesh().enabled()).isTrue();
        assertThat(c.mesh().privateKey()).isEqualTo("/run/credentials/ncro.service/mesh-key");
      }
      case "exclusive" -> assertThat(c.upstreams()).hasSize(2);
      case "instances" -> {
        Config priv = ConfigLoader.load(
            dir.resolve("ncro-private.yaml"), Map.of(), ConfigLoader.SecretFiles.SKIP);
        assertThat(priv.server().listen()).isEqualTo(new ListenAddress("127.0.0.1", 8081));
        assertThat(priv.upstreams()).hasSize(2);
        assertThat(ConfigLoader.load(
                    dir.resolve("ncro-staging.yaml"), Map.of(), ConfigLoader.SecretFiles.SKIP)
                .server()
                .listen())
            .as("socket-activated instance")
            .isNull();
      }
      case "policy" -> {
        assertThat(c.upstreams().get(0).filters().rules()).hasSize(2);
        assertThat(c.upstreams().get(1).filters().rules()).hasSize(1);
        assertThat(c.fallbackCache().enabled()).isTrue();
        assertThat(c.fallbackCache().upstream().url()).hasToString("https://archive.corp.example");
        assertThat(c.fallbackCache().upstream().caFile())
            .isEqualTo(Path.of("/run/credentials/ncro.service/fallback-ca"));
      }
      case "postgresql" -> {
        StoreConfig.Postgresql pg = (StoreConfig.Postgresql) c.cache().store();
        assertThat(pg.passwordFile())
            .isEqualTo(Path.of("/run/credentials/ncro.service/postgresql-password"));
        assertThat(pg.jdbcUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:5432/ncro");
        assertThat(pg.poolSize()).isEqualTo(4);
        String unit = eval(scenario).get("units").get("ncro.service").asText();
        assertThat(directive(unit, "LoadCredential"))
            .containsExactly("postgresql-password:/run/secrets/ncro-db-password");
        assertThat(directive(unit, "After").get(0)).contains("postgresql.service");
      }
      case "credentials" -> {
        assertThat(c.server().access().allow()).hasSize(2);
        assertThat(c.server().access().clients()).hasSize(2);
      }
      default -> assertThat(c.server().listen()).isEqualTo(new ListenAddress(null, 8080));
    }
  }

  /**
   * Files handed over with LoadCredential are copies made at start: the path unit restarts the
   * instance when one of their host paths changes, unless the instance opts out.
   */
  @Test
  void aChangedCredentialFileRestartsTheInstanceThatAsksForIt() throws Exception {
    JsonNode units = eval("rotation").get("units");
    String path = units.get("ncro-credentials.path").asText();
    assertThat(directive(path, "PathChanged")).containsExactly("/run/ncro-test/token");
    assertThat(directive(path, "Unit")).containsExactly("ncro-credentials.service");
    assertThat(directive(path, "WantedBy")).containsExactly("paths.target");
    String oneshot = units.get("ncro-credentials.service").asText();
    assertThat(directive(oneshot, "Type")).containsExactly("oneshot");
    assertThat(directive(oneshot, "ExecStart"))
        .containsExactly(FAKE_SYSTEMCTL + " try-restart ncro.service");
    assertThat(directive(units.get("ncro.service").asText(), "LoadCredential"))
        .containsExactly("upstream0-token:/run/ncro-test/token");
    // restartOnCredentialChange = false: the same credential, no path unit.
    assertThat(directive(units.get("ncro-pinned.service").asText(), "LoadCredential"))
        .containsExactly("upstream0-token:/run/ncro-test/token");
    assertThat(units.has("ncro-pinned-credentials.path")).isFalse();
    assertThat(units.has("ncro-pinned-credentials.service")).isFalse();
    // Nothing to watch without credentials: no path unit at all.
    assertThat(eval("default").get("units").fieldNames())
        .toIterable()
        .containsExactly("ncro.service");
  }

  /** Every rendered unit (and socket unit) passes systemd-analyze verify, and each service stays hardened. */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "default",
        "exclusive",
        "socket",
        "mesh",
        "instances",
        "credentials",
        "policy",
        "discovery",
        "rotation"
      })
  void renderedUnitsPassSystemdAnalyze(String scenario, @TempDir Path dir) throws Exception {
    String analyze = tool("systemd-analyze").orElse(null);
    assumeTrue(analyze != null, "systemd-analyze not found (Debian package systemd)");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> files = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = eval(scenario).get("units").fields();
        it.hasNext(); ) {
      var e = it.next();
      Path f = dir.resolve(e.getKey());
      // The stub JDK's store path does not exist here: verify checks that ExecStart's program does.
      Files.writeString(
          f,
          e.getValue()
              .asText()
              .replace(FAKE_JAVA, java)
              .replace(FAKE_SYSTEMCTL, tool("systemctl").orElse("/bin/systemctl")));
      files.add(f.toString());
    }
    List<String> cmd = new ArrayList<>(List.of(analyze, "verify"));
    cmd.addAll(files);
    Result r = run(cmd);
    // verify exits 0 on unknown keys and unparsable values ("..., ignoring"): any line naming one
    // of the units is a failure.
    List<String> about = r.output().lines().filter(l -> l.contains("ncro")).toList();
    assertThat(about).as("systemd-analyze verify:\n%s", r.output()).isEmpty();
    assertThat(r.exit()).as(r.output()).isZero();
    for (String f : files) {
      if (!f.endsWith(".service")) {
        continue;
      }
      Result s = run(List.of(analyze, "security", "--offline=true", "--no-pager", f));
      Matcher m = Pattern.compile("Overall exposure level for \\S+: ([0-9.]+)").matcher(s.output());
      assertThat(m.find()).as(s.output()).isTrue();
      // The plain unit scores 1.4; a privileged port adds CAP_NET_BIND_SERVICE (mesh scenario).
      assertThat(Double.parseDouble(m.group(1)))
          .as("%s:\n%s", f, s.output())
          .isLessThanOrEqualTo(2.0);
    }
  }

  /** nix/package.nix builds its Maven repository from exactly the lock, one fetchurl per file. */
  @Test
  void packageFetchesExactlyTheLock() throws Exception {
    JsonNode pkg = nixEval(List.of(ROOT.resolve("nix/tests/eval-package.nix").toString()));
    JsonNode lock =
        new ObjectMapper().readTree(ROOT.resolve("nix/maven-deps.json").toFile());
    JsonNode repo = pkg.get("repository");
    assertThat(repo.size()).isEqualTo(lock.get("artifacts").size()).isGreaterThan(100);
    for (int i = 0; i < repo.size(); i++) {
      JsonNode a = lock.get("artifacts").get(i);
      assertThat(repo.get(i).get("path")).isEqualTo(a.get("path"));
      assertThat(repo.get(i).get("sha256")).isEqualTo(a.get("sha256"));
      assertThat(repo.get(i).get("url").asText())
          .isEqualTo("https://repo.maven.apache.org/maven2/" + a.get("path").asText());
    }
    assertThat(pkg.get("buildPhase").asText())
        .contains("mvn --offline", "-Dmaven.repo.local=", "-Dmaven.test.skip=true");
    assertThat(pkg.get("meta").get("license").asText()).isEqualTo("Apache-2.0");
    assertThat(pkg.get("meta").get("homepage").asText()).startsWith("https://");
    assertThat(pkg.get("meta").get("changelog").asText())
        .contains("v" + pkg.get("version").asText());
  }

  /**
   * The package's installPhase, run by bash in a stand-in build tree around the real ncro.jar
   * (runHook stubbed): the jar, the alert rules and the Grafana dashboard land in
   * share/ncro, and the source set includes the two monitoring files, so a NixOS config can point
   * services.prometheus.ruleFiles at the installed rules. Netty's and SQLite's native libraries are
   * taken out of the jar into lib/ncro. The installed bin/ncro, run twice: ncro maps both libraries
   * from there (not from copies in /tmp), the first run leaves a class-data-sharing archive in the
   * cache directory and the second maps it.
   */
  @Test
  void packageInstallsTheJarTheNativeLibrariesAndTheMonitoringFiles(@TempDir Path dir)
      throws Exception {
    JsonNode pkg = nixEval(List.of(ROOT.resolve("nix/tests/eval-package.nix").toString()));
    List<String> sources = texts(pkg.get("sources"));
    assertThat(sources)
        .contains("pom.xml", "contrib/prometheus-alerts.yaml", "contrib/grafana-dashboard.json")
        .noneMatch(f -> f.startsWith("docs/") || f.startsWith("bin/") || f.startsWith("nix/"));
    Path build = Files.createDirectories(dir.resolve("build"));
    Path jar =
        Path.of(System.getProperty("ncro.jar", ROOT.resolve("target/ncro.jar").toString()));
    Files.createDirectories(build.resolve("target"));
    Files.copy(jar, build.resolve("target/ncro.jar"));
    Files.createDirectories(build.resolve("contrib"));
    for (String f : List.of("prometheus-alerts.yaml", "grafana-dashboard.json")) {
      Files.copy(ROOT.resolve("contrib/" + f), build.resolve("contrib/" + f));
    }
    Path out = dir.resolve("out");
    String script = "set -euo pipefail\n"
        + "runHook() { :; }\n"
        + "out=" + out + "\n"
        + "TMPDIR=" + Files.createDirectories(dir.resolve("tmp")) + "\n"
        + pkg.get("installPhase").asText();
    Process p = new ProcessBuilder("bash", "-c", script)
        .directory(build.toFile())
        .redirectErrorStream(true)
        .start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("installPhase: %s", log).isZero();
    assertThat(out.resolve("share/ncro/ncro.jar")).hasSameBinaryContentAs(jar);
    assertThat(out.resolve("share/ncro/prometheus-alerts.yaml"))
        .hasSameBinaryContentAs(ROOT.resolve("contrib/prometheus-alerts.yaml"));
    assertThat(out.resolve("share/ncro/grafana-dashboard.json"))
        .hasSameBinaryContentAs(ROOT.resolve("contrib/grafana-dashboard.json"));

    Path natives = out.resolve(pkg.get("natives").get("dir").asText());
    List<String> libraries = new ArrayList<>();
    for (JsonNode entry : pkg.get("natives").get("jarEntries")) {
      String name = entry.asText().substring(entry.asText().lastIndexOf('/') + 1);
      assertThat(natives.resolve(name)).as(entry.asText()).isNotEmptyFile();
      libraries.add(natives.resolve(name).toString());
    }
    assertThat(libraries)
        .hasSize(2)
        .anyMatch(l -> l.endsWith("/libnetty_transport_native_epoll_x86_64.so"))
        .anyMatch(l -> l.endsWith("/libsqlitejdbc.so"));
    try (var listing = Files.list(natives)) {
      assertThat(listing.count()).as("nothing else in %s", natives).isEqualTo(2);
    }

    // bin/ncro as installed, on this JVM instead of the stand-in JDK's store path.
    Path wrapper = out.resolve("bin/ncro");
    String installed = Files.readString(wrapper);
    assertThat(installed)
        .as("the native libraries' options come before the user's NCRO_JAVA_OPTS")
        .containsSubsequence(
            "-Djava.library.path=" + natives,
            "-Dorg.sqlite.lib.path=" + natives,
            "-Dorg.sqlite.lib.name=libsqlitejdbc.so",
            "${NCRO_JAVA_OPTS-",
            "-jar " + out + "/share/ncro/ncro.jar");
    Files.writeString(
        wrapper,
        installed.replace(
            FAKE_JAVA, Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    Path cache = dir.resolve("cache");
    Path archive = cache.resolve("ncro/nix-out.jsa");
    try (TestUpstream up = TestUpstream.start()) {
      String hash = TestNarinfo.hash(1616);
      up.putNarinfo(hash, TestNarinfo.make(hash, "nar/x.nar", 64, null));
      List<String> cmd = List.of(
          "env",
          "XDG_CACHE_HOME=" + cache,
          "bash",
          wrapper.toString(),
          "--config",
          NcroProcess.writeConfig(dir, up.uri(), dir.resolve("routes.db")).toString());
      // First start: libraries from the package; the JVM writes the archive at exit.
      try (NcroProcess ncro = NcroProcess.command(cmd)) {
        assertThat(HttpClient.newHttpClient()
                .send(ncro.narinfo(hash), HttpResponse.BodyHandlers.ofString())
                .statusCode())
            .as(String.join("\n", ncro.log()))
            .isEqualTo(200);
        assertThat(ProcessResources.sharedLibraries(ncro.pid()))
            .as("libraries loaded from the package, not copied from the jar")
            .containsAll(libraries)
            .noneMatch(l -> l.contains("netty_transport_native_epoll") && !libraries.contains(l))
            .noneMatch(l -> l.contains("sqlitejdbc") && !libraries.contains(l));
        ncro.terminate(Duration.ofMinutes(3));
      }
      assertThat(archive).as("the class-data-sharing archive of the first run").isNotEmptyFile();
      // Second start: maps that archive.
      try (NcroProcess ncro = NcroProcess.command(cmd)) {
        assertThat(HttpClient.newHttpClient()
                .send(ncro.narinfo(hash), HttpResponse.BodyHandlers.ofString())
                .statusCode())
            .isEqualTo(200);
        assertThat(mappedFiles(ncro.pid())).contains(archive.toString());
        assertThat(ncro.log())
            .as("the JVM's archive messages stay out of ncro's log")
            .noneMatch(l -> l.contains("[cds") || l.contains("hs_err"));
      }
    }
  }

  /** Every file {@code pid} maps ({@code /proc/PID/maps}). */
  private static List<String> mappedFiles(long pid) throws IOException {
    try (var lines = Files.lines(Path.of("/proc/" + pid + "/maps"))) {
      return lines
          .map(l -> l.split("\\s+", 6))
          .filter(f -> f.length == 6)
          .map(f -> f[5])
          .toList();
    }
  }

  // ---------------------------------------------------------------- helpers

  private static List<String> directive(String unit, String key) {
    return unit.lines()
        .filter(l -> l.startsWith(key + "="))
        .map(l -> l.substring(key.length() + 1))
        .toList();
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  private static final Map<String, JsonNode> CACHE = new ConcurrentHashMap<>();

  static JsonNode eval(String scenario) throws Exception {
    JsonNode cached = CACHE.get(scenario);
    if (cached != null) {
      return cached;
    }
    JsonNode r = nixEval(List.of(
        ROOT.resolve("nix/tests/eval-module.nix").toString(), "--argstr", "scenario", scenario));
    CACHE.put(scenario, r);
    return r;
  }

  private static JsonNode nixEval(List<String> args) throws Exception {
    String nix = tool("nix-instantiate")
        .orElseThrow(() -> new AssertionError(
            "nix-instantiate not found: install Debian's nix-bin (bin/test does)"));
    Path lib =
        Path.of(System.getenv().getOrDefault("NCRO_NIXPKGS_LIB", "/work/shared/nixpkgs-lib/lib"));
    assumeTrue(
        Files.isRegularFile(lib.resolve("default.nix")),
        "nixpkgs' lib not found at " + lib
            + " (set NCRO_NIXPKGS_LIB to a nixpkgs checkout's lib/)");
    List<String> cmd =
        new ArrayList<>(List.of(nix, "--eval", "--strict", "--json", "--readonly-mode"));
    cmd.addAll(args);
    cmd.addAll(List.of("--arg", "lib", "import " + lib));
    Result r = run(cmd);
    assertThat(r.exit()).as("%s:\n%s", String.join(" ", cmd), r.output()).isZero();
    List<String> lines = r.output().lines().toList(); // warnings (e.g. no nixbld group) come first
    return new ObjectMapper().readTree(lines.get(lines.size() - 1));
  }

  private record Result(int exit, String output) {}

  private static Result run(List<String> cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).as(String.join(" ", cmd)).isTrue();
    return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
  }

  private static Optional<String> tool(String name) {
    List<String> dirs = new ArrayList<>(
        List.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)));
    dirs.addAll(List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin"));
    return dirs.stream()
        .filter(d -> !d.isEmpty())
        .map(d -> Path.of(d, name))
        .filter(Files::isExecutable)
        .map(Path::toString)
        .findFirst();
  }
}
