package dev.ncro.config;

import dev.ncro.narinfo.NixPublicKey;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The {@code upstreams} list and the {@code fallback_cache}: one code path binds both, so a
 * fallback cache gets every rule and message an upstream does (URL kinds, keys, TLS, credentials,
 * filters, limits). Problems go to the shared {@link YamlFields}, like every other section's.
 */
final class UpstreamBinder {
  /** Reads a one-line secret file (or stands in for it in a build-time check). */
  @FunctionalInterface
  interface Secrets {
    String read(Path file) throws CredentialFiles.FileProblem;
  }

  /** The top-level {@code netrc_file} as read at start-up, and where to read it again. */
  record NetrcFile(Path path, Netrc parsed) {}

  /** The fields an upstream and the fallback cache share. */
  private static final List<String> COMMON = List.of(
      "url",
      "public_key",
      "public_keys",
      "ca_file",
      "username",
      "password",
      "password_file",
      "bearer_token_file",
      "filters");

  private static final Set<String> UPSTREAM =
      with(COMMON, "priority", "max_inflight", "warm_connections");
  /**
   * The fallback cache's fields: an upstream's, less {@code priority} (it is never ordered against
   * the others) and the connection limits, plus {@code enabled}.
   */
  private static final Set<String> FALLBACK = with(COMMON, "enabled");

  private static final Set<String> FILTER = Set.of("action", "field", "pattern");
  private static final int DEFAULT_PRIORITY = 10;
  static final int MAX_INFLIGHT_LIMIT = 10_000;

  private static Set<String> with(List<String> common, String... more) {
    Set<String> all = new HashSet<>(common);
    all.addAll(List.of(more));
    return Set.copyOf(all);
  }

  private final YamlFields f;
  private final NetrcFile netrc;
  private final Secrets secrets;
  private final boolean readFiles;

  /** {@code netrc}: the top-level netrc, or null; {@code readFiles}: false in a build-time check. */
  UpstreamBinder(YamlFields f, NetrcFile netrc, Secrets secrets, boolean readFiles) {
    this.f = f;
    this.netrc = netrc;
    this.secrets = secrets;
    this.readFiles = readFiles;
  }

  /**
   * Credentials for one upstream: explicit ones ({@code username} + {@code password} or
   * {@code password_file}, or {@code bearer_token_file}) win; otherwise its host's netrc entry.
   * Every file is read now, so a bad one stops start-up (and {@code --check}) with its field, and
   * again whenever it changes ({@link UpstreamCredentials.FromFile}).
   */
  private UpstreamCredentials credentials(Map<String, Object> m, String path, URI url) {
    String username =
        m.get("username") == null ? null : f.string(m, "username", path + ".username");
    String password = null;
    if (m.get("password") instanceof String p) {
      password = p;
    } else if (m.get("password") != null) { // never describe the value: it is the password
      f.problem(path + ".password", "expected a string (quote it: password: \"...\")");
      return UpstreamCredentials.NONE;
    }
    Path passwordFile = f.optionalPath(m, "password_file", path + ".password_file");
    Path tokenFile = f.optionalPath(m, "bearer_token_file", path + ".bearer_token_file");
    boolean hasPassword = password != null || passwordFile != null;
    if (password != null && passwordFile != null) {
      f.problem(
          path + ".password",
          "password and password_file are mutually exclusive (keep password_file: "
              + "a file can be kept out of the config and the Nix store)");
      return UpstreamCredentials.NONE;
    }
    if (tokenFile != null && (username != null || hasPassword)) {
      f.problem(
          path + ".bearer_token_file",
          "cannot be combined with username/password: choose Basic or Bearer");
      return UpstreamCredentials.NONE;
    }
    if (hasPassword && username == null) {
      f.problem(
          path + ".username",
          "required with " + (password != null ? "password" : "password_file")
              + " (Basic auth; use \"\" for a token-only cache)");
      return UpstreamCredentials.NONE;
    }
    if (username != null && !hasPassword) {
      f.problem(path + ".username", "needs password_file (or password)");
      return UpstreamCredentials.NONE;
    }
    try {
      if (tokenFile != null) {
        return fromFile(
            new UpstreamCredentials.Bearer(secrets.read(tokenFile), "bearer_token_file"),
            new CredentialFile<>(
                "bearer_token_file",
                tokenFile,
                file -> new UpstreamCredentials.Bearer(
                    CredentialFiles.secret(file), "bearer_token_file")));
      }
      if (passwordFile != null) {
        String user = username;
        return fromFile(
            new UpstreamCredentials.Basic(user, secrets.read(passwordFile), "password_file"),
            new CredentialFile<>(
                "password_file",
                passwordFile,
                file -> new UpstreamCredentials.Basic(
                    user, CredentialFiles.secret(file), "password_file")));
      }
    } catch (CredentialFiles.FileProblem e) {
      f.problem(
          path + (tokenFile != null ? ".bearer_token_file" : ".password_file"), e.getMessage());
      return UpstreamCredentials.NONE;
    }
    if (password != null) {
      return new UpstreamCredentials.Basic(username, password, "password");
    }
    if (netrc != null && url != null) {
      String host = url.getHost();
      return fromFile(
          forHost(netrc.parsed(), host),
          new CredentialFile<>(
              "netrc_file", netrc.path(), file -> forHost(CredentialFiles.netrc(file), host)));
    }
    return UpstreamCredentials.NONE;
  }

