package dev.ncro.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.TimeoutsConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.Closer;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.transport.Transport;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Where a broken download may continue: only an upstream with the very same file (FileHash). */
class ResumeFinderIT {
  private static final String HASH = TestNarinfo.hash(7);
  private static final String FILE_HASH =
      "sha256:0a8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";

  @RegisterExtension
  final Closer open = new Closer();

  private Transport transport;
  private UpstreamClient client;
  private ResumeFinder finder;

  @BeforeEach
  void setUp() {
    transport = Transport.create(1);
    client = new UpstreamClient(
        transport,
        new TimeoutsConfig(Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2)),
        "test");
    finder = new ResumeFinder(client);
  }

  @AfterEach
  void tearDown() throws Exception {
    client.close();
    transport.shutdown();
  }

  private TestUpstream server() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private static Upstream upstream(TestUpstream t) {
    return new Upstream(new UpstreamConfig(t.uri(), 10, List.of()), 0.3);
  }

  /** The narinfo of the test path with another FileHash (another compression of the same NAR). */
  private static byte[] otherFile(String url) {
    String s = new String(TestNarinfo.make(HASH, url, 10, null), StandardCharsets.UTF_8);
    return s.replace(FILE_HASH, "sha256:1111111111111111111111111111111111111111111111111111")
        .getBytes(StandardCharsets.UTF_8);
  }

  private Optional<ResumeFinder.Source> find(List<Upstream> candidates) throws Exception {
    return finder.find(HASH, FILE_HASH, candidates).get(10, TimeUnit.SECONDS);
  }

  @Test
  void choosesTheUpstreamWithTheSameFileUnderItsOwnUrl() throws Exception {
    TestUpstream absent = server();
    TestUpstream different = server();
    TestUpstream same = server();
    different.putNarinfo(HASH, otherFile("nar/other.nar.zst"));
    same.putNarinfo(HASH, TestNarinfo.make(HASH, "nar/renamed.nar.xz", 10, null));
    Upstream s = upstream(same);

    Optional<ResumeFinder.Source> found = find(List.of(upstream(absent), upstream(different), s));

    assertThat(found).isPresent();
    assertThat(found.get().upstream()).isSameAs(s);
    assertThat(found.get().narPath()).isEqualTo("/nar/renamed.nar.xz");
    assertThat(absent.requestCount("/" + HASH + ".narinfo"))
        .as("every candidate is asked")
        .isEqualTo(1);
  }

  @Test
  void theFirstCandidateInTheGivenOrderWinsNotTheFirstToAnswer() throws Exception {
    TestUpstream slow = server();
    TestUpstream fast = server();
    slow.setLatency(Duration.ofMillis(200));
    slow.putNarinfo(HASH, TestNarinfo.make(HASH, "nar/slow.nar.xz", 10, null));
    fast.putNarinfo(HASH, TestNarinfo.make(HASH, "nar/fast.nar.xz", 10, null));

    Optional<ResumeFinder.Source> found = find(List.of(upstream(slow), upstream(fast)));

    assertThat(found).map(ResumeFinder.Source::narPath).hasValue("/nar/slow.nar.xz");
  }

  @Test
  void noneWhenNobodyHasTheSameFileOrAnswersSanely() throws Exception {
    TestUpstream different = server();
    TestUpstream broken = server();
    TestUpstream unsafe = server();
    TestUpstream garbage = server();
    TestUpstream wrongPath = server();
    different.putNarinfo(HASH, otherFile("nar/other.nar.zst"));
    broken.status5xxForAll(500);
    unsafe.putNarinfo(HASH, TestNarinfo.make(HASH, "nar/a b.nar.xz", 10, null));
    garbage.putNarinfo(HASH, "not a narinfo".getBytes(StandardCharsets.UTF_8));
    String other = TestNarinfo.hash(8);
    wrongPath.putNarinfo(HASH, TestNarinfo.make(other, "nar/x.nar.xz", 10, null));

    assertThat(find(List.of(
            upstream(different),
            upstream(broken),
            upstream(unsafe),
            upstream(garbage),
            upstream(wrongPath))))
        .isEmpty();
  }

  @Test
  void withoutARouteThereIsNothingToCompareAndNobodyIsAsked() throws Exception {
    TestUpstream same = server();
    same.putNarinfo(HASH, TestNarinfo.make(HASH, "nar/x.nar.xz", 10, null));
    assertThat(finder.find(HASH, null, List.of(upstream(same))).get(10, TimeUnit.SECONDS))
        .isEmpty();
    assertThat(finder.find(null, FILE_HASH, List.of(upstream(same))).get(10, TimeUnit.SECONDS))
        .isEmpty();
    assertThat(same.requestCount("/" + HASH + ".narinfo")).isZero();
  }
}
