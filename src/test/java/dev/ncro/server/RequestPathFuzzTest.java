package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Coverage-guided fuzzing of the gate in front of the upstreams, {@link RequestPath#classify(String)},
 * with most weight on the cache file prefixes ({@link CacheFilePath}), the only paths ncro decodes.
 * The properties:
 * <ul>
 *   <li>it never throws, and a rejection is a 4xx;
 *   <li>a cache file's upstream path is in canonical form: it classifies again to the very same
 *       target (so decoding happens once, and a decoded {@code %} is never decoded again), it starts
 *       with {@code /}, is no longer than the limit, and holds no control character, space,
 *       backslash, {@code ..} or {@code .} segment, empty segment, or escape of {@code /} or {@code %};
 *   <li>a narinfo or NAR target comes only from a path of the plain characters.
 * </ul>
 *
 * <p>Seeds: {@code src/test/resources/dev/ncro/server/RequestPathFuzzTestInputs/classify/}.
 */
class RequestPathFuzzTest {
  @FuzzTest(maxDuration = "15s")
  void classify(String uri) {
    if (uri == null) {
      return; // Netty never hands over a null URI
    }
    Target t = RequestPath.classify(uri);
    assertThat(t).isNotNull();
    switch (t) {
      case Target.Rejected r -> assertThat(r.status()).isBetween(400, 499);
      case Target.CacheFile f -> {
        String p = f.upstreamPath();
        int q = p.indexOf('?');
        String path = q < 0 ? p : p.substring(0, q);
        assertThat(path)
            .startsWith("/")
            .doesNotContain("//", "\\", " ", "%2F", "%2f", "%25", "/../", "/./");
        assertThat(path).doesNotEndWith("/..").doesNotEndWith("/.").doesNotEndWith("/");
        assertThat(path.chars().allMatch(c -> c > 0x20 && c < 0x7f))
            .as("printable ASCII: %s", p)
            .isTrue();
        assertThat(RequestPath.classify(p)).as("canonical: %s", p).isEqualTo(t);
        assertThat(uri.length()).isLessThanOrEqualTo(RequestPath.MAX_URI);
      }
      case Target.Narinfo n -> assertThat(uri).doesNotContain("%");
      case Target.Nar n -> {
        assertThat(n.narUrl()).doesNotContain("%", "\\");
        // No traversal: no "." or ".." segment ("...." is an ordinary file name, found by this
        // fuzzer).
        String narPath = n.narUrl().contains("?")
            ? n.narUrl().substring(0, n.narUrl().indexOf('?'))
            : n.narUrl();
        assertThat(narPath.split("/", -1)).doesNotContain(".", "..", "");
      }
      default -> {}
    }
  }
}
