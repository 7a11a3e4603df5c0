package dev.ncro.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.config.ListenAddress;
import dev.ncro.config.MeshConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.mesh.NodeIdentity;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;

/**
 * The Nix and systemd packaging (flake.nix, nix/, contrib/), checked as far as a machine without
 * nixpkgs allows. The module under nixpkgs' module system is {@link ModuleEvalIT}; what needs
 * nixpkgs itself (building the package, a real NixOS evaluation, the VM test) is the flake's
 * {@code checks}; see docs/install.md.
 *
 * <ul>
 *   <li>every {@code .nix} file parses (Debian's {@code nix-instantiate --parse}, which also
 *       rejects undefined variables);
 *   <li>the plain-Nix files evaluate: the package version is the pom's, and the YAML fixtures are
 *       exactly the data of the Nix values the module renders ({@code nix/settings-defaults.nix},
 *       {@code nix/tests/sample-settings.nix});
 *   <li>those fixtures, and contrib/ncro.yaml, load through ncro's real config loader;
 *   <li>contrib/ncro.service passes {@code systemd-analyze verify} with no warning, scores as
 *       hardened in {@code systemd-analyze security --offline}, carries the same directives as the
 *       module, and really runs ncro under a real systemd (PID 1 of a private PID and mount
 *       namespace) with every one of its restrictions, while MemoryDenyWriteExecute=yes kills the
 *       JVM.
 * </ul>
 */
class PackagingIT {
  private static final Path ROOT = repoRoot();
  private static final Path SAMPLE_YAML =
      ROOT.resolve("src/test/resources/packaging/module-rendered.yaml");
  private static final Path DEFAULTS_YAML =
      ROOT.resolve("src/test/resources/packaging/module-defaults-rendered.yaml");
  private static final Path UNIT = ROOT.resolve("contrib/ncro.service");
  private static final String NIXOS_KEY =
      "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
  private static final String COMMUNITY_KEY =
      "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=";

  // ---------------------------------------------------------------- Nix files

  @Test
  void everyNixFileParses() throws Exception {
    String nixInstantiate = requireNixInstantiate();
    List<Path> files = nixFiles();
    assertThat(files.stream().map(f -> ROOT.relativize(f).toString()))
        .contains(
            "flake.nix",
            "nix/package.nix",
            "nix/module.nix",
            "nix/tests/e2e.nix",
            "nix/tests/sample-settings.nix",
            "nix/settings-defaults.nix",
            "nix/version.nix");
    for (Path f : files) {
      Result r = run(List.of(nixInstantiate, "--parse", f.toString()), Duration.ofSeconds(60));
      assertThat(r.exit())
          .as("nix-instantiate --parse %s:\n%s", ROOT.relativize(f), r.output())
          .isZero();
    }
  }

  @Test
  void nixPackageVersionIsThePoms() throws Exception {
    String nixVersion = nixEvalJson("nix/version.nix").asText();
    var pom = DocumentBuilderFactory.newInstance()
        .newDocumentBuilder()
        .parse(ROOT.resolve("pom.xml").toFile());
    String pomVersion = null;
    for (var n = pom.getDocumentElement().getFirstChild(); n != null; n = n.getNextSibling()) {
      if ("version".equals(n.getNodeName())) {
        pomVersion = n.getTextContent().trim();
      }
    }
    assertThat(nixVersion).isEqualTo(pomVersion);
  }

  /**
   * {@code pkgs.formats.yaml} renders {@code builtins.toJSON value} with remarshal's json2yaml, so
   * the fixture must hold exactly the data of the Nix value (the flake check
   * {@code rendered-config} compares the bytes, where nixpkgs is at hand).
   */
  @Test
  void yamlFixturesHoldExactlyTheNixValues() throws Exception {
    assertThat(yamlAsJson(SAMPLE_YAML)).isEqualTo(nixEvalJson("nix/tests/sample-settings.nix"));
    assertThat(yamlAsJson(DEFAULTS_YAML)).isEqualTo(nixEvalJson("nix/settings-defaults.nix"));
  }

