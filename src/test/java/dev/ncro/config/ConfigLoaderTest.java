package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigLoaderTest {
  private static final String KEY =
      "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

  @Test
  void embeddedDefaultIsTheSpecs() throws Exception {
    Config c = ConfigLoader.load((Path) null, Map.of());
    // Deliberately not the spec's ":8080": loopback only unless serving a network is chosen.
    assertThat(c.server().listen()).isEqualTo(new ListenAddress("localhost", 8080));
    assertThat(c.server().listen().bothLoopbacks()).isTrue();
    assertThat(c.server().access().allow()).isEmpty();
    assertThat(c.server().access().clients()).isEmpty();
    assertThat(c.server().readTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.server().writeTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.server().cachePriority()).isEqualTo(30);
    assertThat(c.upstreams())
        .containsExactly(
            new UpstreamConfig(URI.create("https://cache.nixos.org"), 10, List.of(KEY)));
    // Not the spec's /var/lib/ncro (only root can write there): the user's state directory.
    assertThat(c.cache().dbPath())
        .isEqualTo(Path.of(System.getProperty("user.home"), ".local/state/ncro/routes.db"));
    assertThat(c.cache().maxEntries()).isEqualTo(100_000);
    assertThat(c.cache().ttl()).isEqualTo(Duration.ofHours(1));
    assertThat(c.cache().latencyAlpha()).isEqualTo(0.3);
    assertThat(c.cache().probeInterval()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.logging()).isEqualTo(new LoggingConfig("info", "json"));
    assertThat(c.mesh().enabled()).isFalse();
    assertThat(c.mesh().gossipInterval()).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void fileOverridesFieldByFieldAndListsReplace() throws Exception {
    Config c = YamlConfigs.load("""
        server:
          listen: "127.0.0.1:9090"
        upstreams:
          - url: "https://nix-community.cachix.org/"
            priority: 20
            public_key: "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs="
          - url: "http://LOCAL:5000/base/"
        cache:
          ttl: 1m30s
        """);
    assertThat(c.server().listen()).isEqualTo(new ListenAddress("127.0.0.1", 9090));
    assertThat(c.server().readTimeout()).isEqualTo(Duration.ofSeconds(30)); // untouched default
    assertThat(c.upstreams())
        .extracting(UpstreamConfig::url)
        .containsExactly(
            URI.create("https://nix-community.cachix.org"), URI.create("http://local:5000/base"));
    assertThat(c.upstreams().get(0).priority()).isEqualTo(20);
    assertThat(c.upstreams().get(0).publicKeys()).hasSize(1);
    assertThat(c.upstreams().get(1).priority()).isEqualTo(10);
    assertThat(c.upstreams().get(1).publicKeys()).isEmpty();
    assertThat(c.cache().ttl()).isEqualTo(Duration.ofSeconds(90));
    assertThat(c.cache().maxEntries()).isEqualTo(100_000);
  }

  @Test
  void environmentOverridesTheFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("c.yaml");
    Files.writeString(file, "server:\n  listen: \":1111\"\nlogging:\n  level: warn\n");
    Config c = ConfigLoader.load(
        file,
        Map.of(
            "NCRO_LISTEN",
            "[::1]:2222",
            "NCRO_DB_PATH",
            "/tmp/x.db",
            "NCRO_LOG_LEVEL",
            "debug",
            "NCRO_OTHER",
            "x"));
    assertThat(c.server().listen()).isEqualTo(new ListenAddress("::1", 2222));
    assertThat(c.cache().dbPath()).isEqualTo(Path.of("/tmp/x.db"));
    assertThat(c.logging().level()).isEqualTo("debug");

    Config empty = ConfigLoader.load(file, Map.of("NCRO_LISTEN", ""));
    assertThat(empty.server().listen()).isEqualTo(new ListenAddress(null, 1111));
  }

  @Test
  void badEnvironmentValueNamesTheVariable() {
    assertThatThrownBy(() -> ConfigLoader.load((Path) null, Map.of("NCRO_LISTEN", "nope")))
        .isInstanceOfSatisfying(
            ConfigException.class,
            e -> assertThat(e.problems())
                .singleElement()
                .asString()
                .startsWith("server.listen (from NCRO_LISTEN): "));
  }

  @Test
  void missingFileAndBadYamlAreErrorsNamingTheFile(@TempDir Path dir) {
    assertThatThrownBy(() -> ConfigLoader.load(dir.resolve("none.yaml"), Map.of()))
        .isInstanceOfSatisfying(
            ConfigException.class,
            e -> assertThat(e.problems())
                .singleElement()
                .asString()
                .endsWith("none.yaml: no such file"));
    assertThat(YamlConfigs.problems("server: [unclosed"))
        .singleElement()
        .asString()
        .startsWith("test.yaml: invalid YAML");
    assertThat(YamlConfigs.problems("- just\n- a list\n"))
        .singleElement()
        .asString()
        .contains("expected a mapping at the top level");
    assertThat(YamlConfigs.problems("cache:\n  ttl: 1h\ncache:\n  ttl: 2h\n"))
        .singleElement()
        .asString()
        .contains("invalid YAML");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "unknown top-level key    | servre:\\n  listen: ':1'                          | servre: unknown key",
        "unknown nested key       | server:\\n  listn: ':1'                           | server.listn: unknown key",
        "unparsable listen        | server:\\n  listen: 'localhost'                   | server.listen: missing port",
        "listen port out of range | server:\\n  listen: ':70000'                     | server.listen: port 70000 out of range",
        "IPv6 without brackets    | server:\\n  listen: '::1:80'                      | server.listen: IPv6 host must be in brackets",
        "bad duration             | server:\\n  read_timeout: 30 seconds              | server.read_timeout: invalid duration",
        "duration as number       | cache:\\n  ttl: 3600                              | cache.ttl: expected a duration",
        "zero duration            | timeouts:\\n  stall: 0s                           | timeouts.stall: must be longer than zero",
        "alpha zero               | cache:\\n  latency_alpha: 0                       | cache.latency_alpha: 0.0 is outside (0, 1)",
        "alpha one                | cache:\\n  latency_alpha: 1.0                     | cache.latency_alpha: 1.0 is outside (0, 1)",
        "alpha as text            | cache:\\n  latency_alpha: fast                    | cache.latency_alpha: expected a number",
        "max_entries zero         | cache:\\n  max_entries: 0                         | cache.max_entries: 0 is out of range",
        "empty db path            | cache:\\n  db_path: ''                            | cache.db_path: must not be empty",
        "no upstreams             | upstreams: []                                     | upstreams: at least one upstream is required",
        "ftp upstream             | upstreams:\\n  - url: ftp://x                     | upstreams[0].url: \"ftp://x\" must be an http://, https://, s3:// or file:// URL",
        "relative upstream        | upstreams:\\n  - url: cache.nixos.org             | upstreams[0].url: \"cache.nixos.org\" must be an http",
        "upstream without host    | upstreams:\\n  - url: 'http:///x'                 | upstreams[0].url: \"http:///x\" has no host",
        "upstream with query      | upstreams:\\n  - url: 'http://x/?a=b'             | upstreams[0].url: \"http://x/?a=b\" has a query: Nix store parameters",
        "upstream without url     | upstreams:\\n  - priority: 1                      | upstreams[0].url: missing",
        "file url with a host     | upstreams:\\n  - url: 'file://nas/cache'         | upstreams[0].url: \"file://nas/cache\" must be file:///absolute/directory",
        "file url relative        | upstreams:\\n  - url: 'file:cache'               | upstreams[0].url: \"file:cache\" must be file:///absolute/directory",
        "file cache missing       | upstreams:\\n  - url: 'file:///nonexistent/ncro' | upstreams[0].url: /nonexistent/ncro is not a readable directory",
        "file cache with a CA     | upstreams:\\n  - url: 'file:///tmp'\\n    ca_file: /etc/hostname | upstreams[0].ca_file: does not apply to a file:// cache",
        "file cache with a token  | upstreams:\\n  - url: 'file:///tmp'\\n    bearer_token_file: /etc/hostname | upstreams[0].bearer_token_file: does not apply to a file:// cache",
        "s3 bad region            | upstreams:\\n  - url: 's3://cache?region=EU'     | upstreams[0].url: S3 upstream \"s3://cache?region=EU\", region: \"EU\" is not a region name",
        "s3 bad scheme            | upstreams:\\n  - url: 's3://cache?scheme=ftp'    | upstreams[0].url: S3 upstream \"s3://cache?scheme=ftp\", scheme: \"ftp\" is not http or https",
        "s3 unknown parameter     | upstreams:\\n  - url: 's3://cache?trusted=1'     | upstreams[0].url: S3 upstream \"s3://cache?trusted=1\", trusted: unknown parameter",
        "s3 secret in the url     | upstreams:\\n  - url: 's3://AKIA:hunter2@cache'  | upstreams[0].url: S3 upstream \"s3://***@cache\", bucket: credentials do not go in an s3:// URL",
        "s3 duplicate             | upstreams:\\n  - url: 's3://cache'\\n  - url: 's3://cache?region=us-east-1&profile=x' | upstreams[1].url: duplicate upstream s3://cache",
        "negative priority        | upstreams:\\n  - url: http://x\\n    priority: -1  | upstreams[0].priority: -1 is out of range",
        "duplicate upstreams      | upstreams:\\n  - url: http://x\\n  - url: http://X/ | upstreams[1].url: duplicate upstream http://x",
        "bad public key           | upstreams:\\n  - url: http://x\\n    public_key: k | upstreams[0].public_key: expected name:base64",
        "short public key         | upstreams:\\n  - url: http://x\\n    public_key: 'k:AAAA' | upstreams[0].public_key: key of \"k\" is 3 bytes, expected 32",
        "bad log level            | logging:\\n  level: loud                          | logging.level: \"loud\" is not one of debug, info, warn, error",
        "bad log format           | logging:\\n  format: xml                          | logging.format: \"xml\" is not one of json, text",
        "mesh peer key            | mesh:\\n  peers:\\n    - addr: '10.0.0.1:7946'\\n      public_key: abc | mesh.peers[0].public_key: expected 64 hex characters",
        "mesh peer addr           | mesh:\\n  peers:\\n    - addr: nowhere        | mesh.peers[0].addr: missing port",
        "mesh bind address        | mesh:\\n  bind_addr: '0.0.0.0'                    | mesh.bind_addr: missing port",
        "mesh enabled as text     | mesh:\\n  enabled: 'yes'                          | mesh.enabled: expected true or false",
        "mesh gossip interval     | mesh:\\n  gossip_interval: often                  | mesh.gossip_interval: invalid duration",
        "section not a map        | cache: 5                                          | cache: expected a mapping",
      })
  void everyProblemNamesItsField(String name, String yaml, String expected) {
    assertThat(YamlConfigs.problems(yaml.replace("\\n", "\n")))
        .anySatisfy(p -> assertThat(p).startsWith(expected));
  }

  @Test
  void anS3UrlWithCredentialsInItIsRefusedWithoutEchoingThem() {
    assertThat(YamlConfigs.problems(
            "upstreams:\n  - url: 's3://AKIAEXAMPLE:hunter2@cache?region=eu-west-1'\n"))
        .isNotEmpty()
        .allSatisfy(p -> assertThat(p).doesNotContain("hunter2").doesNotContain("AKIAEXAMPLE"));
  }

  @Test
  void anS3UpstreamBindsWithNixsDefaults() throws Exception {
    Config c = ConfigLoader.load(
        "upstreams:\n  - url: 's3://cache/prefix?endpoint=minio:9000&profile=ci'\n",
        "test.yaml",
        Map.of());
    UpstreamConfig u = c.upstreams().get(0);
    assertThat(u.url()).hasToString("s3://cache/prefix?endpoint=minio:9000");
    assertThat(u.s3().profile()).isEqualTo("ci");
    assertThat(u.s3().httpBase()).hasToString("https://minio:9000/cache/prefix");
  }

  @Test
  void allProblemsAreReportedAtOnce() {
    List<String> p = YamlConfigs.problems("""
        server:
          listen: "x"
        cache:
          latency_alpha: 2
        logging:
          level: chatty
        """);
    assertThat(p).hasSize(3);
  }

  @Test
  void goDurations() {
    assertThat(GoDuration.parse("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(GoDuration.parse("1m30s")).isEqualTo(Duration.ofSeconds(90));
    assertThat(GoDuration.parse("1.5h")).isEqualTo(Duration.ofMinutes(90));
    assertThat(GoDuration.parse("2h45m3s")).isEqualTo(Duration.ofSeconds(2 * 3600 + 45 * 60 + 3));
    assertThat(GoDuration.parse("250us")).isEqualTo(Duration.ofNanos(250_000));
    assertThat(GoDuration.parse("0")).isEqualTo(Duration.ZERO);
    for (String bad : List.of("", "s", "10", "10 s", "1d", "-1s", "1.2.3s", "h1")) {
      assertThatThrownBy(() -> GoDuration.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  // Hostile or broken files: a ConfigException, never a crash of the JVM (ConfigLoaderFuzzTest).

  /** Billion laughs: 16 levels of three aliases each, about 43 million references to 100 kB. */
  private static String aliasBomb() {
    StringBuilder y = new StringBuilder("a0: &a0 [\"" + "x".repeat(100_000) + "\"]\n");
    for (int i = 1; i <= 16; i++) {
      y.append("a")
          .append(i)
          .append(": &a")
          .append(i)
          .append(" [*a")
          .append(i - 1)
          .append(", *a")
          .append(i - 1)
          .append(", *a")
          .append(i - 1)
          .append("]\n");
    }
    return y.toString();
  }

  @Test
  void anAliasBombAsAKeyIsRefusedBeforeItIsHashedOrPrinted() {
    // Before: a duplicate-key message printed the key, expanding it (OutOfMemoryError); as a
    // !!set element likewise; as a plain key, a ClassCastException.
    assertThat(YamlConfigs.problems(aliasBomb() + "x:\n  ? *a16\n  : 1\n  ? *a16\n  : 2\n"))
        .singleElement()
        .asString()
        .startsWith("test.yaml (line ")
        .contains("a mapping key must be a plain value, not an alias");
    assertThat(YamlConfigs.problems(aliasBomb() + "cache:\n  ttl: !!set {? *a16}\n"))
        .singleElement()
        .asString()
        .contains("not an alias");
    assertThat(YamlConfigs.problems("? [a, b]\n: c\n"))
        .singleElement()
        .asString()
        .contains("not a list");
    assertThat(YamlConfigs.problems("? {a: b}\n: c\n"))
        .singleElement()
        .asString()
        .contains("not a mapping");
  }

  @Test
  void anAliasBombAsAValueIsNeverExpanded() {
    assertThat(YamlConfigs.problems(aliasBomb() + "upstreams: *a16\nserver: {listen: *a16}\n"))
        .contains("server.listen: expected a string, got a list")
        .allSatisfy(p -> assertThat(p).hasSizeLessThan(200));
  }

  @Test
  void tooManyAliasesAreRefused() {
    StringBuilder y = new StringBuilder("a: &a [x]\nb: [");
    for (int i = 0; i < ConfigLoader.MAX_ALIASES + 1; i++) {
      y.append("*a, ");
    }
    assertThat(YamlConfigs.problems(y.append("x]\n").toString()))
        .singleElement()
        .asString()
        .contains("invalid YAML");
  }

  @Test
  void deepNestingIsAProblemNotAStackOverflow() {
    // SnakeYAML's composer recurses: 100 000 brackets used to end in a StackOverflowError.
    assertThat(YamlConfigs.problems("x: " + "[".repeat(100_000)))
        .singleElement()
        .asString()
        .isEqualTo("test.yaml (line 1, column 35): nested deeper than 32 levels");
    StringBuilder block = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      block.append("  ".repeat(i)).append("k").append(i).append(":\n");
    }
    assertThat(YamlConfigs.problems(block.toString()))
        .singleElement()
        .asString()
        .contains("nested deeper than 32 levels");
  }

  @Test
  void keysThatAreNotStringsAreUnknownKeysNotACrash() {
    // Before: a ClassCastException while merging over the default.
    assertThat(YamlConfigs.problems("1: x\ntrue: y\n"))
        .contains(
            "1: unknown key (known: cache, discovery, fallback_cache, logging, mesh, netrc_file, server, timeouts, upstreams)",
            "true: unknown key (known: cache, discovery, fallback_cache, logging, mesh, netrc_file, server, timeouts, upstreams)");
    assertThat(YamlConfigs.problems("cache: {1.5: x}\n"))
        .singleElement()
        .asString()
        .startsWith("cache.1.5: unknown key");
  }

  @Test
  void aNulInDbPathIsAProblemNamingTheField() {
    // Before: InvalidPathException from Path.of.
    assertThat(YamlConfigs.problems("cache:\n  db_path: \"/var/lib/ncro\\0/routes.db\"\n"))
        .singleElement()
        .asString()
        .startsWith("cache.db_path: not a valid path");
  }

  @Test
  void binaryValuesAreDescribedNotPrintedAsArrays() {
    assertThat(YamlConfigs.problems("cache:\n  ttl: !!binary AAAA\n"))
        .singleElement()
        .asString()
        .isEqualTo("cache.ttl: expected a duration such as \"30s\", got binary data");
  }

  @Test
  void anEndlessOrHugeFileIsRefusedWithoutReadingItAll(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> ConfigLoader.load(Path.of("/dev/zero"), Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessage("/dev/zero: larger than 1024 KiB, not a config file");
    Path big = dir.resolve("big.yaml");
    Files.writeString(big, "# " + "x".repeat(ConfigLoader.MAX_BYTES) + "\n");
    assertThatThrownBy(() -> ConfigLoader.load(big, Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("larger than");
  }

  /** Found by ConfigLoaderFuzzTest: an empty url used to drop the upstream silently (and could leave none). */
  @Test
  void anEmptyUpstreamUrlIsAnErrorNotADroppedUpstream() {
    assertThat(YamlConfigs.problems("upstreams:\n  - url: \"\"\n    priority: 20\n"))
        .containsExactly("upstreams[0].url: must not be empty");
  }

  /** Found by ConfigLoaderFuzzTest: a NUL in the variable the default database path comes from. */
  @Test
  void anInvalidDefaultDatabasePathFromTheEnvironmentIsAProblemNotACrash() {
    assertThatThrownBy(
            () -> ConfigLoader.load("", "test.yaml", Map.of("STATE_DIRECTORY", "/var/lib/a\0b")))
        .isInstanceOf(ConfigException.class)
        .satisfies(e -> assertThat(((ConfigException) e).problems())
            .singleElement()
            .asString()
            .startsWith("cache.db_path: not set, and the default from STATE_DIRECTORY"));
  }
}
