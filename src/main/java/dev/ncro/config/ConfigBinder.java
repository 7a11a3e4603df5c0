package dev.ncro.config;

import dev.ncro.access.AccessPolicy;
import dev.ncro.access.Cidr;
import dev.ncro.access.ClientCredential;
import dev.ncro.narinfo.NixPublicKey;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Turns the merged YAML tree into {@link Config} records, checking every field and collecting
 * every problem ({@link YamlFields}) before failing with one {@link ConfigException}.
 */
final class ConfigBinder {
  private static final Set<String> TOP = Set.of(
      "server",
      "upstreams",
      "cache",
      "timeouts",
      "logging",
      "mesh",
      "netrc_file",
      "fallback_cache",
      "discovery");
  private static final Set<String> SERVER = Set.of(
      "listen",
      "read_timeout",
      "write_timeout",
      "cache_priority",
      "allow",
      "clients",
      "admin_allow",
      "trusted_proxies",
      "max_hops",
      "want_mass_query",
      "nar_splice");
  private static final Set<String> CLIENT =
      Set.of("username", "password_file", "bearer_token_file");
  private static final Set<String> UPSTREAM = Set.of(
      "url",
      "priority",
      "public_key",
      "public_keys",
      "ca_file",
      "username",
      "password",
      "password_file",
      "bearer_token_file",
      "filters",
      "max_inflight",
      "warm_connections");
  /** An upstream's fields, less {@code priority} (it is never ordered against the others), plus {@code enabled}. */
  private static final Set<String> FALLBACK = Set.of(
      "enabled",
      "url",
      "public_key",
      "public_keys",
      "ca_file",
      "username",
      "password",
      "password_file",
      "bearer_token_file",
      "filters");

  private static final Set<String> FILTER = Set.of("action", "field", "pattern");
  private static final Set<String> CACHE = Set.of(
      "db_path",
      "max_entries",
      "ttl",
      "negative_ttl",
      "latency_alpha",
      "probe_interval",
      "nar_hedge_delay",
      "nar_hedge_max",
      "max_concurrent_races",
      "store",
      "postgresql");
  private static final Set<String> POSTGRESQL = Set.of("url", "password_file", "pool_size");
  private static final int DEFAULT_POOL_SIZE = 8;
  private static final Set<String> TIMEOUTS = Set.of("connect", "first_byte", "stall");
  private static final Set<String> LOGGING = Set.of("level", "format");
  private static final Set<String> MESH =
      Set.of("enabled", "bind_addr", "peers", "private_key", "gossip_interval");
  private static final Set<String> DISCOVERY =
      Set.of("enabled", "service", "domain", "priority", "public_keys");
  /** A DNS-SD service type (RFC 6763 §7): {@code _name._tcp} or {@code _name._udp}, name up to 15 characters. */
  private static final Pattern SERVICE =
      Pattern.compile("_[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?\\._(tcp|udp)");
  /** A DNS domain of letter-digit-hyphen labels, without the trailing dot. */
  private static final Pattern DOMAIN = Pattern.compile(
      "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");

  private static final Set<String> PEER = Set.of("addr", "public_key");
  private static final Set<String> LEVELS = Set.of("debug", "info", "warn", "error");
  private static final Set<String> FORMATS = Set.of("json", "text");
  private static final int DEFAULT_PRIORITY = 10;
  /** Loop safety counts hops; more than this many ncro nodes in a row is a misconfiguration. */
  static final int MAX_HOPS_LIMIT = 16;
  /** Bounds that catch a typo (an extra zero of zeros) without limiting a real deployment. */
  static final int MAX_RACES_LIMIT = 100_000;

  static final int MAX_INFLIGHT_LIMIT = 10_000;

  /** What a credential stands for when its file is not read (a build-time check only: never served). */
  private static final String UNREAD = "(credential file not read: --skip-secret-files)";

  private final YamlFields f;
  private final Map<String, String> env;
  private final boolean readSecretFiles;

  /**
   * {@code env}: where defaults that depend on the user come from ({@link DefaultPaths}).
   * {@code readSecretFiles}: false only for a build-time check ({@link ConfigLoader.SecretFiles}).
   */
  ConfigBinder(YamlFields fields, Map<String, String> env, boolean readSecretFiles) {
    this.f = fields;
    this.env = env;
    this.readSecretFiles = readSecretFiles;
  }

  /** The one-line secret in {@code file}; without reading files, only the path is checked. */
  private String readSecret(Path file) throws CredentialFiles.FileProblem {
    return readSecretFiles ? CredentialFiles.secret(file) : UNREAD;
  }

