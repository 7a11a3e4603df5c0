package dev.ncro.router;

import dev.ncro.narinfo.ContentDecoding;
import dev.ncro.narinfo.NarInfo;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.narinfo.NarInfoRewriter;
import dev.ncro.upstream.SmallResponse;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Pattern;

/**
 * Finds where a broken NAR download can continue: an upstream whose narinfo for the same store path
 * has the same {@code FileHash}, i.e. serves the very same file (caches name and compress NARs
 * differently, so the same store path is not enough, and the file may live under another URL
 * there). Asks all candidates at once; the first in the given order that has it is chosen.
 */
public final class ResumeFinder {
  /** Continue with {@code narPath} (absolute request path) on {@code upstream}. */
  public record Source(Upstream upstream, String narPath) {}

  /** A relative URL safe to put on a request line (no scheme, spaces or control characters). */
  private static final Pattern SAFE_URL = Pattern.compile("[A-Za-z0-9._~+=,/%-]+(\\?[!-~]*)?");

  private final UpstreamClient client;

  public ResumeFinder(UpstreamClient client) {
    this.client = client;
  }

  public CompletableFuture<Optional<Source>> find(
      String hash, String fileHash, List<Upstream> candidates) {
    List<CompletableFuture<Optional<Source>>> asks = holders(hash, fileHash, candidates);
    return CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new)).thenApply(x -> {
      for (CompletableFuture<Optional<Source>> a : asks) {
        Optional<Source> s = a.join();
        if (s.isPresent()) {
          return s;
        }
      }
      return Optional.empty();
    });
  }

  /**
   * One answer per candidate, in the given order, each completing (never failing) as that
   * candidate's narinfo arrives: the source there if it holds the identical file, else empty. For a
   * caller that wants the first holder to answer rather than the first in order (a NAR hedge, where
   * the quickest cache is the point). Empty when the file is not identified.
   */
  public List<CompletableFuture<Optional<Source>>> holders(
      String hash, String fileHash, List<Upstream> candidates) {
    List<CompletableFuture<Optional<Source>>> asks = new ArrayList<>();
    if (hash == null || fileHash == null) {
      return asks;
    }
    for (Upstream u : candidates) {
      if (u.isFallback()) {
        continue; // the fallback cache is asked only alone, never beside the upstreams (resume or
        // hedge)
      }
      asks.add(client
          .fetch(u, HttpMethod.GET, "/" + hash + ".narinfo", Race.MAX_NARINFO_BYTES)
          .handle(
              (r, err) -> err == null ? sameFile(u, r, hash, fileHash) : Optional.<Source>empty()));
    }
    return asks;
  }

  private static Optional<Source> sameFile(
      Upstream u, SmallResponse r, String hash, String fileHash) {
    if (r.status() != 200) {
      return Optional.empty();
    }
    try {
      byte[] body = ContentDecoding.decode(
          r.headers().get(HttpHeaderNames.CONTENT_ENCODING), r.body(), Race.MAX_NARINFO_BYTES);
      NarInfo info = NarInfo.parse(NarInfoRewriter.relativizeUrl(body, u.endpoint()));
      if (!info.hashPart().equals(hash)
          || !fileHash.equals(info.fileHash())
          || !SAFE_URL.matcher(info.url()).matches()
          || !u.filters().admits(info)
          || !u.keys().isEmpty() && !info.isSignedByAny(u.keys())) { // as a race would refuse it
        return Optional.empty();
      }
      return Optional.of(new Source(u, "/" + info.url()));
    } catch (NarInfoException e) {
      return Optional.empty();
    }
  }
}
