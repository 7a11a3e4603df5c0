package dev.ncro;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line, in-process: help, version, both -config spellings, --check and its exit codes. */
class MainTest {
  @TempDir
  Path dir;

  private record Run(int code, String out, String err) {}

  private static Run run(Map<String, String> env, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Main.run(
        args,
        env,
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void helpAndVersion() {
    Run help = run(Map.of(), "--help");
    assertThat(help.code()).isZero();
    assertThat(help.out()).contains("-config", "--config", "--check", "--version");
    Run version = run(Map.of(), "--version");
    assertThat(version.code()).isZero();
    assertThat(version.out()).matches("ncro \\d+\\.\\d+\\.\\d+.*\\R");
  }

  @Test
  void checkAcceptsBothSpellingsAndTheEmbeddedDefault() throws Exception {
    Path file = dir.resolve("ok.yaml");
    Files.writeString(file, "server:\n  listen: \"127.0.0.1:9999\"\n");
    for (String flag : new String[] {"-config", "--config"}) {
      Run r = run(Map.of(), flag, file.toString(), "--check");
      assertThat(r.code()).as(flag).isZero();
      assertThat(r.out()).contains("127.0.0.1:9999");
    }
    Run dflt = run(Map.of(), "--check");
    assertThat(dflt.code()).isZero();
    assertThat(dflt.out()).contains(":8080", "1 upstream");
  }

  @Test
  void checkReportsBadCredentialSettings() throws Exception {
    Path pw = dir.resolve("pw");
    Files.writeString(pw, "hunter2-secret\n");
    Path netrc = dir.resolve("netrc");
    Files.writeString(netrc, "machine a.example\n  passwd x\n");
    Path file = dir.resolve("creds.yaml");
    Files.writeString(
        file,
        "netrc_file: \"" + netrc + "\"\nupstreams:\n  - url: \"https://a.example\"\n"
            + "    username: u\n    password: hunter2-secret\n    password_file: \"" + pw + "\"\n"
            + "  - url: \"https://b.example\"\n    bearer_token_file: \"" + dir.resolve("missing")
            + "\"\n");
    Run r = run(Map.of(), "--config", file.toString(), "--check");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().lines())
        .hasSize(3)
        .anySatisfy(
            l -> assertThat(l).startsWith("ncro: config: netrc_file: " + netrc + ": line 2: "))
        .anySatisfy(
            l -> assertThat(l)
                .startsWith(
                    "ncro: config: upstreams[0].password: password and password_file are mutually exclusive"))
        .anySatisfy(l -> assertThat(l)
            .isEqualTo("ncro: config: upstreams[1].bearer_token_file: " + dir.resolve("missing")
                + ": no such file"));
    assertThat(r.err()).doesNotContain("hunter2-secret");
  }

  /**
   * The NixOS module checks its rendered config at build time, where the files systemd delivers at
   * start ({@code LoadCredential}) do not exist: {@code --skip-secret-files} checks everything else.
   */
  @Test
  void checkCanSkipCredentialFilesButNothingElse() throws Exception {
    String creds = "/run/credentials/ncro.service/";
    Path file = dir.resolve("module.yaml");
    Files.writeString(
        file,
        "netrc_file: \"" + creds + "netrc\"\n"
            + "server:\n  clients:\n    - bearer_token_file: \"" + creds + "robot\"\n"
            + "upstreams:\n  - url: \"https://a.example\"\n    username: u\n    password_file: \""
            + creds + "a\"\n"
            + "    ca_file: \"" + creds + "ca.pem\"\n"
            + "  - url: \"https://b.example\"\n    bearer_token_file: \"" + creds + "b\"\n");
    Run reads = run(Map.of(), "--config", file.toString(), "--check");
    assertThat(reads.code()).isEqualTo(1);
    assertThat(reads.err().lines())
        .hasSize(5)
        .allSatisfy(l -> assertThat(l).endsWith(": no such file"));

    Run skips = run(Map.of(), "--config", file.toString(), "--check", "--skip-secret-files");
    assertThat(skips.code()).as(skips.err()).isZero();
    assertThat(skips.out()).startsWith("config ok").contains("1 client credential(s)");

    Files.writeString(file, Files.readString(file) + "cache:\n  ttl: soon\n");
    Run stillChecked = run(Map.of(), "--config", file.toString(), "--check", "--skip-secret-files");
    assertThat(stillChecked.code()).isEqualTo(1);
    assertThat(stillChecked.err().lines())
        .singleElement()
        .asString()
        .startsWith("ncro: config: cache.ttl: ");

    Run serving = run(Map.of(), "--config", file.toString(), "--skip-secret-files");
    assertThat(serving.code()).isEqualTo(2);
    assertThat(serving.err()).contains("--skip-secret-files is only for --check");
  }

  @Test
  void checkPrintsOneLinePerProblemAndFails() throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(file, "server:\n  listen: nowhere\ncache:\n  latency_alpha: 7\n");
    Run r = run(Map.of(), "--config", file.toString(), "--check");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().lines())
        .hasSize(2)
        .anySatisfy(l -> assertThat(l).startsWith("ncro: config: server.listen: "))
        .anySatisfy(l -> assertThat(l).startsWith("ncro: config: cache.latency_alpha: "));
    assertThat(r.out()).isEmpty();
  }

  @Test
  void checkReportsBadPathFiltersAndNamesTheFallbackCache() throws Exception {
    Path bad = dir.resolve("filters.yaml");
    Files.writeString(bad, """
        upstreams:
          - url: "https://cache.example.com"
            filters:
              - {action: deny, field: version, pattern: "hello-*"}
              - {action: allow, field: name, pattern: "hello-[0-9]*"}
        """);
    Run r = run(Map.of(), "--config", bad.toString(), "--check");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().lines())
        .containsExactly(
            "ncro: config: upstreams[0].filters[0].field: \"version\" is not one of name, store_path, reference, deriver",
            "ncro: config: upstreams[0].filters[1].pattern: \"hello-[0-9]*\": '[' cannot occur in a store path; the only wildcard is '*'");
    Path good = dir.resolve("fallback.yaml");
    Files.writeString(good, """
        upstreams:
          - url: "https://cache.example.com"
        fallback_cache:
          enabled: true
          url: "https://archive.example.com"
        """);
    Run ok = run(Map.of(), "--config", good.toString(), "--check");
    assertThat(ok.code()).isZero();
    assertThat(ok.out()).contains("1 upstream(s)", "fallback cache https://archive.example.com");
  }

  @Test
  void helpShowsTheResolvedRouteDatabaseDefault() {
    Run help = run(Map.of("XDG_STATE_HOME", "/srv/state"), "--help");
    assertThat(help.out()).contains("/srv/state/ncro/routes.db");
    Run check = run(Map.of("HOME", "/home/newcomer"), "--check");
    assertThat(check.out())
        .contains(
            "localhost:8080", "db /home/newcomer/.local/state/ncro/routes.db", "allow anyone");
  }

  @Test
  void checkValidatesAccessControl() throws Exception {
    Path file = dir.resolve("access.yaml");
    Files.writeString(file, """
        server:
          allow: ["10.0.0.0/40"]
          clients:
            - bearer_token_file: "%s"
            - username: ci
        """.formatted(dir.resolve("missing-token")));
    Run r = run(Map.of(), "--config", file.toString(), "--check");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().lines())
        .hasSize(3)
        .anySatisfy(l -> assertThat(l).startsWith("ncro: config: server.allow[0]: "))
        .anySatisfy(l -> assertThat(l)
            .startsWith("ncro: config: server.clients[0].bearer_token_file: ")
            .endsWith("no such file"))
        .anySatisfy(
            l -> assertThat(l).isEqualTo("ncro: config: server.clients[1].password_file: missing"));
  }

  @Test
  void checkValidatesDiscovery() throws Exception {
    Path file = dir.resolve("discovery.yaml");
    Files.writeString(file, "discovery:\n  enabled: true\n  service: _nix-serve\n");
    Run r = run(Map.of(), "--config", file.toString(), "--check");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().lines())
        .hasSize(2)
        .anySatisfy(l -> assertThat(l).startsWith("ncro: config: discovery.service: "))
        .anySatisfy(l -> assertThat(l)
            .startsWith("ncro: config: discovery.public_keys: required when discovery is enabled"));
    Files.writeString(
        file,
        "discovery:\n  enabled: true\n  public_keys: [\"lan-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\"]\n");
    Run ok = run(Map.of(), "--config", file.toString(), "--check");
    assertThat(ok.code()).as(ok.err()).isZero();
    assertThat(ok.out())
        .contains("discovery: mDNS _nix-serve._tcp.local., priority 20, 1 trusted key(s)");
  }

  @Test
  void unknownOptionIsAUsageError() {
    Run r = run(Map.of(), "--frobnicate");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("frobnicate");
  }

  @Test
  void unusableDatabasePathIsAStartupErrorNamingIt() throws Exception {
    Path notADir = dir.resolve("file");
    Files.writeString(notADir, "x");
    Run r = run(Map.of(
        "NCRO_LISTEN",
        "127.0.0.1:0",
        "NCRO_DB_PATH",
        notADir.resolve("routes.db").toString(),
        "NCRO_LOG_LEVEL",
        "error"));
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("cache.db_path", notADir.resolve("routes.db").toString());
  }
}