  /**
   * The VM test's Python script, as Nix would hand it to the test driver, is valid Python: a
   * syntax error there would otherwise only show in a NixOS VM run. The test module is called with
   * stand-ins for the few nixpkgs functions it uses (only to build the script text).
   */
  @Test
  void vmTestScriptIsValidPython() throws Exception {
    String nix = requireNixInstantiate();
    Optional<String> python = tool("python3");
    assumeTrue(python.isPresent(), "python3 not found");
    String expr = """
        (import %s {
          pkgs = { writeText = name: text: "/nix/store/00000000000000000000000000000000-${name}";
                   writeTextDir = path: text: "/nix/store/00000000000000000000000000000001-dir";
                   curl = "curl"; };
          lib = { mkForce = x: x; };
        }).testScript""".formatted(ROOT.resolve("nix/tests/e2e.nix"));
    Result r = run(
        List.of(nix, "--eval", "--strict", "--json", "--readonly-mode", "--expr", expr),
        Duration.ofSeconds(60));
    assertThat(r.exit())
        .as(
            "evaluating nix/tests/e2e.nix's testScript (a new pkgs/lib use needs a stand-in here):\n%s",
            r.output())
        .isZero();
    List<String> lines = r.output().lines().toList();
    String script = new ObjectMapper().readTree(lines.get(lines.size() - 1)).asText();
    assertThat(script).contains("start_all()", "ncro_upstream_race_wins_total");
    Path file = Files.createTempFile("ncro-e2e-testscript-", ".py");
    try {
      Files.writeString(file, script);
      Result py = run(
          List.of(
              python.get(),
              "-c",
              "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])",
              file.toString()),
          Duration.ofSeconds(60));
      assertThat(py.exit())
          .as("python3 ast.parse of the testScript:\n%s\n%s", py.output(), script)
          .isZero();
    } finally {
      Files.deleteIfExists(file);
    }
  }

  // ---------------------------------------------------------------- the rendered YAML in ncro

