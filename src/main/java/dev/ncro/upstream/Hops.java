package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.ReadOnlyHttpHeaders;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The {@code X-Ncro-Hop} header: how many ncro nodes a request has passed through. Every request
 * ncro sends upstream carries it ({@link UpstreamClient} adds 1 when the caller gave none, as for a
 * probe or a plain client's request); a node serving a request that arrived with hop N sends N + 1.
 * Two nodes that list each other as upstreams then see the count grow with every bounce, and the
 * one that sees it reach {@code server.max_hops} answers from its own store instead of asking again.
 */
public final class Hops {
  public static final String HEADER = "X-Ncro-Hop";
  /** Up to 3 digits: more than 999 hops is not a request anyone meant to send. */
  private static final Pattern VALUE = Pattern.compile("[0-9]{1,3}");

  /** Shared read-only headers for the usual counts: this runs on every narinfo request, hit or not. */
  private static final HttpHeaders[] FORWARD = new HttpHeaders[16];

  static {
    for (int i = 0; i < FORWARD.length; i++) {
      FORWARD[i] = new ReadOnlyHttpHeaders(false, HEADER, Integer.toString(i + 1));
    }
  }

  private Hops() {}

  /** The hop count a client's request arrived with (0 without the header), or -1 when the header is malformed. */
  public static int incoming(HttpHeaders headers) {
    List<String> all = headers.getAll(HEADER);
    if (all.isEmpty()) {
      return 0;
    }
    if (all.size() > 1 || !VALUE.matcher(all.get(0).strip()).matches()) {
      return -1;
    }
    return Integer.parseInt(all.get(0).strip());
  }

  /**
   * Headers for the upstream requests made on behalf of a request that arrived with {@code
   * incoming} hops. Read-only: callers copy them into a request ({@link UpstreamClient}) and never
   * change them.
   */
  public static HttpHeaders forward(int incoming) {
    return incoming >= 0 && incoming < FORWARD.length
        ? FORWARD[incoming]
        : new ReadOnlyHttpHeaders(false, HEADER, Integer.toString(incoming + 1));
  }
}
