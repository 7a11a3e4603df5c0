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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The winner is the earliest arrival that checks out, whatever order the checks finish in. */
class RaceTest {
  private Transport transport;
  private UpstreamClient client;
  private final List<TestUpstream> upstreams = new ArrayList<>();

  @BeforeEach
  void start() {
    transport = Transport.create(2);
    client = new UpstreamClient(transport, new TimeoutsConfig(Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2)), "test");
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    transport.shutdown();
    for (TestUpstream u : upstreams) {
      u.close();
    }
  }

  /** Runs check tasks only once {@code hold} tasks are queued, newest first: the worst order. */
  private static final class ReversingExecutor implements Executor {
    private final int hold;
    private final List<Runnable> queued = new ArrayList<>();

    ReversingExecutor(int hold) {
      this.hold = hold;
    }

    @Override
    public void execute(Runnable r) {
      List<Runnable> run = null;
      synchronized (this) {
        queued.add(r);
        if (queued.size() == hold) {
          run = new ArrayList<>(queued.reversed());
          queued.clear();
        }
      }
      if (run != null) {
        run.forEach(Runnable::run);
      }
    }
  }

  @Test
  void anEarlierArrivalWinsEvenWhenALaterOneIsCheckedFirst() throws Exception {
    TestKey key = new TestKey("k-1");
    TestUpstream near = TestUpstream.start();
    TestUpstream far = TestUpstream.start();
    upstreams.addAll(List.of(near, far));
    far.setLatency(Duration.ofMillis(150));
    String h = TestNarinfo.hash(100);
    byte[] body = TestNarinfo.make(h, "nar/r.nar", 10, key);
    near.putNarinfo(h, body);
    far.putNarinfo(h, body);
    UpstreamRegistry registry = new UpstreamRegistry(List.of(
        new Upstream(new UpstreamConfig(near.uri(), 10, List.of(key.publicKey())), 0.3),
        new Upstream(new UpstreamConfig(far.uri(), 10, List.of(key.publicKey())), 0.3)), Duration.ofMinutes(1));
    Metrics metrics = new Metrics(registry, () -> 0);

    RaceOutcome outcome = new Race(h, registry.all(), client, registry, metrics, new ReversingExecutor(2))
        .run().get(5, TimeUnit.SECONDS);
    assertThat(outcome).isInstanceOfSatisfying(RaceOutcome.Won.class,
        w -> assertThat(w.upstream().url()).isEqualTo(near.uri()));
  }

  @Test
  void anInvalidEarlierArrivalHandsTheWinToTheNextValidOne() throws Exception {
    TestKey key = new TestKey("k-1");
    TestKey forger = new TestKey("k-1");
    TestUpstream liar = TestUpstream.start();
    TestUpstream honest = TestUpstream.start();
    upstreams.addAll(List.of(liar, honest));
    honest.setLatency(Duration.ofMillis(100));
    String h = TestNarinfo.hash(101);
    liar.putNarinfo(h, TestNarinfo.make(h, "nar/r.nar", 10, forger));
    honest.putNarinfo(h, TestNarinfo.make(h, "nar/r.nar", 10, key));
    UpstreamRegistry registry = new UpstreamRegistry(List.of(
        new Upstream(new UpstreamConfig(liar.uri(), 10, List.of(key.publicKey())), 0.3),
        new Upstream(new UpstreamConfig(honest.uri(), 10, List.of(key.publicKey())), 0.3)), Duration.ofMinutes(1));
    RaceOutcome outcome = new Race(h, registry.all(), client, registry, new Metrics(registry, () -> 0), new ReversingExecutor(2))
        .run().get(5, TimeUnit.SECONDS);
    assertThat(outcome).isInstanceOfSatisfying(RaceOutcome.Won.class,
        w -> assertThat(w.upstream().url()).isEqualTo(honest.uri()));
  }
}
