package dev.ncro.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

/**
 * Builds the {@link Config}: the embedded default ({@code default-config.yaml}), overridden field
 * by field by an optional YAML file (mappings merge, lists and scalars replace), overridden by the
 * {@code NCRO_*} environment variables; then validated as a whole by {@link ConfigBinder}.
 */
public final class ConfigLoader {
  /** Environment variable → the field it overrides, as in the original ncro. */
  static final Map<String, List<String>> ENV = Map.of(
      "NCRO_LISTEN", List.of("server", "listen"),
      "NCRO_DB_PATH", List.of("cache", "db_path"),
      "NCRO_LOG_LEVEL", List.of("logging", "level"));

  private ConfigLoader() {}

  /** Loads the default, then {@code file} when not null, then {@code env}. */
  public static Config load(Path file, Map<String, String> env) throws ConfigException {
    String fileText = null;
    if (file != null) {
      try {
        fileText = Files.readString(file, StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        throw new ConfigException(List.of(file + ": no such file"));
      } catch (IOException e) {
        throw new ConfigException(List.of(file + ": cannot read: " + e.getMessage()));
      }
    }
    return load(fileText, file == null ? null : file.toString(), env);
  }

  /** As {@link #load(Path, Map)}, with the file's text given directly (null for none). */
  public static Config load(String fileText, String label, Map<String, String> env) throws ConfigException {
    Map<String, Object> tree = parse(defaultYaml(), "embedded default config");
    if (fileText != null) {
      Map<String, Object> overrides = parse(fileText, label);
      tree = merge(tree, overrides);
    }
    Map<String, String> sources = new HashMap<>();
    for (Map.Entry<String, List<String>> e : ENV.entrySet()) {
      String value = env.get(e.getKey());
      if (value != null && !value.isEmpty()) {
        set(tree, e.getValue(), value);
        sources.put(String.join(".", e.getValue()), e.getKey());
      }
    }
    return new ConfigBinder(new YamlFields(sources)).bind(tree);
  }

  static String defaultYaml() {
    try (InputStream in = ConfigLoader.class.getResourceAsStream("/default-config.yaml")) {
      if (in == null) {
        throw new IllegalStateException("default-config.yaml missing from the jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read embedded default config", e);
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> parse(String text, String label) throws ConfigException {
    Object doc;
    try {
      doc = new Load(LoadSettings.builder().setLabel(label).setAllowDuplicateKeys(false).build())
          .loadFromString(text);
    } catch (YamlEngineException e) {
      throw new ConfigException(List.of(label + ": invalid YAML: " + e.getMessage().replace('\n', ' ')));
    }
    if (doc == null) {
      return new LinkedHashMap<>(); // an empty file overrides nothing
    }
    if (!(doc instanceof Map<?, ?>)) {
      throw new ConfigException(List.of(label + ": expected a mapping at the top level, got " + YamlFields.describe(doc)));
    }
    return (Map<String, Object>) doc;
  }

  /** {@code base} with {@code over} laid on top: nested mappings merge, anything else replaces. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> merge(Map<String, Object> base, Map<String, Object> over) {
    Map<String, Object> out = new LinkedHashMap<>(base);
    for (Map.Entry<String, Object> e : over.entrySet()) {
      Object old = out.get(e.getKey());
      if (old instanceof Map<?, ?> oldMap && e.getValue() instanceof Map<?, ?> newMap) {
        out.put(e.getKey(), merge((Map<String, Object>) oldMap, (Map<String, Object>) newMap));
      } else {
        out.put(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private static void set(Map<String, Object> tree, List<String> path, String value) {
    Map<String, Object> node = tree;
    for (int i = 0; i < path.size() - 1; i++) {
      Object next = node.get(path.get(i));
      Map<String, Object> copy = next instanceof Map<?, ?> m ? new LinkedHashMap<>((Map<String, Object>) m) : new LinkedHashMap<>();
      node.put(path.get(i), copy);
      node = copy;
    }
    node.put(path.get(path.size() - 1), value);
  }
}
