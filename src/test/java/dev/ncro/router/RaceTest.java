package dev.ncro.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.TimeoutsConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.metrics.Metrics;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.transport.Transport;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The winner is the earliest arrival that checks out; only what could win is checked. */
class RaceTest {
  private Transport transport;
  private UpstreamClient client;
  private final List<TestUpstream> upstreams = new ArrayList<>();

  @BeforeEach
  void start() {
    transport = Transport.create(2);
    client = new UpstreamClient(
        transport,
        new TimeoutsConfig(Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2)),
        "test");
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    transport.shutdown();
    for (TestUpstream u : upstreams) {
      u.close();
    }
  }

  /** Runs each check on a thread of its own after {@code delay}, so later answers arrive meanwhile; counts them. */
  private static final class SlowCheckExecutor implements Executor {
    private final Duration delay;
    private final AtomicInteger checks = new AtomicInteger();

    SlowCheckExecutor(Duration delay) {
      this.delay = delay;
    }

    @Override
    public void execute(Runnable r) {
      checks.incrementAndGet();
      Thread.ofVirtual().start(() -> {
        try {
          Thread.sleep(delay);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        r.run();
      });
    }
  }

  @Test
  void theEarliestValidArrivalWinsAndLaterOnesAreNeverChecked() throws Exception {
    TestKey key = new TestKey("k-1");
    TestUpstream near = TestUpstream.start();
    TestUpstream far = TestUpstream.start();
    upstreams.addAll(List.of(near, far));
    far.setLatency(Duration.ofMillis(50));
    String h = TestNarinfo.hash(100);
    byte[] body = TestNarinfo.make(h, "nar/r.nar", 10, key);
    near.putNarinfo(h, body);
    far.putNarinfo(h, body);
    UpstreamRegistry registry = new UpstreamRegistry(
        List.of(
            new Upstream(new UpstreamConfig(near.uri(), 10, List.of(key.publicKey())), 0.3),
            new Upstream(new UpstreamConfig(far.uri(), 10, List.of(key.publicKey())), 0.3)),
        Duration.ofMinutes(1));
    Metrics metrics = new Metrics(registry, () -> 0);

    SlowCheckExecutor checks =
        new SlowCheckExecutor(Duration.ofMillis(400)); // far's answer arrives meanwhile
    RaceOutcome outcome = new Race(h, registry.all(), client, registry, metrics, checks)
        .run()
        .get(5, TimeUnit.SECONDS);
    assertThat(outcome)
        .isInstanceOfSatisfying(
            RaceOutcome.Won.class, w -> assertThat(w.upstream().url()).isEqualTo(near.uri()));
    assertThat(far.requestCount("/" + h + ".narinfo")).isEqualTo(1);
    assertThat(checks.checks).hasValue(1);
  }

  @Test
  void anInvalidEarlierArrivalHandsTheWinToTheNextValidOne() throws Exception {
    TestKey key = new TestKey("k-1");
    TestKey forger = new TestKey("k-1");
    TestUpstream liar = TestUpstream.start();
    TestUpstream honest = TestUpstream.start();
    upstreams.addAll(List.of(liar, honest));
    honest.setLatency(
        Duration.ofMillis(400)); // well after the liar's answer, even on a loaded machine
    String h = TestNarinfo.hash(101);
    liar.putNarinfo(h, TestNarinfo.make(h, "nar/r.nar", 10, forger));
    honest.putNarinfo(h, TestNarinfo.make(h, "nar/r.nar", 10, key));
    UpstreamRegistry registry = new UpstreamRegistry(
        List.of(
            new Upstream(new UpstreamConfig(liar.uri(), 10, List.of(key.publicKey())), 0.3),
            new Upstream(new UpstreamConfig(honest.uri(), 10, List.of(key.publicKey())), 0.3)),
        Duration.ofMinutes(1));
    SlowCheckExecutor checks =
        new SlowCheckExecutor(Duration.ofMillis(800)); // honest's answer waits behind liar's
    RaceOutcome outcome = new Race(
            h, registry.all(), client, registry, new Metrics(registry, () -> 0), checks)
        .run()
        .get(5, TimeUnit.SECONDS);
    assertThat(outcome)
        .isInstanceOfSatisfying(
            RaceOutcome.Won.class, w -> assertThat(w.upstream().url()).isEqualTo(honest.uri()));
    assertThat(checks.checks).hasValue(2);
  }
}