  @Test
  void renderedSampleSettingsLoadInNcro() throws Exception {
    Config c = ConfigLoader.load(SAMPLE_YAML, Map.of());

    assertThat(c.server().listen()).isEqualTo(new ListenAddress("127.0.0.1", 8080));
    assertThat(c.server().readTimeout()).isEqualTo(Duration.ofSeconds(20));
    assertThat(c.server().writeTimeout()).isEqualTo(Duration.ofSeconds(30)); // ncro's default
    assertThat(c.upstreams())
        .containsExactly(
            new UpstreamConfig(URI.create("https://cache.nixos.org"), 10, List.of(NIXOS_KEY)),
            new UpstreamConfig(
                URI.create("https://nix-community.cachix.org"), 20, List.of(COMMUNITY_KEY)));
    assertThat(c.cache().dbPath()).isEqualTo(Path.of("/var/lib/ncro/routes.db"));
    assertThat(c.cache().ttl()).isEqualTo(Duration.ofMinutes(30));
    assertThat(c.cache().negativeTtl()).isEqualTo(Duration.ofMinutes(5));
    assertThat(c.cache().maxEntries()).isEqualTo(50_000);
    assertThat(c.cache().latencyAlpha()).isEqualTo(0.5);
    assertThat(c.timeouts().firstByte()).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.timeouts().connect()).isEqualTo(Duration.ofSeconds(5)); // ncro's default
    assertThat(c.logging().level()).isEqualTo("warn");
    assertThat(c.logging().format()).isEqualTo("text");
    assertThat(c.mesh().enabled()).isTrue();
    assertThat(c.mesh().bindAddr()).isEqualTo("0.0.0.0:7946");
    assertThat(c.mesh().privateKey()).isEqualTo("/var/lib/ncro/node.key");
    assertThat(c.mesh().gossipInterval()).isEqualTo(Duration.ofMinutes(1));
    assertThat(c.mesh().peers())
        .containsExactly(new MeshConfig.Peer(
            "100.64.1.2:7946", "9611627710d8ab5d3f2aeb927408a595a1973aa6449a996d4ef27e3b6aadaa14"));
  }

  /** What the module renders when the user sets nothing but {@code enable}. */
  @Test
  void renderedModuleDefaultsLoadInNcro() throws Exception {
    Config c = ConfigLoader.load(DEFAULTS_YAML, Map.of());

    assertThat(c.server().listen()).isEqualTo(new ListenAddress(null, 8080));
    assertThat(c.upstreams())
        .containsExactly(
            new UpstreamConfig(URI.create("https://cache.nixos.org"), 10, List.of(NIXOS_KEY)));
    assertThat(c.cache().dbPath()).isEqualTo(Path.of("/var/lib/ncro/routes.db"));
    assertThat(c.cache().dbPath()).startsWithRaw(Path.of("/var/lib/ncro"));
    assertThat(c.cache().ttl()).isEqualTo(Duration.ofHours(1));
    assertThat(c.logging().level()).isEqualTo("info");
    assertThat(c.logging().format()).isEqualTo("json");
    assertThat(c.mesh().enabled()).isFalse();
    assertThat(c.mesh().privateKey()).isEqualTo("/var/lib/ncro/node.key");
  }

  @Test
  void contribExampleConfigLoadsInNcro() throws Exception {
    Config c = ConfigLoader.load(ROOT.resolve("contrib/ncro.yaml"), Map.of());
    assertThat(c.upstreams()).hasSize(2);
    assertThat(c.cache().dbPath()).startsWithRaw(Path.of("/var/lib/ncro"));
    assertThat(c.mesh().privateKey()).startsWith("/var/lib/ncro/");
  }

  // ---------------------------------------------------------------- contrib/ncro.service

  @Test
  void plainUnitPassesSystemdAnalyzeVerify() throws Exception {
    String analyze = requireSystemdAnalyze();
    String java = execStartProgram(Files.readString(UNIT));
    assumeTrue(
        Files.isExecutable(Path.of(java)),
        "the unit's ExecStart names " + java
            + ", missing on this machine: systemd-analyze verify would only report that");
    Result r = run(List.of(analyze, "verify", UNIT.toString()), Duration.ofSeconds(60));
    // verify exits 0 on unknown keys and unparsable values ("..., ignoring"): any line about the
    // unit is a failure.
    List<String> aboutUnit =
        r.output().lines().filter(l -> l.contains("ncro.service")).toList();
    assertThat(aboutUnit).as("systemd-analyze verify output:\n%s", r.output()).isEmpty();
    assertThat(r.exit()).as("systemd-analyze verify output:\n%s", r.output()).isZero();
  }

  @Test
  void plainSocketUnitPassesSystemdAnalyzeVerify() throws Exception {
    String analyze = requireSystemdAnalyze();
    String java = execStartProgram(Files.readString(UNIT));
    assumeTrue(
        Files.isExecutable(Path.of(java)),
        "the service's ExecStart names " + java + ", missing on this machine");
    Path socket = ROOT.resolve("contrib/ncro.socket");
    Result r =
        run(List.of(analyze, "verify", socket.toString(), UNIT.toString()), Duration.ofSeconds(60));
    List<String> aboutUnit = r.output().lines().filter(l -> l.contains("ncro.")).toList();
    assertThat(aboutUnit).as("systemd-analyze verify output:\n%s", r.output()).isEmpty();
    assertThat(r.exit()).as(r.output()).isZero();
    assertThat(Files.readString(socket)).contains("ListenStream=8080", "WantedBy=sockets.target");
    assertThat(Files.readString(UNIT)).contains("Type=notify", "WatchdogSec=");
  }

  @Test
  void plainUnitIsHardened() throws Exception {
    String analyze = requireSystemdAnalyze();
    Result r = run(
        List.of(analyze, "security", "--offline=true", "--no-pager", UNIT.toString()),
        Duration.ofSeconds(60));
    Matcher m =
        Pattern.compile("Overall exposure level for ncro\\.service: ([0-9.]+)").matcher(r.output());
    assertThat(m.find()).as("systemd-analyze security output:\n%s", r.output()).isTrue();
    // 0 is a fully locked-down unit, 10 an unrestricted one; below 2 systemd calls it "OK".
    assertThat(Double.parseDouble(m.group(1))).as(r.output()).isLessThanOrEqualTo(2.0);
    String unit = Files.readString(UNIT);
    assertThat(unit)
        .contains(
            "MemoryDenyWriteExecute=no",
            "ProtectSystem=strict",
            "DynamicUser=yes",
            "StateDirectory=ncro",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "SystemCallFilter=@system-service");
  }

  /** The module and the plain unit must not drift apart: every directive of one is in the other. */
  @Test
  void moduleSetsTheSameServiceDirectivesAsThePlainUnit() throws Exception {
    String module = Files.readString(ROOT.resolve("nix/module/units.nix"));
    Set<String> keys = new LinkedHashSet<>();
    boolean inService = false;
    for (String line : Files.readAllLines(UNIT)) {
      String l = line.strip();
      if (l.startsWith("[")) {
        inService = l.equals("[Service]");
      } else if (inService && !l.isEmpty() && !l.startsWith("#") && l.contains("=")) {
        keys.add(l.substring(0, l.indexOf('=')));
      }
    }
    keys.removeAll(Set.of("ExecStart", "Environment", "EnvironmentFile"));
    assertThat(keys).hasSizeGreaterThan(20);
    for (String k : keys) {
      assertThat(module).as("nix/module/units.nix sets %s", k).containsPattern("\\b" + k + " = ");
    }
  }

  /**
   * contrib/ncro.service as it is, under Debian's real systemd: systemd boots as PID 1 of a fresh
   * PID and mount namespace (private /run, /tmp and /var/lib, the host's network), with a drop-in
   * that changes only what differs on a test host (the java and ncro paths, no boot ordering, logs
   * to a file) and makes a blocked system call kill the JVM instead of returning EPERM, so the
   * syscall filter is proven, not just survived. ncro must serve a race through it; then
   * MemoryDenyWriteExecute=yes must kill the JVM at start.
   */
  @Test
  void plainUnitRunsNcroUnderRealSystemd() throws Exception {
    try (SystemdNamespace sd = SystemdNamespace.prepare("ncro-systemd-");
        TestUpstream up = TestUpstream.start()) {
      String hash = TestNarinfo.hash(4242);
      up.putNarinfo(hash, TestNarinfo.make(hash, "nar/payload.nar", 64, null));
      int port = freePort();
      String classpath = sd.stageClasspath();
      Files.writeString(sd.payload().resolve("config.yaml"), """
          server:
            listen: "127.0.0.1:%d"
          upstreams:
            - url: "%s"
          cache:
            db_path: "/var/lib/ncro/routes.db"
          logging:
            format: text
          """.formatted(port, up.uri()));
      String java = SystemdNamespace.java();
      stageUnit(sd.units(), "ncro", java, classpath, "");
      stageUnit(sd.units(), "ncro-mdwe", java, classpath, "MemoryDenyWriteExecute=yes\n");
      sd.boot("ncro.service", false);

      String state = sd.awaitState("ncro.service", Set.of("active", "failed"));
      assertThat(state).as("ncro.service; its log:\n%s", sd.log("ncro")).isEqualTo("active");

      HttpClient http =
          HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      awaitHealth(http, port, sd);
      HttpResponse<String> narinfo = http.send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + hash + ".narinfo"))
              .build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(narinfo.statusCode()).as(sd.log("ncro")).isEqualTo(200);
      assertThat(narinfo.headers().firstValue("X-Ncro-Route")).contains("race");
      String metrics = http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                  .build(),
              HttpResponse.BodyHandlers.ofString())
          .body();
      assertThat(metrics)
          .contains("ncro_upstream_race_wins_total{upstream=\"" + up.uri() + "\"} 1.0")
          // what the descriptor and heap alerts read, also inside the confined unit
          .containsPattern("(?m)^process_open_fds [1-9]")
          .containsPattern("(?m)^jvm_memory_max_bytes\\{area=\"heap\"} [1-9]");

      // The service really runs confined: a dynamic user, no capabilities, seccomp on.
      String mainPid = sd.show("ncro.service", "MainPID");
      String status = sd.exec("cat", "/proc/" + mainPid + "/status").output();
      assertThat(status)
          .containsPattern("(?m)^NoNewPrivs:\\s+1$")
          .containsPattern("(?m)^Seccomp:\\s+2$")
          .containsPattern("(?m)^CapEff:\\s+0+$")
          .doesNotContainPattern("(?m)^Uid:\\s+0\\s");
      assertThat(sd.exec("test", "-s", "/var/lib/private/ncro/routes.db").exit())
          .as("the route database is in the StateDirectory")
          .isZero();

      assertThat(sd.systemctl("stop", "ncro.service").exit()).isZero();
      assertThat(sd.show("ncro.service", "Result")).as(sd.log("ncro")).isEqualTo("success");

      // MemoryDenyWriteExecute=yes: HotSpot cannot create its executable code at all.
      sd.systemctl("start", "ncro-mdwe.service");
      // Type=notify: the JVM dies before READY=1, so the start itself fails.
      assertThat(sd.awaitState("ncro-mdwe.service", Set.of("failed", "inactive")))
          .as(sd.log("ncro-mdwe"))
          .isEqualTo("failed");
      assertThat(sd.show("ncro-mdwe.service", "Result")).isEqualTo("exit-code");
      assertThat(sd.log("ncro-mdwe")).contains("Failed to mark memory page as executable");
      System.out.printf(
          "systemd %s ran ncro as pid %s (%s); MemoryDenyWriteExecute=yes: %s%n",
          sd.systemctl("--version").output().lines().findFirst().orElse("?"),
          mainPid,
          status
              .lines()
              .filter(l -> l.matches("(Uid|NoNewPrivs|Seccomp|Seccomp_filters|CapEff):.*"))
              .map(l -> l.replaceAll("\\s+", " "))
              .toList(),
          sd.log("ncro-mdwe").strip().replace('\n', ' '));
    }
  }

  /**
   * The module's rendered socket-activation units (ModuleEvalIT's {@code socket} set-up) under
   * the same real systemd: ncro.socket binds a port, the first request starts the hardened
   * {@code Type=notify} ncro.service, which serves the handed socket, reports READY=1 with its
   * status, and reads a mesh key delivered by LoadCredential as its dynamic user. The drop-in
   * changes only the program (the test's classes instead of a store path), the log and the
   * credential's source.
   */
  @Test
  void moduleSocketUnitsRunNcroUnderRealSystemd() throws Exception {
    try (SystemdNamespace sd = SystemdNamespace.prepare("ncro-systemd-module-");
        TestUpstream up = TestUpstream.start()) {
      Path stage = sd.units().getParent();
      String hash = TestNarinfo.hash(4343);
      up.putNarinfo(hash, TestNarinfo.make(hash, "nar/payload.nar", 64, null));
      int port = freePort();
      int meshPort;
      try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
        meshPort = s.getLocalPort();
      }
      String classpath = sd.stageClasspath();
      String meshKey =
          NodeIdentity.loadOrCreate(stage.resolve("payload/node.key")).publicKeyHex();
      // The module's rendering of the socket set-up, plus what this test needs: an upstream here
      // and
      // mesh mode with the key as a credential (the module's `mesh` set-up renders the same path).
      Files.writeString(stage.resolve("payload/config.yaml"), """
          server:
            listen: ""
          upstreams:
            - url: "%s"
          cache:
            db_path: "/var/lib/ncro/routes.db"
          logging:
            format: text
          mesh:
            enabled: true
            bind_addr: "127.0.0.1:%d"
            private_key: "/run/credentials/ncro.service/mesh-key"
          """.formatted(up.uri(), meshPort));
      JsonNode units = ModuleEvalIT.eval("socket").get("units");
      Path dir = Files.createDirectories(stage.resolve("units/ncro.service.d"));
      Files.writeString(
          stage.resolve("units/ncro.service"), units.get("ncro.service").asText());
      Files.writeString(
          stage.resolve("units/ncro.socket"),
          units
              .get("ncro.socket")
              .asText()
              .replace("ListenStream=127.0.0.1:8080", "ListenStream=127.0.0.1:" + port));
      Files.writeString(
          dir.resolve("test.conf"),
          SystemdNamespace.moduleServiceDropIn(
              classpath, "LoadCredential=mesh-key:/run/ncro-test/node.key\n"));
      Files.createDirectories(stage.resolve("units/ncro.socket.d"));
      Files.writeString(
          stage.resolve("units/ncro.socket.d/test.conf"), "[Unit]\nDefaultDependencies=no\n");
      sd.boot("ncro.socket", true);

      assertThat(sd.awaitState("ncro.socket", Set.of("active", "failed"))).isEqualTo("active");
      assertThat(sd.show("ncro.service", "ActiveState"))
          .as("started by the first connection only")
          .isEqualTo("inactive");
      // The first request starts ncro; it waits in the socket's backlog meanwhile.
      HttpClient http =
          HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      HttpResponse<String> narinfo;
      try {
        narinfo = http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + hash + ".narinfo"))
                .timeout(Duration.ofSeconds(90))
                .build(),
            HttpResponse.BodyHandlers.ofString());
      } catch (IOException e) {
        throw new AssertionError(
            "no answer through ncro.socket (" + e + "); ncro.service: "
                + sd.systemctl("status", "ncro.service", "ncro.socket").output() + "\nits log:\n"
                + sd.log("ncro")
                + "\nsystemd:\n" + sd.systemdOutput(),
            e);
      }
      assertThat(narinfo.statusCode()).as(sd.log("ncro")).isEqualTo(200);
      assertThat(narinfo.headers().firstValue("X-Ncro-Route")).contains("race");
      assertThat(sd.awaitState("ncro.service", Set.of("active", "failed")))
          .as(sd.log("ncro"))
          .isEqualTo("active");
      // READY=1 reached systemd with its STATUS= text (Type=notify), over the hardened unit's
      // AF_UNIX.
      assertThat(sd.show("ncro.service", "StatusText")).startsWith("serving on");
      assertThat(sd.show("ncro.service", "Type")).isEqualTo("notify");
      assertThat(sd.log("ncro")).contains("socket_activated=\"true\"").contains(meshKey);
      assertThat(sd.systemctl("stop", "ncro.service", "ncro.socket").exit()).isZero();
      assertThat(sd.show("ncro.service", "Result")).as(sd.log("ncro")).isEqualTo("success");
    }
  }

  /** Writes units/NAME.service (the contrib unit unchanged) and its test drop-in(s). */
  private static void stageUnit(
      Path unitDir, String name, String java, String classpath, String extra) throws IOException {
    Path units = Files.createDirectories(unitDir.resolve(name + ".service.d"));
    Files.copy(UNIT, unitDir.resolve(name + ".service"));
    String esc = classpath.replace("%", "%%");
    Files.writeString(
        units.resolve("test.conf"), """
        [Unit]
        DefaultDependencies=no
        [Service]
        ExecStart=
        ExecStart=%s $NCRO_JAVA_OPTS --enable-native-access=ALL-UNNAMED -cp %s dev.ncro.Main --config /run/ncro-test/config.yaml
        StandardOutput=append:/run/ncro-test/%s.log
        StandardError=append:/run/ncro-test/%s.log
        SystemCallErrorNumber=
        Restart=no
        %s""".formatted(java.replace("%", "%%"), esc, name, name, extra));
  }

  private static void awaitHealth(HttpClient http, int port, SystemdNamespace sd) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      try {
        if (http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                        .build(),
                    HttpResponse.BodyHandlers.discarding())
                .statusCode()
            == 200) {
          return;
        }
      } catch (IOException notYet) {
        // starting
      }
      Thread.sleep(200);
    }
    fail("ncro under systemd never answered /health; its log:\n" + sd.log("ncro"));
  }

  // ---------------------------------------------------------------- helpers

  record Result(int exit, String output) {}

  static Result run(List<String> cmd, Duration timeout) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    var out = new ByteArrayOutputStream();
    Thread reader = Thread.ofVirtual().start(() -> {
      try {
        p.getInputStream().transferTo(out);
      } catch (IOException ignored) {
        // process gone
      }
    });
    if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail(String.join(" ", cmd) + " did not finish within " + timeout);
    }
    reader.join(5_000);
    return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8));
  }

  private static JsonNode nixEvalJson(String file) throws Exception {
    String nix = requireNixInstantiate();
    Result r = run(
        List.of(
            nix,
            "--eval",
            "--strict",
            "--json",
            "--readonly-mode",
            ROOT.resolve(file).toString()),
        Duration.ofSeconds(60));
    assertThat(r.exit()).as("nix-instantiate --eval %s:\n%s", file, r.output()).isZero();
    // Nix prints warnings (e.g. a missing nixbld group) on stderr, merged here: the JSON is the
    // last line.
    List<String> lines = r.output().lines().toList();
    return new ObjectMapper().readTree(lines.get(lines.size() - 1));
  }

  private static JsonNode yamlAsJson(Path yaml) throws IOException {
    Object doc = new Load(LoadSettings.builder().build()).loadFromString(Files.readString(yaml));
    return new ObjectMapper().valueToTree(doc);
  }

  private static List<Path> nixFiles() throws IOException {
    try (Stream<Path> s = Files.walk(ROOT)) {
      return s.filter(p -> p.toString().endsWith(".nix") && Files.isRegularFile(p))
          .filter(p -> {
            Path rel = ROOT.relativize(p);
            for (Path part : rel) {
              String n = part.toString();
              if (n.equals(".git") || n.startsWith("target") || n.equals("node_modules")) {
                return false;
              }
            }
            return true;
          })
          .sorted()
          .toList();
    }
  }

  /** The program ExecStart= runs (its first word). */
  private static String execStartProgram(String unit) {
    Matcher m = Pattern.compile("(?m)^ExecStart=(\\S+)").matcher(unit);
    assertThat(m.find()).as("ExecStart= in contrib/ncro.service").isTrue();
    return m.group(1);
  }

  private static String requireNixInstantiate() {
    return tool("nix-instantiate")
        .orElseThrow(
            () -> new AssertionError(
                "nix-instantiate not found: install Debian's nix-bin (apt-get install nix-bin); bin/test does"));
  }

  private static String requireSystemdAnalyze() {
    Optional<String> t = tool("systemd-analyze");
    assumeTrue(t.isPresent(), "systemd-analyze not found (Debian package systemd)");
    return t.get();
  }

  static Optional<String> tool(String name) {
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

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static Path repoRoot() {
    Path p =
        Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
    if (!Files.exists(p.resolve("pom.xml"))) {
      throw new IllegalStateException("run from the repository root (no pom.xml in " + p + ")");
    }
    return p;
  }
}
