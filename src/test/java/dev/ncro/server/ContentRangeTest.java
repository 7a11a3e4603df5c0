package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

/** ContentRange decides whether a resumed answer may be spliced onto a broken download. */
class ContentRangeTest {
  @Test
  void parsesTheOnlyResumableForm() {
    assertThat(ContentRange.parse("bytes 100-999/1000"))
        .isEqualTo(new ContentRange(100, 999, 1000));
    assertThat(ContentRange.parse("bytes 0-0/1")).isEqualTo(new ContentRange(0, 0, 1));
    assertThat(ContentRange.parse("bytes  5-9/10 "))
        .as("surrounding blanks")
        .isEqualTo(new ContentRange(5, 9, 10));
    assertThat(ContentRange.parse("bytes 0-8589934591/8589934592"))
        .as("files beyond 4 GiB")
        .isEqualTo(new ContentRange(0, 8_589_934_591L, 8_589_934_592L));
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(
      strings = {
        "",
        "bytes",
        "bytes ",
        "items 0-9/10",
        "Bytes 0-9/10",
        "bytes 0-9/*", // unknown total: cannot be checked against the file
        "bytes */10", // unsatisfied-range form
        "bytes 10-9/20", // last before first
        "bytes 0-10/10", // last beyond the end
        "bytes 0-9/9",
        "bytes -1-9/10",
        "bytes 0--9/10",
        "bytes 0-9-/10",
        "bytes 0-9/10/11",
        "bytes a-9/10",
        "bytes 0-b/10",
        "bytes 0-9/c",
        "bytes 0-9/99999999999999999999",
        "bytes 0-9",
        "bytes /10",
        "bytes 0/10"
      })
  void refusesEverythingElse(String header) {
    assertThat(ContentRange.parse(header)).isNull();
  }
}
