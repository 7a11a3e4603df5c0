package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code filters} and {@code fallback_cache} in the config: bound, defaulted, and every mistake named. */
class RoutingPolicyConfigTest {
  private static final String KEY =
      "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

  @TempDir
  Path dir;

  @Test
  void filtersAreBoundInOrder() throws Exception {
    Config c = YamlConfigs.load("""
        upstreams:
          - url: "https://cache.example.com"
            filters:
              - {action: allow, field: name, pattern: "mycorp-*"}
              - {action: deny, field: reference, pattern: "/nix/store/*-openssl-1.0*"}
              - {action: deny, field: store_path, pattern: "/nix/store/*-secret"}
              - {action: allow, field: deriver, pattern: "*.drv"}
          - url: "https://cache.nixos.org"
        """);
    assertThat(c.upstreams().get(0).filters().rules())
        .containsExactly(
            new PathFilter(PathFilter.Action.ALLOW, PathFilter.Field.NAME, "mycorp-*"),
            new PathFilter(
                PathFilter.Action.DENY, PathFilter.Field.REFERENCE, "/nix/store/*-openssl-1.0*"),
            new PathFilter(
                PathFilter.Action.DENY, PathFilter.Field.STORE_PATH, "/nix/store/*-secret"),
            new PathFilter(PathFilter.Action.ALLOW, PathFilter.Field.DERIVER, "*.drv"));
    assertThat(c.upstreams().get(1).filters()).isEqualTo(PathFilters.NONE);
  }

  @Test
  void badFiltersNameTheRuleAndField() {
    List<String> problems = YamlConfigs.problems("""
        upstreams:
          - url: "https://cache.example.com"
            filters:
              - {action: permit, field: name, pattern: "a*"}
              - {action: deny, field: version, pattern: "a*"}
              - {action: deny, field: name, pattern: "hello-[0-9]"}
              - {action: deny, field: name}
              - {action: deny, field: name, pattern: "x", regex: true}
              - "deny hello"
              - {action: deny, field: name, pattern: ""}
          - url: "https://other.example.com"
            filters: {action: deny}
        """);
    assertThat(problems)
        .anySatisfy(p -> assertThat(p)
            .startsWith("upstreams[0].filters[0].action: ")
            .contains("\"permit\" is not one of allow, deny"));
    assertThat(problems)
        .anySatisfy(p -> assertThat(p)
            .startsWith("upstreams[0].filters[1].field: ")
            .contains("\"version\" is not one of name, store_path, reference, deriver"));
    assertThat(problems)
        .anySatisfy(p -> assertThat(p)
            .startsWith("upstreams[0].filters[2].pattern: ")
            .contains("'[' cannot occur in a store path"));
    assertThat(problems)
        .anySatisfy(
            p -> assertThat(p).startsWith("upstreams[0].filters[3].pattern: ").contains("missing"));
    assertThat(problems)
        .anySatisfy(p ->
            assertThat(p).startsWith("upstreams[0].filters[4].regex: ").contains("unknown key"));
    assertThat(problems).anySatisfy(p -> assertThat(p).startsWith("upstreams[0].filters[5]"));
    assertThat(problems)
        .anySatisfy(p -> assertThat(p)
            .startsWith("upstreams[0].filters[6].pattern: ")
            .contains("must not be empty"));
    assertThat(problems)
        .anySatisfy(
            p -> assertThat(p).startsWith("upstreams[1].filters: ").contains("expected a list"));
  }

  @Test
  void theFallbackCacheIsOffByDefaultAndBoundLikeAnUpstream() throws Exception {
    assertThat(YamlConfigs.load("upstreams:\n  - url: \"https://cache.nixos.org\"\n")
            .fallbackCache())
        .isEqualTo(FallbackCacheConfig.DISABLED);
    Path token = Files.writeString(dir.resolve("token"), "t0ken\n");
    Config c = YamlConfigs.load("""
        upstreams:
          - url: "https://cache.nixos.org"
        fallback_cache:
          enabled: true
          url: "https://Fallback.example.com/base/"
          public_keys: ["%s"]
          bearer_token_file: "%s"
          filters:
            - {action: deny, field: name, pattern: "*-unfree-*"}
        """.formatted(KEY, token));
    UpstreamConfig fb = c.fallbackCache().upstream();
    assertThat(c.fallbackCache().enabled()).isTrue();
    assertThat(fb.url()).isEqualTo(URI.create("https://fallback.example.com/base"));
    assertThat(fb.publicKeys()).containsExactly(KEY);
    assertThat(CredentialsConfigTest.fromFile(fb.credentials()))
        .isEqualTo(new UpstreamCredentials.Bearer("t0ken", "bearer_token_file"));
    assertThat(fb.filters().rules()).hasSize(1);
    assertThat(c.toString()).doesNotContain("t0ken");
    // Switched off: its settings are kept out of the way, not half-used.
    Config off = YamlConfigs.load("upstreams:\n  - url: \"https://cache.nixos.org\"\n"
        + "fallback_cache:\n  enabled: false\n  url: \"https://fallback.example.com\"\n");
    assertThat(off.fallbackCache()).isEqualTo(FallbackCacheConfig.DISABLED);
  }

  @Test
  void fallbackCacheMistakesAreNamed() throws Exception {
    String up = "upstreams:\n  - url: \"https://cache.nixos.org\"\n";
    assertThat(YamlConfigs.problems(up + "fallback_cache:\n  enabled: true\n"))
        .containsExactly("fallback_cache.url: required when fallback_cache.enabled is true");
    assertThat(
            YamlConfigs.problems(up + "fallback_cache:\n  url: \"https://fallback.example.com\"\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.enabled: missing");
    assertThat(YamlConfigs.problems(up + "fallback_cache:\n  enabled: true\n  url: \"ftp://x\"\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.url: ")
        .contains("http://, https://, s3:// or file://");
    assertThat(YamlConfigs.problems(
            up + "fallback_cache:\n  enabled: true\n  url: \"https://CACHE.nixos.org/\"\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.url: ")
        .contains("also a regular upstream");
    assertThat(
            YamlConfigs.problems(
                up
                    + "fallback_cache:\n  enabled: true\n  url: \"https://f.example.com\"\n  priority: 3\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.priority: unknown key");
    assertThat(YamlConfigs.problems(
            up + "fallback_cache:\n  enabled: true\n  url: \"https://f.example.com\"\n"
                + "  public_key: \"nope\"\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.public_key: ");
    assertThat(YamlConfigs.problems(
            up + "fallback_cache:\n  enabled: true\n  url: \"https://f.example.com\"\n"
                + "  password_file: \"" + dir.resolve("missing") + "\"\n  username: u\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.password_file: ");
    assertThat(YamlConfigs.problems(
            up + "fallback_cache:\n  enabled: true\n  url: \"https://f.example.com\"\n"
                + "  password: hunter2\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.username: required");
    assertThat(YamlConfigs.problems(
            up + "fallback_cache:\n  enabled: yes please\n  url: \"https://f.example.com\"\n"))
        .singleElement()
        .asString()
        .startsWith("fallback_cache.enabled: ");
  }
}
