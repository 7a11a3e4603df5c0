package dev.ncro.router;

import dev.ncro.narinfo.NarInfo;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.narinfo.NarInfoRewriter;
import dev.ncro.upstream.SmallResponse;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

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
  private static final java.util.regex.Pattern SAFE_URL = java.util.regex.Pattern.compile("[A-Za-z0-9._~+=,/%-]+(\\?[!-~]*)?");
  private final UpstreamClient client;

  public ResumeFinder(UpstreamClient client) {
    this.client = client;
  }

  public CompletableFuture<Optional<Source>> find(String hash, String fileHash, List<Upstream> candidates) {
    if (hash == null || fileHash == null || candidates.isEmpty()) {
      return CompletableFuture.completedFuture(Optional.empty());
    }
    List<CompletableFuture<Optional<Source>>> asks = new ArrayList<>();
    for (Upstream u : candidates) {
      if (u.isFallback()) {
        continue; // asked all at once here: the fallback cache is never asked beside the upstreams
      }
      asks.add(client.fetch(u, HttpMethod.GET, "/" + hash + ".narinfo", Race.MAX_NARINFO_BYTES)
          .handle((r, err) -> err == null ? sameFile(u, r, hash, fileHash) : Optional.<Source>empty()));
    }
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

  private static Optional<Source> sameFile(Upstream u, SmallResponse r, String hash, String fileHash) {
    if (r.status() != 200) {
      return Optional.empty();
    }
    try {
      NarInfo info = NarInfo.parse(NarInfoRewriter.relativizeUrl(r.body(), u.endpoint()));
      if (!info.hashPart().equals(hash) || !fileHash.equals(info.fileHash()) || !SAFE_URL.matcher(info.url()).matches()
          || !u.filters().admits(info)) {
        return Optional.empty();
      }
      return Optional.of(new Source(u, "/" + info.url()));
    } catch (NarInfoException e) {
      return Optional.empty();
    }
  }
}
