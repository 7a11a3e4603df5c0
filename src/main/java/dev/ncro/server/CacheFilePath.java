package dev.ncro.server;

import dev.ncro.narinfo.CacheFileKind;
import dev.ncro.narinfo.StorePathHash;

/**
 * Parses the request paths of the cache files beside narinfos and NARs (see {@link CacheFileKind}).
 * Unlike the rest of {@link RequestPath}, these accept {@code :}, {@code !}, {@code ^} and percent
 * escapes: a realisation id is {@code sha256:<hex>!<output>}, and Nix versions differ in whether
 * they escape it. Each path is decoded, checked against the exact shape Nix uses (store path base
 * names, output names, hashes, build ids: anything else is a 400), and re-encoded one canonical
 * way for the upstream: RFC 3986 unreserved characters, sub-delimiters, {@code :} and {@code @}
 * raw (what Nix 2.8 itself sends, and what static file servers, S3 and the Nix-specific caches
 * accept), everything else as an upper-case escape ({@code ^} as {@code %5E}). So raw and escaped
 * requests for the same file reach the upstream as the same request, and share one route and
 * negative cache entry. Decoding happens once: a decoded {@code %} is never decoded again.
 */
final class CacheFilePath {
  private static final int MAX_NAME = 211;

  private CacheFilePath() {}

  /**
   * The target for {@code path} (the raw path, without the query) when it names a cache file, a
   * {@link Target.Rejected} when it has a cache file's prefix but not its shape, null otherwise.
   * {@code query} (already checked by the caller, may be null) is forwarded verbatim.
   */
  static Target classify(String path, String query) {
    String q = query == null ? "" : "?" + query;
    if (path.startsWith("/log/")) {
      String name = decode(path.substring(5));
      return storePathBase(name)
          ? file(CacheFileKind.LOG, "/log/" + encode(name) + q, null)
          : reject("log");
    }
    if (path.startsWith("/realisations/")) {
      String file = decode(path.substring(14));
      if (file == null || !file.endsWith(".doi")) {
        return reject("realisation");
      }
      String id = file.substring(0, file.length() - 4);
      return drvOutputId(id)
          ? file(CacheFileKind.REALISATION, "/realisations/" + encode(id) + ".doi" + q, id)
          : reject("realisation");
    }
    if (path.startsWith("/build-trace-v2/")) {
      String rest = path.substring(16);
      int slash = rest.indexOf('/');
      if (slash < 0) {
        return reject("build trace");
      }
      String drv = decode(rest.substring(0, slash));
      String file = decode(rest.substring(slash + 1));
      if (!storePathBase(drv)
          || !drv.endsWith(".drv")
          || file == null
          || !file.endsWith(".doi")
          || !outputName(file.substring(0, file.length() - 4))) {
        return reject("build trace");
      }
      return file(
          CacheFileKind.BUILD_TRACE,
          "/build-trace-v2/" + encode(drv) + "/" + encode(file) + q,
          drv + "^" + file.substring(0, file.length() - 4));
    }
    if (path.startsWith("/debuginfo/")) {
      String id = decode(path.substring(11));
      // Nix 2.8 writes debuginfo/<build id>.debug (it keeps the file's suffix; later versions drop
      // it)
      String bare = id != null && id.endsWith(".debug") ? id.substring(0, id.length() - 6) : id;
      return buildId(bare)
          ? file(CacheFileKind.DEBUGINFO, "/debuginfo/" + id + q, null)
          : reject("debuginfo");
    }
    if (path.endsWith(".ls") && path.indexOf('/', 1) < 0) {
      String hash = path.substring(1, path.length() - 3);
      return StorePathHash.isValid(hash)
          ? file(CacheFileKind.LISTING, path + q, hash)
          : reject("listing");
    }
    return null;
  }

  private static Target file(CacheFileKind kind, String upstreamPath, String key) {
    return new Target.CacheFile(kind, upstreamPath, key);
  }

  private static Target reject(String what) {
    return new Target.Rejected(400, "invalid " + what + " path");
  }

  /** {@code <32 chars of Nix base32>-<name>}, the base name of a store path. */
  static boolean storePathBase(String s) {
    return s != null
        && s.length() > StorePathHash.LENGTH + 1
        && s.length() <= StorePathHash.LENGTH + 1 + MAX_NAME
        && s.charAt(StorePathHash.LENGTH) == '-'
        && StorePathHash.isValid(s.substring(0, StorePathHash.LENGTH))
        && storeName(s.substring(StorePathHash.LENGTH + 1));
  }

  /** Nix's rule for store path names: {@code [A-Za-z0-9+-._?=]}, not starting with a dot. */
  private static boolean storeName(String s) {
    if (s.isEmpty() || s.length() > MAX_NAME || s.charAt(0) == '.') {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(alnum(c) || c == '+' || c == '-' || c == '.' || c == '_' || c == '?' || c == '=')) {
        return false;
      }
    }
    return true;
  }

  /** Output names follow the store name rule (they become part of one). */
  private static boolean outputName(String s) {
    return storeName(s);
  }

  /** {@code <algo>:<digest>!<output>}, e.g. {@code sha256:<64 hex>!out}. */
  static boolean drvOutputId(String s) {
    if (s == null) {
      return false;
    }
    int colon = s.indexOf(':');
    int bang = s.indexOf('!');
    if (colon <= 0 || bang < colon + 2 || colon > 16 || bang - colon - 1 > 128) {
      return false;
    }
    for (int i = 0; i < bang; i++) {
      char c = s.charAt(i);
      if (i != colon && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
        return false;
      }
    }
    return outputName(s.substring(bang + 1));
  }

  /** A GNU build id: lower-case hex, as debuginfod clients ask for it. */
  private static boolean buildId(String s) {
    if (s == null || s.length() < 2 || s.length() > 128) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    return true;
  }

  /**
   * One path segment decoded, or null when it holds a raw character outside the URI's path set, a
   * broken escape, or decodes to anything but printable ASCII without {@code /}.
   */
  static String decode(String segment) {
    StringBuilder sb = new StringBuilder(segment.length());
    for (int i = 0; i < segment.length(); i++) {
      char c = segment.charAt(i);
      if (c == '%') {
        int hi = i + 1 < segment.length() ? Character.digit(segment.charAt(i + 1), 16) : -1;
        int lo = i + 2 < segment.length() ? Character.digit(segment.charAt(i + 2), 16) : -1;
        if (hi < 0 || lo < 0) {
          return null;
        }
        c = (char) (hi * 16 + lo);
        i += 2;
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '%') {
          return null;
        }
      } else if (!rawAllowed(c)) {
        return null;
      }
      sb.append(c);
    }
    return sb.toString();
  }

  private static boolean rawAllowed(char c) {
    return alnum(c) || "-._~+=,:!^@".indexOf(c) >= 0;
  }

  /** The canonical form sent upstream (see the class comment). */
  static String encode(String decoded) {
    StringBuilder sb = new StringBuilder(decoded.length() + 8);
    for (int i = 0; i < decoded.length(); i++) {
      char c = decoded.charAt(i);
      if (alnum(c) || "-._~!$&'()*+,;=:@".indexOf(c) >= 0) {
        sb.append(c);
      } else {
        sb.append('%')
            .append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
      }
    }
    return sb.toString();
  }

  private static boolean alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }
}
