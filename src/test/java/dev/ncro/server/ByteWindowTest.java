package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The byte arithmetic that decides what a client is promised and where a resume must start. */
class ByteWindowTest {
  @Test
  void aWhole200IsTheWholeFile() {
    ByteWindow w = ByteWindow.open(200, 1000, null, -1);
    assertThat(w.firstByte()).isZero();
    assertThat(w.promised()).isEqualTo(1000);
    assertThat(w.fileLength()).isEqualTo(1000);
    assertThat(w.cutToRange()).isFalse();
    assertThat(w.drop(500)).isZero();
    assertThat(w.resumable()).isTrue();
  }

  @Test
  void a206StartsWhereItsContentRangeSays() {
    ByteWindow w = ByteWindow.open(206, 400, new ContentRange(600, 999, 1000), 600);
    assertThat(w.firstByte()).isEqualTo(600);
    assertThat(w.fileLength()).isEqualTo(1000);
    assertThat(w.promised()).isEqualTo(400);
    assertThat(w.cutToRange()).as("the upstream honoured the range").isFalse();
    w.delivered(150);
    assertThat(w.resumeOffset()).isEqualTo(750);
    assertThat(w.complete()).isFalse();
    w.delivered(250);
    assertThat(w.complete()).isTrue();
  }

  @Test
  void a200ToARangeRequestIsCutToTheRange() {
    ByteWindow w = ByteWindow.open(200, 100_000, null, 70_000);
    assertThat(w.cutToRange()).isTrue();
    assertThat(w.firstByte()).isEqualTo(70_000);
    assertThat(w.promised()).isEqualTo(30_000);
    assertThat(w.fileLength()).isEqualTo(100_000);
    // Upstream chunks of 65536: the first is dropped whole, 4464 bytes of the second are dropped.
    assertThat(w.drop(65_536)).isEqualTo(65_536);
    assertThat(w.drop(65_536)).isEqualTo(70_000 - 65_536);
    assertThat(w.drop(65_536)).as("nothing left to drop").isZero();
    w.delivered(30_000);
    assertThat(w.complete()).isTrue();
    assertThat(w.resumeOffset()).isEqualTo(100_000);
  }

  @Test
  void a200ToARangeAtOrBeyondItsEndIsPassedAsIs() {
    ByteWindow w = ByteWindow.open(200, 1000, null, 1000);
    assertThat(w.cutToRange()).isFalse();
    assertThat(w.promised()).isEqualTo(1000);
    assertThat(w.firstByte()).isZero();
  }

  @Test
  void unknownLengthsAreNeverResumedButAlwaysComplete() {
    ByteWindow chunked = ByteWindow.open(200, -1, null, -1);
    assertThat(chunked.resumable()).isFalse();
    chunked.delivered(12345);
    assertThat(chunked.complete()).as("no length was promised").isTrue();
    ByteWindow noRange = ByteWindow.open(206, 400, null, 600);
    assertThat(noRange.fileLength()).as("a 206 without a usable Content-Range").isEqualTo(-1);
    assertThat(noRange.resumable()).isFalse();
  }

  @Test
  void onlyAnAnswerStartingAtTheNextByteOfTheSameFileContinuesTheBody() {
    ByteWindow w = ByteWindow.open(200, 1000, null, -1);
    w.delivered(300);
    assertThat(w.continuedBy(new ContentRange(300, 999, 1000))).isTrue();
    assertThat(w.continuedBy(new ContentRange(301, 999, 1000)))
        .as("one byte late")
        .isFalse();
    assertThat(w.continuedBy(new ContentRange(299, 999, 1000)))
        .as("one byte early")
        .isFalse();
    assertThat(w.continuedBy(new ContentRange(300, 1499, 1500)))
        .as("another file's length")
        .isFalse();
    assertThat(w.continuedBy(null)).isFalse();
  }

  @Test
  void aResumeOfACutRangeCountsFromTheClientsFirstByte() {
    ByteWindow w = ByteWindow.open(200, 10_000, null, 4000);
    w.drop(4000);
    w.delivered(1000);
    assertThat(w.resumeOffset()).isEqualTo(5000);
    assertThat(w.continuedBy(new ContentRange(5000, 9999, 10_000))).isTrue();
  }

  @Test
  void readsTheOpenRangeFormNixSends() {
    assertThat(ByteWindow.requestedFrom("bytes=0-")).isZero();
    assertThat(ByteWindow.requestedFrom("bytes=60000-")).isEqualTo(60_000);
    assertThat(ByteWindow.requestedFrom("bytes=999999999999999999-"))
        .isEqualTo(999_999_999_999_999_999L);
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(
      strings = {
        "",
        "bytes=",
        "bytes=-500",
        "bytes=0-99",
        "bytes=1-,5-",
        "items=5-",
        "bytes=1000000000000000000-",
        "bytes= 5-",
        "Bytes=5-"
      })
  void otherRangesAreNotAnOpenStart(String range) {
    assertThat(ByteWindow.requestedFrom(range)).isEqualTo(-1);
  }
}
