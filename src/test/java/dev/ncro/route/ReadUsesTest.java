package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReadUsesTest {
  private static final long NOW = 1_000_000_000L;
  private static final long STALE = NOW - ReadUses.GRANULARITY.toMillis();
  private static final long RECENT = STALE + 1;

  private static List<RouteBackend.Touch> drain(ReadUses uses) {
    List<RouteBackend.Touch> out = new ArrayList<>();
    uses.drainInto(out);
    return out;
  }

  @Test
  void onlyAReadOfARowWhoseLastUseIsAGrainOldIsRecorded() {
    ReadUses uses = new ReadUses();
    uses.read("stale", STALE, NOW);
    uses.read("recent", RECENT, NOW);
    assertThat(drain(uses)).containsExactly(new RouteBackend.Touch("stale", NOW));
    assertThat(drain(uses)).as("drained: the next flush starts empty").isEmpty();
  }

  @Test
  void atMostMaxPendingUsesWaitForOneFlushAndTheNextFlushTakesNewOnes() {
    ReadUses uses = new ReadUses();
    for (int i = 0; i < ReadUses.MAX_PENDING + 100; i++) {
      uses.read("h" + i, STALE, NOW);
    }
    List<RouteBackend.Touch> first = drain(uses);
    assertThat(first).hasSize(ReadUses.MAX_PENDING);
    uses.read("again", STALE, NOW + 1);
    assertThat(drain(uses)).containsExactly(new RouteBackend.Touch("again", NOW + 1));
  }
}
