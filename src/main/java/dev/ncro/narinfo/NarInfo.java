package dev.ncro.narinfo;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The fields of a {@code .narinfo} that routing and verification need. Parsing is as strict as
 * Nix's own ({@code Key: value} lines, final newline, the mandatory fields present), because an
 * answer Nix would reject must not win a race. The body itself is never re-serialised: ncro serves
 * the upstream's bytes.
 *
 * <p>{@code fileSize} is -1 when the narinfo has no {@code FileSize} (allowed, some caches omit it).
 * {@code deriver} is the {@code Deriver} base name ({@code <hash>-<name>.drv}), null when absent or
 * {@code unknown-deriver}: path filters ({@code field: deriver}) read it.
 */
public record NarInfo(
    String storePath,
    String url,
    String compression,
    String fileHash,
    long fileSize,
    String narHash,
    long narSize,
    List<String> references,
    List<String> sigs,
    String deriver) {

  private static final int MAX_LINES = 10_000;

  public NarInfo {
    references = List.copyOf(references);
    sigs = List.copyOf(sigs);
  }

  /** Without a deriver. */
  public NarInfo(
      String storePath,
      String url,
      String compression,
      String fileHash,
      long fileSize,
      String narHash,
      long narSize,
      List<String> references,
      List<String> sigs) {
    this(storePath, url, compression, fileHash, fileSize, narHash, narSize, references, sigs, null);
  }

  public static NarInfo parse(byte[] body) throws NarInfoException {
    return parse(new String(body, StandardCharsets.UTF_8));
  }

  public static NarInfo parse(String text) throws NarInfoException {
    if (text.isEmpty() || text.charAt(text.length() - 1) != '\n') {
      throw new NarInfoException("narinfo does not end with a newline");
    }
    String storePath = null;
    String url = null;
    String compression = null;
    String fileHash = null;
    long fileSize = -1;
    String narHash = null;
    long narSize = -1;
    List<String> refs = List.of();
    List<String> sigs = new ArrayList<>();
    String deriver = null;
    int start = 0;
    int lines = 0;
    while (start < text.length()) {
      if (++lines > MAX_LINES) {
        throw new NarInfoException("narinfo has too many lines");
      }
      int end = text.indexOf('\n', start);
      String line = text.substring(start, end);
      start = end + 1;
      int colon = line.indexOf(": ");
      if (colon <= 0) {
        throw new NarInfoException("line " + lines + " is not 'Key: value'");
      }
      String key = line.substring(0, colon);
      String value = line.substring(colon + 2);
      switch (key) {
        case "StorePath" -> storePath = value;
        case "URL" -> url = value;
        case "Compression" -> compression = value;
        case "FileHash" -> fileHash = value;
        case "FileSize" -> fileSize = number(key, value);
        case "NarHash" -> narHash = value;
        case "NarSize" -> narSize = number(key, value);
        case "References" -> refs = value.isEmpty() ? List.of() : List.of(value.split(" "));
        case "Sig" -> sigs.add(value);
        case "Deriver" ->
          deriver = value.isEmpty() || value.equals("unknown-deriver") ? null : value;
        default -> {} // System, CA and fields of future Nix versions: not needed here
      }
    }
    if (storePath == null || !validStorePath(storePath)) {
      throw new NarInfoException("missing or invalid StorePath");
    }
    if (url == null || url.isEmpty()) {
      throw new NarInfoException("missing URL");
    }
    if (narHash == null || narHash.isEmpty()) {
      throw new NarInfoException("missing NarHash");
    }
    if (narSize < 0) {
      throw new NarInfoException("missing NarSize");
    }
    return new NarInfo(
        storePath,
        url,
        compression == null ? "bzip2" : compression,
        fileHash,
        fileSize,
        narHash,
        narSize,
        refs,
        sigs,
        deriver);
  }

  /** The store directory ncro serves (the {@code StoreDir} of its nix-cache-info). */
  public static final String STORE_DIR = "/nix/store";

  /** The directory of the store path ({@code /nix/store}), without a trailing slash. */
  public String storeDir() {
    return storePath.substring(0, storePath.lastIndexOf('/'));
  }

  /** The store path's name: what follows the hash and its dash ({@code hello-2.12}). */
  public String name() {
    return storePath.substring(storePath.lastIndexOf('/') + 1 + StorePathHash.LENGTH + 1);
  }

  /** The 32-character hash part of the store path. */
  public String hashPart() {
    String base = storePath.substring(storePath.lastIndexOf('/') + 1);
    return base.substring(0, StorePathHash.LENGTH);
  }

  /**
   * What Nix signs: {@code 1;<StorePath>;<NarHash>;<NarSize>;<full paths of References, comma-separated>}.
   */
  public String fingerprint() {
    String storeDir = storePath.substring(0, storePath.lastIndexOf('/') + 1);
    StringBuilder sb = new StringBuilder("1;")
        .append(storePath)
        .append(';')
        .append(narHash)
        .append(';')
        .append(narSize)
        .append(';');
    for (int i = 0; i < references.size(); i++) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append(storeDir).append(references.get(i));
    }
    return sb.toString();
  }

  /** True when some {@code Sig} line is a valid signature by one of {@code keys} (matched by name). */
  public boolean isSignedByAny(List<NixPublicKey> keys) {
    byte[] message = fingerprint().getBytes(StandardCharsets.UTF_8);
    for (String sig : sigs) {
      int colon = sig.indexOf(':');
      if (colon <= 0) {
        continue;
      }
      String name = sig.substring(0, colon);
      byte[] raw;
      try {
        raw = Base64.getDecoder().decode(sig.substring(colon + 1));
      } catch (IllegalArgumentException e) {
        continue;
      }
      for (NixPublicKey k : keys) {
        if (k.name().equals(name) && k.verify(message, raw)) {
          return true;
        }
      }
    }
    return false;
  }

  private static long number(String key, String value) throws NarInfoException {
    try {
      long n = Long.parseLong(value);
      if (n < 0) {
        throw new NarInfoException(key + " is negative");
      }
      return n;
    } catch (NumberFormatException e) {
      throw new NarInfoException(key + " is not a number: " + value);
    }
  }

  private static boolean validStorePath(String p) {
    int slash = p.lastIndexOf('/');
    if (slash <= 0 || !p.startsWith("/")) {
      return false;
    }
    String base = p.substring(slash + 1);
    return base.length() > StorePathHash.LENGTH + 1
        && base.charAt(StorePathHash.LENGTH) == '-'
        && StorePathHash.isValid(base.substring(0, StorePathHash.LENGTH));
  }
}
