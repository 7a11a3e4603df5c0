package dev.ncro.support;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock tests move by hand, so expiry is tested without waiting. */
public final class MutableClock extends Clock {
  private volatile long millis = 1_700_000_000_000L;

  public long millis() {
    return millis;
  }

  public void advance(long byMillis) {
    millis += byMillis;
  }

  @Override
  public ZoneOffset getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return this;
  }

  @Override
  public Instant instant() {
    return Instant.ofEpochMilli(millis);
  }
}