  Config bind(Map<String, Object> tree) throws ConfigException {
    Map<String, Object> top = f.section(tree, "", TOP);
    Netrc netrc = netrc(top);
    List<UpstreamConfig> upstreams = upstreams(f.list(top, "upstreams", "upstreams"), netrc);
    Config c = new Config(
        server(f.section(top.get("server"), "server", SERVER)),
        upstreams,
        cache(f.section(top.get("cache"), "cache", CACHE)),
        timeouts(f.section(top.get("timeouts"), "timeouts", TIMEOUTS)),
        logging(f.section(top.get("logging"), "logging", LOGGING)),
        mesh(f.section(top.get("mesh"), "mesh", MESH)),
        fallbackCache(
            top.get("fallback_cache") == null
                ? Map.of()
                : f.section(top.get("fallback_cache"), "fallback_cache", FALLBACK),
            netrc,
            upstreams),
        discovery(f.section(top.get("discovery"), "discovery", DISCOVERY)),
        proxy());
    if (c.cache().hedgesNars()
        && c.cache().narHedgeDelay().compareTo(c.timeouts().firstByte()) >= 0) {
      f.problem(
          "cache.nar_hedge_delay",
          "must be shorter than timeouts.first_byte ("
              + c.timeouts().firstByte().toMillis()
              + " ms): the routed upstream would time out before any hedge is sent (\"0\" turns hedging off)");
    }
    if (!f.problems().isEmpty()) {
      throw new ConfigException(f.problems());
    }
    return c;
  }

  /** The forward proxy from curl's variables ({@link OutboundProxy}); a malformed one is a problem named by its variable. */
  private OutboundProxy proxy() {
    try {
      return OutboundProxy.fromEnvironment(env);
    } catch (OutboundProxy.Malformed e) {
      f.problem("environment " + e.variable(), e.getMessage());
      return OutboundProxy.NONE;
    }
  }

  private ServerConfig server(Map<String, Object> m) {
    return new ServerConfig(
        listen(f.string(m, "listen", "server.listen")),
        f.duration(m, "read_timeout", "server.read_timeout"),
        f.duration(m, "write_timeout", "server.write_timeout"),
        f.integer(m, "cache_priority", "server.cache_priority", 0, Integer.MAX_VALUE),
        new AccessPolicy(
            cidrs(m, "allow", "server.allow"),
            clients(f.list(m, "clients", "server.clients")),
            cidrs(m, "admin_allow", "server.admin_allow"),
            cidrs(m, "trusted_proxies", "server.trusted_proxies")),
        f.integer(m, "max_hops", "server.max_hops", 1, MAX_HOPS_LIMIT),
        f.bool(m, "want_mass_query", "server.want_mass_query"),
        f.bool(m, "nar_splice", "server.nar_splice"));
  }