  private static UpstreamCredentials forHost(Netrc netrc, String host) {
    return netrc
        .forHost(host)
        .<UpstreamCredentials>map(e ->
            new UpstreamCredentials.Basic(e.login(), e.password(), "netrc_file line " + e.line()))
        .orElse(UpstreamCredentials.NONE);
  }

  /** Read again when the file changes, except in a build-time check, which reads no files. */
  private UpstreamCredentials fromFile(
      UpstreamCredentials initial, CredentialFile<UpstreamCredentials> file) {
    return readFiles ? new UpstreamCredentials.FromFile(initial, file) : initial;
  }

  private Path caFile(Map<String, Object> m, String path) {
    Path ca = f.optionalPath(m, "ca_file", path + ".ca_file");
    if (ca != null && readFiles) {
      try {
        CredentialFiles.certificates(ca);
      } catch (CredentialFiles.FileProblem e) {
        f.problem(path + ".ca_file", e.getMessage());
      }
    }
    return ca;
  }

  List<UpstreamConfig> upstreams(List<?> list) {
    if (list.isEmpty()) {
      f.problem("upstreams", "at least one upstream is required");
    }
    List<UpstreamConfig> out = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < list.size(); i++) {
      String path = "upstreams[" + i + "]";
      UpstreamConfig u = upstream(f.section(list.get(i), path, UPSTREAM), path, true);
      if (u != null) {
        if (!seen.add(u.url().toString())) {
          f.problem(path + ".url", "duplicate upstream " + u.url());
        }
        out.add(u);
      }
    }
    return out;
  }

  /**
   * {@code fallback_cache}: bound by the same code as an upstream (URL, keys, TLS, credentials,
   * filters), so every rule and message is the same. Off unless {@code enabled}; then {@code url}
   * is required and must not also be a regular upstream (it would then be raced after all).
   */
  FallbackCacheConfig fallbackCache(Object node, List<UpstreamConfig> upstreams) {
    Map<String, Object> m = node == null ? Map.of() : f.section(node, "fallback_cache", FALLBACK);
    if (m.isEmpty()) {
      return FallbackCacheConfig.DISABLED;
    }
    if (!m.containsKey("enabled")) {
      // Settings without "enabled" would be silently ignored: more likely a forgotten line than a
      // wish.
      f.problem(
          "fallback_cache.enabled",
          "missing (true to use the fallback cache, false to keep it off)");
      return FallbackCacheConfig.DISABLED;
    }
    if (!f.bool(m, "enabled", "fallback_cache.enabled")) {
      return FallbackCacheConfig.DISABLED;
    }
    if (m.get("url") == null) {
      f.problem("fallback_cache.url", "required when fallback_cache.enabled is true");
      return FallbackCacheConfig.DISABLED;
    }
    UpstreamConfig u = upstream(m, "fallback_cache", false);
    if (u == null) {
      return FallbackCacheConfig.DISABLED;
    }
    if (upstreams.stream().anyMatch(x -> x.url().equals(u.url()))) {
      f.problem(
          "fallback_cache.url",
          u.url() + " is also a regular upstream: a fallback cache is asked only when"
              + " the upstreams do not have a path, so list it in one place");
    }
    return FallbackCacheConfig.of(u);
  }

  /** One upstream's fields ({@code m}, already checked for unknown keys); null when its URL is unusable. */
  private UpstreamConfig upstream(Map<String, Object> m, String path, boolean hasPriority) {
    String urlText = f.string(m, "url", path + ".url");
    if (urlText.isEmpty() && m.get("url") instanceof String) {
      f.problem(path + ".url", "must not be empty");
    }
    S3Location s3 = S3Location.isS3(urlText) ? s3Url(urlText, path + ".url") : null;
    boolean local = UpstreamConfig.isLocal(urlText);
    URI url = s3 != null
        ? s3.canonical()
        : S3Location.isS3(urlText)
            ? null
            : local ? localUrl(urlText, path + ".url") : upstreamUrl(urlText, path + ".url");
    int priority = hasPriority && m.containsKey("priority")
        ? f.integer(m, "priority", path + ".priority", 0, Integer.MAX_VALUE)
        : DEFAULT_PRIORITY;
    List<String> keys = new ArrayList<>();
    if (m.get("public_key") != null) {
      keys.add(f.string(m, "public_key", path + ".public_key"));
    }
    List<?> more = f.list(m, "public_keys", path + ".public_keys");
    for (int k = 0; k < more.size(); k++) {
      if (more.get(k) instanceof String s) {
        keys.add(s);
      } else {
        f.problem(path + ".public_keys[" + k + "]", "expected a string \"name:base64\"");
      }
    }
    for (String key : keys) {
      try {
        NixPublicKey.parse(key);
      } catch (IllegalArgumentException e) {
        f.problem(path + ".public_key", e.getMessage());
      }
    }
    Path ca = caFile(m, path);
    if (local && ca != null) {
      f.problem(path + ".ca_file", "does not apply to a file:// cache, which has no TLS");
    }
    UpstreamCredentials credentials = S3Location.isS3(urlText) || local
        ? noHttpCredentials(m, path, local ? "a file:// cache, read from the directory" : null)
        : credentials(m, path, url);
    PathFilters filters = filters(f.list(m, "filters", path + ".filters"), path + ".filters");
    int maxInflight = m.containsKey("max_inflight")
        ? f.integer(m, "max_inflight", path + ".max_inflight", 1, MAX_INFLIGHT_LIMIT)
        : UpstreamConfig.DEFAULT_MAX_INFLIGHT;
    int warm = Math.min(UpstreamConfig.DEFAULT_WARM_CONNECTIONS, maxInflight);
    if (m.containsKey("warm_connections")) {
      warm = f.integer(m, "warm_connections", path + ".warm_connections", 0, MAX_INFLIGHT_LIMIT);
      if (warm > maxInflight) {
        f.problem(
            path + ".warm_connections",
            "must be at most max_inflight (" + maxInflight + "): more would never be used at once");
      }
    }
    return url == null
        ? null
        : new UpstreamConfig(url, priority, keys, ca, credentials, s3, filters, maxInflight, warm);
  }

  /** {@code filters}: each rule needs {@code action}, {@code field} and a {@code pattern} (see {@link PathFilter}). */
  private PathFilters filters(List<?> list, String path) {
    List<PathFilter> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      String at = path + "[" + i + "]";
      Map<String, Object> m = f.section(list.get(i), at, FILTER);
      if (m.isEmpty()) {
        if (list.get(i) instanceof Map<?, ?>) {
          f.problem(at, "needs action, field and pattern");
        }
        continue;
      }
      PathFilter.Action action =
          choice(m, "action", at, PathFilter.Action.values(), PathFilter.Action::label);
      PathFilter.Field field =
          choice(m, "field", at, PathFilter.Field.values(), PathFilter.Field::label);
      String pattern = f.string(m, "pattern", at + ".pattern");
      if (!(m.get("pattern") instanceof String) || field == null) {
        continue; // reported already (missing, ill-typed), or unjudgeable without a valid field
      }
      String problem = PathFilter.patternProblem(field, pattern);
      if (problem != null) {
        f.problem(at + ".pattern", problem);
      } else if (action != null) {
        out.add(new PathFilter(action, field, pattern));
      }
    }
    return new PathFilters(out);
  }

  /** One of {@code values} by its label; null (and a problem naming the choices) otherwise. */
  private <E> E choice(
      Map<String, Object> m, String key, String at, E[] values, Function<E, String> label) {
    String text = f.string(m, key, at + "." + key);
    if (!(m.get(key) instanceof String)) {
      return null; // missing or not a string: reported by YamlFields.string
    }
    for (E v : values) {
      if (label.apply(v).equals(text)) {
        return v;
      }
    }
    f.problem(
        at + "." + key,
        "\"" + text + "\" is not one of "
            + String.join(", ", Arrays.stream(values).map(label).toList()));
    return null;
  }

  /** An S3 upstream signs with AWS credentials; HTTP ones given for it are a mistake worth naming. */
  /** {@code what}: the upstream kind to name, or null for an S3 bucket. */
  private UpstreamCredentials noHttpCredentials(Map<String, Object> m, String path, String what) {
    for (String k : List.of("username", "password", "password_file", "bearer_token_file")) {
      if (m.containsKey(k)) {
        f.problem(
            path + "." + k,
            what != null
                ? "does not apply to " + what
                : "does not apply to an s3:// upstream, which signs with AWS credentials"
                    + " (environment, shared credentials file, profile=)");
      }
    }
    return UpstreamCredentials.NONE;
  }

  /**
   * A {@code file:///absolute/dir} binary cache, as Nix names one; the directory must exist and be
   * readable, except in a build-time check (it exists only on the target).
   */
  private URI localUrl(String text, String path) {
    URI u;
    try {
      u = new URI(text);
    } catch (URISyntaxException e) {
      f.problem(path, "not a valid URL: " + e.getMessage());
      return null;
    }
    if ((u.getRawAuthority() != null && !u.getRawAuthority().isEmpty())
        || u.getRawQuery() != null
        || u.getRawFragment() != null
        || u.getPath() == null
        || !u.getPath().startsWith("/")) {
      f.problem(
          path,
          "\"" + text + "\" must be file:///absolute/directory (a local directory or mount,"
              + " without host, query or fragment)");
      return null;
    }
    URI url = UpstreamConfig.normalize(u);
    Path dir = Path.of(url.getPath());
    if (readFiles && !(Files.isDirectory(dir) && Files.isReadable(dir))) {
      f.problem(path, dir + " is not a readable directory");
    }
    return url;
  }

  /** An {@code s3://} URL in Nix's syntax; a problem names the parameter at fault. */
  private S3Location s3Url(String text, String path) {
    try {
      return S3Location.parse(text);
    } catch (S3Location.Malformed e) {
      // Never echo what looks like user info: it would be a secret written in the wrong place.
      String shown = text.replaceFirst("^(?i)(s3://)[^/?#]*@", "$1***@");
      f.problem(
          path,
          "S3 upstream \"" + shown + "\", " + e.parameter() + ": "
              + (shown.equals(text) ? e.getMessage() : "credentials do not go in an s3:// URL"));
      return null;
    }
  }

  /** An absolute http(s) URL with a host; the trailing slash is dropped, a base path kept. */
  private URI upstreamUrl(String raw, String path) {
    if (raw.isEmpty()) {
      return null; // missing or not a string: already reported by YamlFields.string
    }
    // Messages quote the URL without any user info: it would be a password on a terminal or in a
    // log.
    String text = raw.replaceFirst("^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", "$1<redacted>@");
    if (!text.equals(raw)) {
      f.problem(
          path,
          "\"" + text + "\" has user info: ncro refuses credentials in URLs (they would show in "
              + "logs, /status and metric labels); give username and password_file (or bearer_token_file) instead");
      return null;
    }
    URI u;
    try {
      u = new URI(raw);
    } catch (URISyntaxException e) {
      f.problem(path, "not a valid URL: " + e.getMessage());
      return null;
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      f.problem(path, "\"" + text + "\" must be an http://, https://, s3:// or file:// URL");
      return null;
    }
    if (u.getHost() == null || u.getHost().isEmpty()) {
      f.problem(path, "\"" + text + "\" has no host");
      return null;
    }
    if (u.getRawQuery() != null && u.getRawFragment() == null) {
      // Copied from nix.conf, where "?priority=40&trusted=1" are the store's settings.
      f.problem(
          path,
          "\"" + text + "\" has a query: Nix store parameters such as ?priority= are not part of"
              + " an upstream URL here (give priority: as a field of the upstream)");
      return null;
    }
    if (u.getRawQuery() != null || u.getRawFragment() != null || u.getRawUserInfo() != null) {
      f.problem(
          path,
          "\"" + text
              + "\" must not have a query, fragment or user info (credentials: password_file)");
      return null;
    }
    return UpstreamConfig.normalize(u);
  }
}
