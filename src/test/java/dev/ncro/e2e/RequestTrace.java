package dev.ncro.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every request the bench's caches served during one scenario, from their nginx access logs
 * ({@code $msec} when the answer was logged, {@code $connection} and {@code $connection_requests}):
 * the per-request timings {@link NixClosureBench} prints with {@code NCRO_BENCH_PER_REQUEST=1}.
 * A request that is the first on its connection ({@code nth} 1) went out on a new connection (and
 * paid the relay's handshake round trip) or on a warm one used for the first time.
 */
final class RequestTrace {
  private final List<FarCache> caches;
  private final Map<FarCache, Integer> seen = new LinkedHashMap<>();
  private final long startMillis = System.currentTimeMillis();

  private RequestTrace(List<FarCache> caches) throws IOException {
    this.caches = caches;
    for (FarCache c : caches) {
      seen.put(c, c.nginx().accessLog().size());
    }
  }

  /** Remembers where each cache's log ends now, and the time: the scenario starts here. */
  static RequestTrace mark(List<FarCache> caches) {
    try {
      return new RequestTrace(caches);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** One served request: ms since the mark, cache, method, path, status, connection, nth on it. */
  private record Line(
      double atMs, String cache, String method, String path, int status, long conn, int nth) {}

  /** Prints the requests served since {@link #mark}, by time, then a summary per cache. */
  void print(String scenario) throws IOException {
    List<Line> lines = new ArrayList<>();
    for (FarCache c : caches) {
      List<String> log = c.nginx().accessLog();
      for (String l : log.subList(seen.get(c), log.size())) {
        String[] f = l.split(" ");
        lines.add(new Line(
            Double.parseDouble(f[5]) * 1000 - startMillis,
            c.name(),
            f[0],
            f[1],
            Integer.parseInt(f[2]),
            Long.parseLong(f[6]),
            Integer.parseInt(f[7])));
      }
    }
    lines.sort(Comparator.comparingDouble(Line::atMs));
    System.out.printf(
        "per request, %s (ms since the client started; nth: request number on its"
            + " connection, 1 = the first on it: new, or warm and unused until then)%n",
        scenario);
    System.out.printf(
        "  %8s %-10s %-5s %-44s %6s %6s %4s%n",
        "ms", "cache", "meth", "path", "status", "conn", "nth");
    for (Line l : lines) {
      System.out.printf(
          "  %8.0f %-10s %-5s %-44s %6d %6d %4d%n",
          l.atMs(), l.cache(), l.method(), l.path(), l.status(), l.conn(), l.nth());
    }
    for (FarCache c : caches) {
      List<Line> mine = lines.stream().filter(l -> l.cache().equals(c.name())).toList();
      List<Line> narinfo =
          mine.stream().filter(l -> l.path().endsWith(".narinfo")).toList();
      List<Line> nars = mine.stream().filter(l -> l.path().startsWith("/nar/")).toList();
      System.out.printf(
          "  %-10s narinfo %3d (%3d found, %3d absent), last answered at %6.0f ms; NARs %3d, last at"
              + " %6.0f ms; connections used %3d (nth 1: new, or warm and unused until then)%n",
          c.name(),
          narinfo.size(),
          narinfo.stream().filter(l -> l.status() == 200).count(),
          narinfo.stream().filter(l -> l.status() == 404).count(),
          narinfo.stream().mapToDouble(Line::atMs).max().orElse(Double.NaN),
          nars.size(),
          nars.stream().mapToDouble(Line::atMs).max().orElse(Double.NaN),
          mine.stream().filter(l -> l.nth() == 1).count());
    }
  }
}
