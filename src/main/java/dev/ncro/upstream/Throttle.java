package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;

/**
 * An upstream asking to be left alone for a while: {@code 429 Too Many Requests}, or {@code 503}
 * with {@code Retry-After} (maintenance) or with S3's {@code SlowDown} error. Private caches (Cachix, Attic,
 * a CDN in front of S3) rate-limit; asking again at once, on behalf of every client, only extends
 * the limit. So the upstream is left out of races and NAR attempts for the time it names, or,
 * without a {@code Retry-After}, for 1 s, doubling with each throttle in a row up to a minute.
 */
public final class Throttle {
  /** A {@code Retry-After} longer than this is taken as this: a typo must not shut a cache out for a day. */
  static final Duration MAX = Duration.ofMinutes(10);

  static final Duration FIRST_BACKOFF = Duration.ofSeconds(1);
  static final Duration MAX_BACKOFF = Duration.ofMinutes(1);

  private Throttle() {}

  /** Whether a response with {@code status} and {@code headers} asks to slow down. */
  public static boolean asked(int status, HttpHeaders headers) {
    return status == 429 || (status == 503 && headers.contains(HttpHeaderNames.RETRY_AFTER));
  }

  /**
   * As {@link #asked(int, HttpHeaders)}, also reading a small error {@code body}: S3 asks with a
   * 503 whose XML error code is {@code SlowDown}, without a Retry-After (backed off, then).
   */
  public static boolean asked(int status, HttpHeaders headers, byte[] body) {
    return asked(status, headers) || (status == 503 && slowDown(body));
  }

  private static boolean slowDown(byte[] body) {
    if (body == null || body.length == 0 || body.length > 64 * 1024) {
      return false;
    }
    return new String(body, StandardCharsets.UTF_8).contains("<Code>SlowDown</Code>");
  }

  /**
   * The wait {@code headers} ask for ({@code Retry-After}: seconds or an HTTP date, at most {@link
   * #MAX}); null when absent or unreadable, and the caller backs off on its own ({@link
   * #backoff}).
   */
  public static Duration retryAfter(HttpHeaders headers, Instant now) {
    String v = headers == null ? null : headers.get(HttpHeaderNames.RETRY_AFTER);
    if (v == null || v.isBlank()) {
      return null;
    }
    v = v.strip();
    Duration d;
    if (v.matches("[0-9]{1,10}")) {
      d = Duration.ofSeconds(Long.parseLong(v));
    } else {
      try {
        d = Duration.between(
            now, ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant());
      } catch (DateTimeParseException e) {
        return null;
      }
    }
    if (d.isNegative()) {
      return Duration.ZERO;
    }
    return d.compareTo(MAX) > 0 ? MAX : d;
  }

  /** Without a {@code Retry-After}: 1 s for the first throttle in a row, doubling up to a minute. */
  static Duration backoff(int inARow) {
    long ms = FIRST_BACKOFF.toMillis() << Math.min(Math.max(inARow - 1, 0), 16);
    return Duration.ofMillis(Math.min(ms, MAX_BACKOFF.toMillis()));
  }
}
