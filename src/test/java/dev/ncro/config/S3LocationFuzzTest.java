package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * Coverage-guided fuzzing of {@link S3Location#parse}: any text after {@code s3://} is a location
 * whose canonical name parses back to the same location and whose HTTP base is a plain http(s)
 * URL, or a {@link S3Location.Malformed} naming a parameter; nothing else escapes. Seeds in
 * {@code src/test/resources/dev/ncro/s3/S3LocationFuzzTestInputs/parse/}.
 */
class S3LocationFuzzTest {
  @FuzzTest(maxDuration = "10s")
  void parse(byte[] data) {
    String url = "s3://" + new String(data, StandardCharsets.UTF_8);
    S3Location s;
    try {
      s = S3Location.parse(url);
    } catch (S3Location.Malformed e) {
      assertThat(e.parameter()).isNotBlank();
      assertThat(e.getMessage()).isNotBlank();
      return;
    }
    assertThat(S3Location.parse(s.canonical().toString()))
        .usingRecursiveComparison()
        .ignoringFields("profile")
        .isEqualTo(s);
    assertThat(s.httpBase().getScheme()).isIn("http", "https");
    assertThat(s.httpBase().getHost()).isNotEmpty();
  }
}
