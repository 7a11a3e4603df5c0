package dev.ncro.config;

import dev.ncro.narinfo.NixPublicKey;
import dev.ncro.s3.S3Location;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Turns the merged YAML tree into {@link Config} records, checking every field and collecting
 * every problem ({@link YamlFields}) before failing with one {@link ConfigException}.
 */
final class ConfigBinder {
  private static final Set<String> TOP = Set.of("server", "upstreams", "cache", "timeouts", "logging", "mesh");
  private static final Set<String> SERVER = Set.of("listen", "read_timeout", "write_timeout", "cache_priority");
  private static final Set<String> UPSTREAM = Set.of("url", "priority", "public_key", "public_keys");
  private static final Set<String> CACHE =
      Set.of("db_path", "max_entries", "ttl", "negative_ttl", "latency_alpha", "probe_interval");
  private static final Set<String> TIMEOUTS = Set.of("connect", "first_byte", "stall");
  private static final Set<String> LOGGING = Set.of("level", "format");
  private static final Set<String> MESH = Set.of("enabled", "bind_addr", "peers", "private_key", "gossip_interval");
  private static final Set<String> PEER = Set.of("addr", "public_key");
  private static final Set<String> LEVELS = Set.of("debug", "info", "warn", "error");
  private static final Set<String> FORMATS = Set.of("json", "text");
  private static final int DEFAULT_PRIORITY = 10;

  private final YamlFields f;

  ConfigBinder(YamlFields fields) {
    this.f = fields;
  }

  Config bind(Map<String, Object> tree) throws ConfigException {
    Map<String, Object> top = f.section(tree, "", TOP);
    Config c = new Config(
        server(f.section(top.get("server"), "server", SERVER)),
        upstreams(f.list(top, "upstreams", "upstreams")),
        cache(f.section(top.get("cache"), "cache", CACHE)),
        timeouts(f.section(top.get("timeouts"), "timeouts", TIMEOUTS)),
        logging(f.section(top.get("logging"), "logging", LOGGING)),
        mesh(f.section(top.get("mesh"), "mesh", MESH)));
    if (!f.problems().isEmpty()) {
      throw new ConfigException(f.problems());
    }
    return c;
  }

  private ServerConfig server(Map<String, Object> m) {
    return new ServerConfig(
        address(f.string(m, "listen", "server.listen"), "server.listen"),
        f.duration(m, "read_timeout", "server.read_timeout"),
        f.duration(m, "write_timeout", "server.write_timeout"),
        f.integer(m, "cache_priority", "server.cache_priority", 0, Integer.MAX_VALUE));
  }

  private List<UpstreamConfig> upstreams(List<?> list) {
    if (list.isEmpty()) {
      f.problem("upstreams", "at least one upstream is required");
    }
    List<UpstreamConfig> out = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < list.size(); i++) {
      String path = "upstreams[" + i + "]";
      Map<String, Object> m = f.section(list.get(i), path, UPSTREAM);
      String urlText = f.string(m, "url", path + ".url");
      S3Location s3 = S3Location.isS3(urlText) ? s3Url(urlText, path + ".url") : null;
      URI url = s3 != null ? s3.canonical() : S3Location.isS3(urlText) ? null : upstreamUrl(urlText, path + ".url");
      int priority = m.containsKey("priority")
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
      if (url != null) {
        if (!seen.add(url.toString())) {
          f.problem(path + ".url", "duplicate upstream " + url);
        }
        out.add(s3 != null ? UpstreamConfig.s3(s3, priority, keys) : new UpstreamConfig(url, priority, keys));
      }
    }
    return out;
  }

  /** An {@code s3://} URL in Nix's syntax; a problem names the parameter at fault. */
  private S3Location s3Url(String text, String path) {
    try {
      return S3Location.parse(text);
    } catch (S3Location.Malformed e) {
      // Never echo what looks like user info: it would be a secret written in the wrong place.
      String shown = text.replaceFirst("^(?i)(s3://)[^/?#]*@", "$1***@");
      f.problem(path, "S3 upstream \"" + shown + "\", " + e.parameter() + ": "
          + (shown.equals(text) ? e.getMessage() : "credentials do not go in an s3:// URL"));
      return null;
    }
  }

  /** An absolute http(s) URL with a host; the trailing slash is dropped, a base path kept. */
  private URI upstreamUrl(String text, String path) {
    if (text.isEmpty()) {
      return null;
    }
    URI u;
    try {
      u = new URI(text);
    } catch (URISyntaxException e) {
      f.problem(path, "not a valid URL: " + e.getMessage());
      return null;
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      f.problem(path, "\"" + text + "\" must be an http://, https:// or s3:// URL");
      return null;
    }
    if (u.getHost() == null || u.getHost().isEmpty()) {
      f.problem(path, "\"" + text + "\" has no host");
      return null;
    }
    if (u.getRawQuery() != null || u.getRawFragment() != null || u.getRawUserInfo() != null) {
      f.problem(path, "\"" + text + "\" must not have a query, fragment or user info");
      return null;
    }
    return UpstreamConfig.normalize(u);
  }

  private CacheConfig cache(Map<String, Object> m) {
    String db = f.string(m, "db_path", "cache.db_path");
    if (db.isEmpty()) {
      f.problem("cache.db_path", "must not be empty");
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
        f.duration(m, "probe_interval", "cache.probe_interval"));
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
        f.problem(path + ".public_key", "expected 64 hex characters (a 32-byte ed25519 public key)");
      }
      peers.add(new MeshConfig.Peer(addr, key.toLowerCase(Locale.ROOT)));
    }
    return new MeshConfig(enabled, bind, peers, f.optionalString(m, "private_key", "mesh.private_key", ""),
        f.duration(m, "gossip_interval", "mesh.gossip_interval"));
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
