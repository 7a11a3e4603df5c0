package dev.ncro.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.api.lowlevel.Parse;
import org.snakeyaml.engine.v2.events.Event;
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

  /**
   * Limits that keep a hostile or broken file from exhausting the JVM (a config file is a few
   * hundred bytes): its size; the nesting depth (SnakeYAML composes recursively, so a file of
   * {@code [[[[...} would otherwise end in a StackOverflowError); aliases to collections (billion
   * laughs). Mapping keys must be plain scalars: a list or alias as a key would be hashed, compared
   * and printed in messages element by element, which an alias bomb makes exponential.
   */
  static final int MAX_BYTES = 1024 * 1024;

  static final int MAX_DEPTH = 32;
  static final int MAX_ALIASES = 50;

  private ConfigLoader() {}

  /**
   * Whether the credential files a config names ({@code password_file}, {@code bearer_token_file},
   * {@code netrc_file}, {@code ca_file}, client credentials) are read. Serving always reads them.
   * A build-time check ({@code ncro --check --skip-secret-files}, the NixOS module's) skips them:
   * systemd delivers them only when the service starts ({@code LoadCredential}), so in a build
   * sandbox they do not exist yet; every other field is still checked.
   */
  public enum SecretFiles {
    READ,
    SKIP
  }

  /** Loads the default, then {@code file} when not null, then {@code env}. */
  public static Config load(Path file, Map<String, String> env) throws ConfigException {
    return load(file, env, SecretFiles.READ);
  }

  /** As {@link #load(Path, Map)}, reading or skipping the credential files it names. */
  public static Config load(Path file, Map<String, String> env, SecretFiles secretFiles)
      throws ConfigException {
    String fileText = null;
    if (file != null) {
      byte[] bytes;
      try (InputStream in = Files.newInputStream(file)) {
        bytes = in.readNBytes(MAX_BYTES + 1); // bounded: --config /dev/zero must not fill the heap
      } catch (NoSuchFileException e) {
        throw new ConfigException(List.of(file + ": no such file"));
      } catch (IOException e) {
        throw new ConfigException(List.of(file + ": cannot read: " + e.getMessage()));
      }
      if (bytes.length > MAX_BYTES) {
        throw new ConfigException(
            List.of(file + ": larger than " + MAX_BYTES / 1024 + " KiB, not a config file"));
      }
      fileText = new String(bytes, StandardCharsets.UTF_8);
    }
    return load(fileText, file == null ? null : file.toString(), env, secretFiles);
  }

  /** As {@link #load(Path, Map)}, with the file's text given directly (null for none). */
  public static Config load(String fileText, String label, Map<String, String> env)
      throws ConfigException {
    return load(fileText, label, env, SecretFiles.READ);
  }

  private static Config load(
      String fileText, String label, Map<String, String> env, SecretFiles secretFiles)
      throws ConfigException {
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
    return new ConfigBinder(new YamlFields(sources), env, secretFiles == SecretFiles.READ)
        .bind(tree);
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
    LoadSettings settings = LoadSettings.builder()
        .setLabel(label)
        .setAllowDuplicateKeys(false)
        .setAllowRecursiveKeys(false)
        .setMaxAliasesForCollections(MAX_ALIASES)
        .setCodePointLimit(MAX_BYTES)
        .build();
    Object doc;
    try {
      checkShape(text, settings, label);
      doc = new Load(settings).loadFromString(text);
    } catch (YamlEngineException e) {
      throw new ConfigException(
          List.of(label + ": invalid YAML: " + e.getMessage().replace('\n', ' ')));
    }
    if (doc == null) {
      return new LinkedHashMap<>(); // an empty file overrides nothing
    }
    if (!(doc instanceof Map<?, ?>)) {
      throw new ConfigException(List.of(
          label + ": expected a mapping at the top level, got " + YamlFields.describe(doc)));
    }
    return (Map<String, Object>) doc;
  }

  /**
   * Walks the parse events (SnakeYAML's parser is iterative, its composer is not) before anything
   * is built: nesting deeper than {@link #MAX_DEPTH}, or a mapping key that is not a scalar, is a
   * {@link ConfigException} naming the line.
   */
  private static void checkShape(String text, LoadSettings settings, String label)
      throws ConfigException {
    Deque<boolean[]> open =
        new ArrayDeque<>(); // per open collection: {is a mapping, expecting a key}
    for (Event e : new Parse(settings).parseString(text)) {
      Event.ID id = e.getEventId();
      switch (id) {
        case Scalar, Alias, MappingStart, SequenceStart -> {
          boolean[] parent = open.peek();
          if (parent != null && parent[0]) {
            if (parent[1] && id != Event.ID.Scalar) {
              throw shapeProblem(
                  label,
                  e,
                  "a mapping key must be a plain value, not "
                      + (id == Event.ID.Alias
                          ? "an alias"
                          : id == Event.ID.MappingStart ? "a mapping" : "a list"));
            }
            parent[1] = !parent[1];
          }
          if (id == Event.ID.MappingStart || id == Event.ID.SequenceStart) {
            if (open.size() >= MAX_DEPTH) {
              throw shapeProblem(label, e, "nested deeper than " + MAX_DEPTH + " levels");
            }
            open.push(new boolean[] {id == Event.ID.MappingStart, true});
          }
        }
        case MappingEnd, SequenceEnd -> open.pop();
        default -> {} // stream and document boundaries, comments
      }
    }
  }

  private static ConfigException shapeProblem(String label, Event e, String what) {
    String where = e.getStartMark()
        .map(m -> " (line " + (m.getLine() + 1) + ", column " + (m.getColumn() + 1) + ")")
        .orElse("");
    return new ConfigException(List.of(label + where + ": " + what));
  }

  /** {@code base} with {@code over} laid on top: nested mappings merge, anything else replaces. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> merge(Map<String, Object> base, Map<String, Object> over) {
    // Keys are whatever scalars the file has (1, true, null...), not necessarily strings: the
    // binder reports those as unknown keys, so they must pass through here untouched.
    Map<Object, Object> out = new LinkedHashMap<>(base);
    for (Map.Entry<?, ?> e : over.entrySet()) {
      Object old = out.get(e.getKey());
      if (old instanceof Map<?, ?> oldMap && e.getValue() instanceof Map<?, ?> newMap) {
        out.put(e.getKey(), merge((Map<String, Object>) oldMap, (Map<String, Object>) newMap));
      } else {
        out.put(e.getKey(), e.getValue());
      }
    }
    return (Map<String, Object>) (Map<?, ?>) out;
  }

  @SuppressWarnings("unchecked")
  private static void set(Map<String, Object> tree, List<String> path, String value) {
    Map<String, Object> node = tree;
    for (int i = 0; i < path.size() - 1; i++) {
      Object next = node.get(path.get(i));
      Map<String, Object> copy = next instanceof Map<?, ?> m
          ? new LinkedHashMap<>((Map<String, Object>) m)
          : new LinkedHashMap<>();
      node.put(path.get(i), copy);
      node = copy;
    }
    node.put(path.get(path.size() - 1), value);
  }
}