  /** A list of networks; absent or empty = no restriction (the caller decides what that means). */
  private List<Cidr> cidrs(Map<String, Object> m, String key, String path) {
    List<?> list = f.list(m, key, path);
    List<Cidr> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      if (!(list.get(i) instanceof String s)) {
        f.problem(
            path + "[" + i + "]",
            "expected a network such as \"10.0.0.0/8\", got " + YamlFields.describe(list.get(i)));
        continue;
      }
      try {
        out.add(Cidr.parse(s));
      } catch (IllegalArgumentException e) {
        f.problem(path + "[" + i + "]", e.getMessage());
      }
    }
    return out;
  }

  /**
   * {@code server.clients}: each entry is a Basic user ({@code username} + {@code password_file})
   * or a bearer token ({@code bearer_token_file}). The files are read now, so an unreadable one
   * stops start-up (and {@code --check}) instead of locking every client out later.
   */
  private List<ClientCredential> clients(List<?> list) {
    List<ClientCredential> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      String path = "server.clients[" + i + "]";
      Map<String, Object> c = f.section(list.get(i), path, CLIENT);
      if (c.isEmpty()) {
        if (list.get(i) instanceof Map<?, ?>) {
          f.problem(path, "needs username and password_file, or bearer_token_file");
        }
        continue;
      }
      boolean basic = c.containsKey("username") || c.containsKey("password_file");
      boolean bearer = c.containsKey("bearer_token_file");
      if (basic && bearer) {
        f.problem(
            path,
            "has both Basic (username, password_file) and bearer_token_file: one credential per entry");
      } else if (bearer) {
        String file = f.string(c, "bearer_token_file", path + ".bearer_token_file");
        String token = secret(file, path + ".bearer_token_file");
        if (token != null) {
          out.add(ClientCredential.bearer(token));
        }
      } else if (basic) {
        String user = f.string(c, "username", path + ".username");
        String file = f.string(c, "password_file", path + ".password_file");
        if (c.containsKey("username") && user.isEmpty()) {
          f.problem(path + ".username", "must not be empty");
        } else if (user.indexOf(':') >= 0) {
          f.problem(
              path + ".username",
              "must not contain ':' (Basic authentication separates user and password with it)");
        }
        String password = secret(file, path + ".password_file");
        if (password != null && !user.isEmpty() && user.indexOf(':') < 0) {
          out.add(ClientCredential.basic(user, password));
        }
      } else {
        f.problem(path, "needs username and password_file, or bearer_token_file");
      }
    }
    return out;
  }

  private String secret(String file, String path) {
    if (file.isEmpty()) {
      return null; // already reported as missing or ill-typed
    }
    try {
      return readSecret(Path.of(file));
    } catch (InvalidPathException e) {
      f.problem(path, "not a valid path: " + e.getReason());
      return null;
    } catch (CredentialFiles.FileProblem e) {
      f.problem(path, e.getMessage());
      return null;
    }
  }

  /** The top-level {@code netrc_file}, read now; null when not set or unreadable (a problem is recorded). */
  private Netrc netrc(Map<String, Object> top) {
    Path p = path(top, "netrc_file", "netrc_file");
    if (p == null) {
      return null;
    }
    if (!readSecretFiles) {
      return null; // not read: upstreams get no netrc credentials in this check
    }
    try {
      return CredentialFiles.netrc(p);
    } catch (CredentialFiles.FileProblem e) {
      f.problem("netrc_file", e.getMessage());
      return null;
    }
  }

  /** An optional path field: null when absent or empty. */
  private Path path(Map<String, Object> m, String key, String path) {
    if (m.get(key) == null) {
      return null;
    }
    String text = f.string(m, key, path);
    if (text.isEmpty()) {
      return null;
    }
    try {
      return Path.of(text);
    } catch (InvalidPathException e) {
      f.problem(path, "not a valid path: " + e.getReason());
      return null;
    }
  }

  /**
   * Credentials for one upstream: explicit ones ({@code username} + {@code password} or
   * {@code password_file}, or {@code bearer_token_file}) win; otherwise its host's netrc entry.
   * Every file is read now, so a bad one stops start-up (and {@code --check}) with its field.
   */
  private UpstreamCredentials credentials(
      Map<String, Object> m, String path, URI url, Netrc netrc) {
    String username =
        m.get("username") == null ? null : f.string(m, "username", path + ".username");
    String password = null;
    if (m.get("password") instanceof String p) {
      password = p;
    } else if (m.get("password") != null) { // never describe the value: it is the password
      f.problem(path + ".password", "expected a string (quote it: password: \"...\")");
      return UpstreamCredentials.NONE;
    }
    Path passwordFile = path(m, "password_file", path + ".password_file");
    Path tokenFile = path(m, "bearer_token_file", path + ".bearer_token_file");
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
        return new UpstreamCredentials.Bearer(readSecret(tokenFile), "bearer_token_file");
      }
      if (passwordFile != null) {
        return new UpstreamCredentials.Basic(username, readSecret(passwordFile), "password_file");
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
      return netrc
          .forHost(url.getHost())
          .<UpstreamCredentials>map(e ->
              new UpstreamCredentials.Basic(e.login(), e.password(), "netrc_file line " + e.line()))
          .orElse(UpstreamCredentials.NONE);
    }
    return UpstreamCredentials.NONE;
  }

  private Path caFile(Map<String, Object> m, String path) {
    Path ca = path(m, "ca_file", path + ".ca_file");
    if (ca != null && readSecretFiles) {
      try {
        CredentialFiles.certificates(ca);
      } catch (CredentialFiles.FileProblem e) {
        f.problem(path + ".ca_file", e.getMessage());
      }
    }
    return ca;
  }

  private List<UpstreamConfig> upstreams(List<?> list, Netrc netrc) {
    if (list.isEmpty()) {
      f.problem("upstreams", "at least one upstream is required");
    }
    List<UpstreamConfig> out = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < list.size(); i++) {
      String path = "upstreams[" + i + "]";
      UpstreamConfig u = upstream(f.section(list.get(i), path, UPSTREAM), path, netrc, true);
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
  private FallbackCacheConfig fallbackCache(
      Map<String, Object> m, Netrc netrc, List<UpstreamConfig> upstreams) {
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
    UpstreamConfig u = upstream(m, "fallback_cache", netrc, false);
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
  private UpstreamConfig upstream(
      Map<String, Object> m, String path, Netrc netrc, boolean hasPriority) {
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
        : credentials(m, path, url, netrc);
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
    if (readSecretFiles && !(Files.isDirectory(dir) && Files.isReadable(dir))) {
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

  private CacheConfig cache(Map<String, Object> m) {
    String db;
    if (m.get("db_path") == null) {
      Path dflt = null;
      try {
        dflt = DefaultPaths.routeDb(env);
        if (dflt == null) {
          f.problem(
              "cache.db_path",
              "not set, and no default: none of STATE_DIRECTORY, XDG_STATE_HOME, HOME is set");
        }
      } catch (InvalidPathException e) {
        f.problem(
            "cache.db_path",
            "not set, and the default from STATE_DIRECTORY, XDG_STATE_HOME or HOME is not a"
                + " valid path: " + e.getReason());
      }
      db = dflt == null ? "" : dflt.toString();
    } else {
      db = f.string(m, "db_path", "cache.db_path");
      if (db.isEmpty()) {
        f.problem("cache.db_path", "must not be empty");
      }
    }
    double alpha = f.number(m, "latency_alpha", "cache.latency_alpha");
    if (!(alpha > 0 && alpha < 1)) {
      f.problem("cache.latency_alpha", alpha + " is outside (0, 1)");
    }
    Path dbPath = Path.of(".");
    try {
      dbPath = Path.of(db.isEmpty() ? "." : db);
    } catch (InvalidPathException e) {
      f.problem("cache.db_path", "not a valid path: " + e.getReason());
    }
    return new CacheConfig(
        dbPath,
        f.integer(m, "max_entries", "cache.max_entries", 1, Integer.MAX_VALUE),
        f.duration(m, "ttl", "cache.ttl"),
        f.duration(m, "negative_ttl", "cache.negative_ttl"),
        alpha,
        f.duration(m, "probe_interval", "cache.probe_interval"),
        f.durationOrZero(m, "nar_hedge_delay", "cache.nar_hedge_delay"),
        f.integer(m, "nar_hedge_max", "cache.nar_hedge_max", 2, 8),
        f.integer(m, "max_concurrent_races", "cache.max_concurrent_races", 1, MAX_RACES_LIMIT),
        store(m));
  }

  /**
   * {@code cache.store} and {@code cache.postgresql}. The password file is read now, so a missing or
   * unreadable one stops start-up (and {@code --check}); whether the database answers is not a
   * configuration question: an unreachable one at start is a warning and a degraded node.
   */
  private StoreConfig store(Map<String, Object> m) {
    String kind = f.optionalString(m, "store", "cache.store", "sqlite").toLowerCase(Locale.ROOT);
    Map<String, Object> pg = m.get("postgresql") == null
        ? Map.of()
        : f.section(m.get("postgresql"), "cache.postgresql", POSTGRESQL);
    if (kind.equals("sqlite")) {
      return StoreConfig.SQLITE;
    }
    if (!kind.equals("postgresql")) {
      f.problem("cache.store", "\"" + kind + "\" is not one of sqlite, postgresql");
      return StoreConfig.SQLITE;
    }
    if (m.get("postgresql") == null) {
      f.problem(
          "cache.postgresql", "required with store: postgresql (url, password_file, pool_size)");
      return StoreConfig.SQLITE;
    }
    PostgresUrl url = null;
    if (pg.get("url") == null) {
      f.problem("cache.postgresql.url", "missing (postgresql://user@host:5432/database)");
    } else {
      try {
        url = PostgresUrl.parse(f.string(pg, "url", "cache.postgresql.url"));
      } catch (IllegalArgumentException e) {
        f.problem("cache.postgresql.url", e.getMessage());
      }
    }
    int pool = pg.get("pool_size") == null
        ? DEFAULT_POOL_SIZE
        : f.integer(pg, "pool_size", "cache.postgresql.pool_size", 1, 1000);
    Path passwordFile = path(pg, "password_file", "cache.postgresql.password_file");
    String password = "";
    if (passwordFile != null) {
      try {
        password = readSecret(passwordFile);
      } catch (CredentialFiles.FileProblem e) {
        f.problem("cache.postgresql.password_file", e.getMessage());
      }
    }
    if (url == null) {
      return StoreConfig.SQLITE;
    }
    return new StoreConfig.Postgresql(
        url.hosts(), url.database(), url.user(), url.properties(), passwordFile, password, pool);
  }

  private TimeoutsConfig timeouts(Map<String, Object> m) {
    return new TimeoutsConfig(
        f.duration(m, "connect", "timeouts.connect"),
        f.duration(m, "first_byte", "timeouts.first_byte"),
        f.duration(m, "stall", "timeouts.stall"));
  }

  private LoggingConfig logging(Map<String, Object> m) {
    String level = f.string(m, "level", "logging.level").toLowerCase(Locale.ROOT);
    if (!LEVELS.contains(level)) {
      f.problem("logging.level", "\"" + level + "\" is not one of debug, info, warn, error");
    }
    String format = f.string(m, "format", "logging.format").toLowerCase(Locale.ROOT);
    if (!FORMATS.contains(format)) {
      f.problem("logging.format", "\"" + format + "\" is not one of json, text");
    }
    return new LoggingConfig(level, format);
  }

  private MeshConfig mesh(Map<String, Object> m) {
    boolean enabled = f.bool(m, "enabled", "mesh.enabled");
    String bind = f.string(m, "bind_addr", "mesh.bind_addr");
    address(bind, "mesh.bind_addr");
    List<?> list = f.list(m, "peers", "mesh.peers");
    List<MeshConfig.Peer> peers = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      String path = "mesh.peers[" + i + "]";
      Map<String, Object> p = f.section(list.get(i), path, PEER);
      String addr = f.string(p, "addr", path + ".addr");
      address(addr, path + ".addr");
      String key = f.optionalString(p, "public_key", path + ".public_key", "");
      if (!key.isEmpty() && !key.matches("[0-9a-fA-F]{64}")) {
        f.problem(
            path + ".public_key", "expected 64 hex characters (a 32-byte ed25519 public key)");
      }
      peers.add(new MeshConfig.Peer(addr, key.toLowerCase(Locale.ROOT)));
    }
    return new MeshConfig(
        enabled,
        bind,
        peers,
        f.optionalString(m, "private_key", "mesh.private_key", ""),
        f.duration(m, "gossip_interval", "mesh.gossip_interval"));
  }

  /**
   * {@code discovery}: checked whether enabled or not, so a mistake shows before the day it is
   * switched on. Enabled without {@code public_keys} is an error: any host on the LAN could then
   * announce a cache and inject content.
   */
  private DiscoveryConfig discovery(Map<String, Object> m) {
    boolean enabled = f.bool(m, "enabled", "discovery.enabled");
    String service = f.string(m, "service", "discovery.service");
    if (!service.isEmpty() && !SERVICE.matcher(service).matches()) {
      f.problem(
          "discovery.service",
          "\"" + service + "\" is not a DNS-SD service type such as \"_nix-serve._tcp\"");
    }
    String domain = f.string(m, "domain", "discovery.domain");
    if (!domain.isEmpty() && !DOMAIN.matcher(domain).matches()) {
      f.problem(
          "discovery.domain",
          "\"" + domain + "\" is not a domain such as \"local\" (no leading or trailing dot)");
    }
    int priority = f.integer(m, "priority", "discovery.priority", 0, Integer.MAX_VALUE);
    List<?> list = f.list(m, "public_keys", "discovery.public_keys");
    List<String> keys = new ArrayList<>();
    for (int k = 0; k < list.size(); k++) {
      if (!(list.get(k) instanceof String s)) {
        f.problem("discovery.public_keys[" + k + "]", "expected a string \"name:base64\"");
        continue;
      }
      try {
        NixPublicKey.parse(s);
        keys.add(s);
      } catch (IllegalArgumentException e) {
        f.problem("discovery.public_keys[" + k + "]", e.getMessage());
      }
    }
    if (enabled && list.isEmpty()) {
      f.problem(
          "discovery.public_keys",
          "required when discovery is enabled: a discovered cache is used only if its "
              + "narinfos verify against one of these keys (otherwise any host on the LAN could inject content)");
    }
    return new DiscoveryConfig(enabled, service, domain, priority, keys);
  }

  /** {@code ""}: no address of its own, ncro serves only a socket systemd hands over (LISTEN_FDS). */
  private ListenAddress listen(String text) {
    return text != null && text.isEmpty() ? null : address(text, "server.listen");
  }

  private ListenAddress address(String text, String path) {
    try {
      return ListenAddress.parse(text);
    } catch (IllegalArgumentException e) {
      f.problem(path, e.getMessage());
      return new ListenAddress(null, 0);
    }
  }
}
