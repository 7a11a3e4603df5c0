package dev.ncro.config;

import java.math.BigDecimal;
import java.time.Duration;

/**
 * Durations in Go's {@code time.ParseDuration} syntax, as the original ncro's YAML used them:
 * one or more decimal numbers with a unit ({@code ns us µs ms s m h}), e.g. {@code 500ms},
 * {@code 30s}, {@code 1m30s}, {@code 1.5h}.
 */
public final class GoDuration {
  private GoDuration() {}

  /** Parses {@code text}; throws {@link IllegalArgumentException} with a readable reason. */
  public static Duration parse(String text) {
    if (text == null || text.isEmpty()) {
      throw new IllegalArgumentException("empty duration");
    }
    if (text.equals("0")) {
      return Duration.ZERO;
    }
    int i = 0;
    BigDecimal nanos = BigDecimal.ZERO;
    while (i < text.length()) {
      int numStart = i;
      while (i < text.length() && (Character.isDigit(text.charAt(i)) || text.charAt(i) == '.')) {
        i++;
      }
      if (i == numStart) {
        throw bad(text);
      }
      BigDecimal number;
      try {
        number = new BigDecimal(text.substring(numStart, i));
      } catch (NumberFormatException e) {
        throw bad(text);
      }
      int unitStart = i;
      while (i < text.length() && !Character.isDigit(text.charAt(i)) && text.charAt(i) != '.') {
        i++;
      }
      long unit = switch (text.substring(unitStart, i)) {
        case "ns" -> 1L;
        case "us", "µs", "μs" -> 1_000L;
        case "ms" -> 1_000_000L;
        case "s" -> 1_000_000_000L;
        case "m" -> 60_000_000_000L;
        case "h" -> 3_600_000_000_000L;
        default -> throw bad(text);
      };
      nanos = nanos.add(number.multiply(BigDecimal.valueOf(unit)));
    }
    try {
      return Duration.ofNanos(nanos.longValueExact());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("duration \"" + text + "\" is out of range");
    }
  }

  private static IllegalArgumentException bad(String text) {
    return new IllegalArgumentException(
        "invalid duration \"" + text + "\", expected e.g. 500ms, 30s, 1m30s, 1h");
  }
}
