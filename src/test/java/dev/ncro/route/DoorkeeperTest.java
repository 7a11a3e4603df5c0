package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.TestNarinfo;
import org.junit.jupiter.api.Test;

class DoorkeeperTest {
  @Test
  void admitsTheSecondReadWithinTheWindowOnly() {
    Doorkeeper d = new Doorkeeper(100);
    assertThat(d.admit("a")).as("first read").isFalse();
    assertThat(d.admit("a")).as("read again soon").isTrue();
    for (int i = 0; i < 99; i++) {
      d.admit("other-" + i);
    }
    assertThat(d.admit("b")).isFalse();
    assertThat(d.admit("a")).as("seen in the previous generation").isTrue();
    for (int i = 0; i < 200; i++) { // two windows of other reads
      d.admit("later-" + i);
    }
    assertThat(d.admit("b")).as("forgotten after two windows").isFalse();
  }

  @Test
  void aStreamOfOnceReadKeysIsNeverAdmittedButForRareCollisions() {
    Doorkeeper d = new Doorkeeper(10_000);
    int admitted = 0;
    for (int i = 0; i < 100_000; i++) {
      if (d.admit(TestNarinfo.hash(i))) {
        admitted++;
      }
    }
    assertThat(admitted).as("false positives of 2^18 bits at <= 20 000 keys").isLessThan(10_000);
  }
}
