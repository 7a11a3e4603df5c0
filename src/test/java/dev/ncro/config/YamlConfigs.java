package dev.ncro.config;

import java.util.List;
import java.util.Map;

/** Loads a config from YAML text as a file would be, for the config tests. */
final class YamlConfigs {
  private YamlConfigs() {}

  static Config load(String yaml) throws ConfigException {
    return ConfigLoader.load(yaml, "test.yaml", Map.of());
  }

  /** The problems a YAML text causes; fails the test when it loads. */
  static List<String> problems(String yaml) {
    try {
      load(yaml);
    } catch (ConfigException e) {
      return e.problems();
    }
    throw new AssertionError("expected the config to be refused:\n" + yaml);
  }
}
