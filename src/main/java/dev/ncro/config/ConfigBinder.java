package dev.ncro.config;

import dev.ncro.access.AccessPolicy;
import dev.ncro.access.Cidr;
import dev.ncro.access.ClientCredential;
import dev.ncro.access.ClientEntry;
import dev.ncro.narinfo.NixPublicKey;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
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
  /** Loop safety counts hops; more than this many ncro nodes in a row is a misconfiguration. */
  static final int MAX_HOPS_LIMIT = 16;
  /** Bounds that catch a typo (an extra zero of zeros) without limiting a real deployment. */
  static final int MAX_RACES_LIMIT = 100_000;

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
  String readSecret(Path file) throws CredentialFiles.FileProblem {
    return readSecretFiles ? CredentialFiles.secret(file) : UNREAD;
  }

  Config bind(Map<String, Object> tree) throws ConfigException {
    Map<String, Object> top = f.section(tree, "", TOP);
    UpstreamBinder upstreamBinder =
        new UpstreamBinder(f, netrc(top), this::readSecret, readSecretFiles);
    List<UpstreamConfig> upstreams =
        upstreamBinder.upstreams(f.list(top, "upstreams", "upstreams"));
    Config c = new Config(
        server(f.section(top.get("server"), "server", SERVER)),
        upstreams,
        cache(f.section(top.get("cache"), "cache", CACHE)),
        timeouts(f.section(top.get("timeouts"), "timeouts", TIMEOUTS)),
        logging(f.section(top.get("logging"), "logging", LOGGING)),
        mesh(f.section(top.get("mesh"), "mesh", MESH)),
        upstreamBinder.fallbackCache(top.get("fallback_cache"), upstreams),
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
  private List<ClientEntry> clients(List<?> list) {
    List<ClientEntry> out = new ArrayList<>();
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
          out.add(followed(
              path,
              ClientCredential.bearer(token),
              new CredentialFile<>(
                  "bearer_token_file",
                  Path.of(file),
                  p -> ClientCredential.bearer(CredentialFiles.secret(p)))));
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
          out.add(followed(
              path,
              ClientCredential.basic(user, password),
              new CredentialFile<>(
                  "password_file",
                  Path.of(file),
                  p -> ClientCredential.basic(user, CredentialFiles.secret(p)))));
        }
      } else {
        f.problem(path, "needs username and password_file, or bearer_token_file");
      }
    }
    return out;
  }

  /** A client credential that follows its file, except in a build-time check (no files read). */
  private ClientEntry followed(
      String path, ClientCredential initial, CredentialFile<ClientCredential> file) {
    if (!readSecretFiles) {
      return initial;
    }
    FollowedFile<ClientCredential> followed = new FollowedFile<>(path, file, initial);
    return new ClientEntry() {
      @Override
      public ClientCredential current() {
        return followed.current();
      }

      @Override
      public boolean refresh() {
        return followed.refresh();
      }

      @Override
      public boolean usable() {
        return followed.usable();
      }

      @Override
      public String toString() {
        return followed.current().toString();
      }
    };
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
  private UpstreamBinder.NetrcFile netrc(Map<String, Object> top) {
    Path p = f.optionalPath(top, "netrc_file", "netrc_file");
    if (p == null) {
      return null;
    }
    if (!readSecretFiles) {
      return null; // not read: upstreams get no netrc credentials in this check
    }
    try {
      return new UpstreamBinder.NetrcFile(p, CredentialFiles.netrc(p));
    } catch (CredentialFiles.FileProblem e) {
      f.problem("netrc_file", e.getMessage());
      return null;
    }
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
    Path passwordFile = f.optionalPath(pg, "password_file", "cache.postgresql.password_file");
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
