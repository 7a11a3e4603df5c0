package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The {@code discovery} section: its defaults, and each mistake named by its field. */
class DiscoveryConfigTest {
  private static final String KEY = "lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

  @Test
  void offByDefaultWithTheNixServeServiceType() throws Exception {
    DiscoveryConfig d = YamlConfigs.load("cache:\n  ttl: 1h\n").discovery();
    assertThat(d.enabled()).isFalse();
    assertThat(d.service()).isEqualTo("_nix-serve._tcp");
    assertThat(d.domain()).isEqualTo("local");
    assertThat(d.serviceType()).isEqualTo("_nix-serve._tcp.local.");
    assertThat(d.priority()).isEqualTo(DiscoveryConfig.DEFAULT_PRIORITY).isEqualTo(20);
    assertThat(d.publicKeys()).isEmpty();
  }

  @Test
  void enabledWithKeysBinds() throws Exception {
    DiscoveryConfig d = YamlConfigs.load("""
        discovery:
          enabled: true
          service: "_binary-cache._tcp"
          domain: "lan.example"
          priority: 5
          public_keys: ["%s"]
        """.formatted(KEY)).discovery();
    assertThat(d)
        .isEqualTo(new DiscoveryConfig(true, "_binary-cache._tcp", "lan.example", 5, List.of(KEY)));
    assertThat(d.serviceType()).isEqualTo("_binary-cache._tcp.lan.example.");
  }

  @Test
  void enabledWithoutKeysIsAnErrorNamingTheField() {
    assertThat(YamlConfigs.problems("discovery:\n  enabled: true\n"))
        .singleElement()
        .asString()
        .startsWith("discovery.public_keys: required when discovery is enabled");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "service without underscore | discovery:\\n  service: nix-serve._tcp\\n | discovery.service: ",
        "service of another protocol | discovery:\\n  service: _nix-serve._sctp\\n | discovery.service: ",
        "domain with a trailing dot | discovery:\\n  domain: local.\\n | discovery.domain: ",
        "negative priority | discovery:\\n  priority: -1\\n | discovery.priority: ",
        "malformed key | discovery:\\n  public_keys: [nocolon]\\n | discovery.public_keys[0]: ",
        "key not a string | discovery:\\n  public_keys: [{a: b}]\\n | discovery.public_keys[0]: ",
        "unknown field | discovery:\\n  interval: 5s\\n | discovery.interval: unknown key",
        "enabled not a boolean | discovery:\\n  enabled: sometimes\\n | discovery.enabled: ",
      })
  void everyProblemNamesItsField(String name, String yaml, String expected) {
    assertThat(YamlConfigs.problems(yaml.replace("\\n", "\n")))
        .anySatisfy(p -> assertThat(p).startsWith(expected));
  }

  @Test
  void theOldConstructorLeavesDiscoveryOff() throws Exception {
    Config c = YamlConfigs.load("cache:\n  ttl: 1h\n");
    Config old =
        new Config(c.server(), c.upstreams(), c.cache(), c.timeouts(), c.logging(), c.mesh());
    assertThat(old.discovery()).isEqualTo(DiscoveryConfig.DISABLED);
  }
}
