package dev.ncro.config;

import java.util.List;

/**
 * The configuration cannot be used. Carries every problem found (not just the first), each a line
 * of the form {@code field.path: what is wrong}, so an operator fixes them all in one go.
 */
public final class ConfigException extends Exception {
  private final List<String> problems;

  public ConfigException(List<String> problems) {
    super(String.join("; ", problems));
    this.problems = List.copyOf(problems);
  }

  public List<String> problems() {
    return problems;
  }
}
