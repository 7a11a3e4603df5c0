package dev.ncro.narinfo;

import java.util.Arrays;
import java.util.List;

/**
 * The files a binary cache serves besides narinfos and NARs, each with the {@code kind} label of
 * {@code ncro_requests_total}. Realisations under both names (Nix 2.8's {@code realisations/} and
 * Nix 2.35's {@code build-trace-v2/}) count as {@code realisation}. Part of the binary cache's
 * vocabulary, beside the narinfo, so that {@code server}, {@code router} and {@code metrics} all
 * name it without depending on one another.
 */
public enum CacheFileKind {
  /** {@code log/<drv>}: a build log, often large, sometimes stored compressed (Content-Encoding). */
  LOG("log"),
  /** {@code realisations/<id>.doi}: a signed realisation (JSON), checked before it is served. */
  REALISATION("realisation"),
  /** {@code build-trace-v2/<drv>/<output>.doi}: a realisation in the layout of Nix 2.35. */
  BUILD_TRACE("realisation"),
  /** {@code <hash>.ls}: the listing of a NAR's files (JSON). */
  LISTING("listing"),
  /** {@code debuginfo/<build-id>}: where a debug file lives inside a NAR (JSON). */
  DEBUGINFO("debuginfo");

  private final String label;

  CacheFileKind(String label) {
    this.label = label;
  }

  /** The metric label. */
  public String label() {
    return label;
  }

  /** The distinct metric labels, in a fixed order. */
  public static List<String> labels() {
    return Arrays.stream(values()).map(CacheFileKind::label).distinct().toList();
  }

  /** Whether the body must be checked (signature) before it can be served, so it is read whole first. */
  public boolean verified() {
    return this == REALISATION;
  }
}
