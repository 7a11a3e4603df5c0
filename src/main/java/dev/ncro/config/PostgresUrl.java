package dev.ncro.config;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code cache.postgresql.url}: a libpq connection URI ({@code postgresql://user@host:port/db?sslmode=...},
 * what {@code psql} and most operators write) or a pgjdbc URL ({@code jdbc:postgresql://...}), turned
 * into what pgjdbc takes: hosts, database, user and connection properties.
 *
 * <p>libpq's query parameters are translated to pgjdbc's names ({@code target_session_attrs=read-write}
 * becomes {@code targetServerType=primary}); an unknown one is an error rather than silently ignored,
 * since a dropped {@code sslmode} would mean an unencrypted connection. A pgjdbc URL's parameters
 * pass through as they are. A password, in the user info or as {@code password=}, is refused
 * everywhere: it belongs in {@code password_file}, out of the Nix store and out of every message
 * that quotes the URL.
 */
record PostgresUrl(
    List<String> hosts, String database, String user, Map<String, String> properties) {
  private static final int DEFAULT_PORT = 5432;
  static final Set<String> SSL_MODES =
      Set.of("disable", "allow", "prefer", "require", "verify-ca", "verify-full");
  /** libpq parameter name to pgjdbc property name. */
  private static final Map<String, String> LIBPQ = Map.of(
      "sslmode",
      "sslmode",
      "sslrootcert",
      "sslrootcert",
      "sslcert",
      "sslcert",
      "sslkey",
      "sslkey",
      "application_name",
      "ApplicationName",
      "connect_timeout",
      "connectTimeout",
      "target_session_attrs",
      "targetServerType",
      "user",
      "user");

  private static final Map<String, String> SESSION_ATTRS = Map.of(
      "any",
      "any",
      "read-write",
      "primary",
      "primary",
      "primary",
      "read-only",
      "secondary",
      "standby",
      "secondary",
      "prefer-standby",
      "preferSecondary");

  /** Parses {@code text}; the exception's message says what is wrong, never quoting a password. */
  static PostgresUrl parse(String text) {
    boolean jdbc;
    String rest;
    if (text.startsWith("jdbc:postgresql://")) {
      jdbc = true;
      rest = text.substring("jdbc:postgresql://".length());
    } else if (text.startsWith("postgresql://") || text.startsWith("postgres://")) {
      jdbc = false;
      rest = text.substring(text.indexOf("://") + 3);
    } else {
      throw new IllegalArgumentException(
          "expected postgresql://user@host:port/database (or jdbc:postgresql://...)");
    }
    if (rest.contains("#")) {
      throw new IllegalArgumentException("must not have a fragment (#...)");
    }
    String query = null;
    int q = rest.indexOf('?');
    if (q >= 0) {
      query = rest.substring(q + 1);
      rest = rest.substring(0, q);
    }
    String user = "";
    int at = rest.lastIndexOf('@');
    if (at >= 0) {
      String info = rest.substring(0, at);
      rest = rest.substring(at + 1);
      if (info.contains(":")) {
        throw new IllegalArgumentException(
            "must not contain a password: put it in cache.postgresql.password_file");
      }
      user = decode(info, "user name");
    }
    int slash = rest.indexOf('/');
    String hostPart = slash < 0 ? rest : rest.substring(0, slash);
    String database = slash < 0 ? "" : decode(rest.substring(slash + 1), "database name");
    if (database.isEmpty() || database.contains("/")) {
      throw new IllegalArgumentException(
          "names no database (postgresql://user@host:5432/DATABASE)");
    }
    List<String> hosts = new ArrayList<>();
    for (String h : hostPart.split(",", -1)) {
      hosts.add(host(h));
    }
    Map<String, String> props = new LinkedHashMap<>();
    if (query != null && !query.isEmpty()) {
      for (String pair : query.split("&")) {
        int eq = pair.indexOf('=');
        String key = decode(eq < 0 ? pair : pair.substring(0, eq), "parameter");
        String value = eq < 0 ? "" : decode(pair.substring(eq + 1), "parameter " + key);
        if (key.equalsIgnoreCase("password") || key.equalsIgnoreCase("passfile")) {
          throw new IllegalArgumentException(
              "must not carry " + key + "=: put the password in cache.postgresql.password_file");
        }
        if (jdbc) {
          props.put(key, value);
          continue;
        }
        String name = LIBPQ.get(key);
        if (name == null) {
          throw new IllegalArgumentException("unknown parameter \"" + key + "\" (known: "
              + String.join(", ", LIBPQ.keySet().stream().sorted().toList()) + ")");
        }
        if (key.equals("target_session_attrs")) {
          String t = SESSION_ATTRS.get(value);
          if (t == null) {
            throw new IllegalArgumentException("target_session_attrs=" + value + " is not one of "
                + String.join(", ", SESSION_ATTRS.keySet().stream().sorted().toList()));
          }
          value = t;
        }
        props.put(name, value);
      }
    }
    String ssl = props.get("sslmode");
    if (ssl != null && !SSL_MODES.contains(ssl)) {
      throw new IllegalArgumentException("sslmode=" + ssl + " is not one of "
          + String.join(", ", SSL_MODES.stream().sorted().toList()));
    }
    String timeout = props.get("connectTimeout");
    if (timeout != null && !timeout.matches("[0-9]{1,4}")) {
      throw new IllegalArgumentException(
          "connect_timeout=" + timeout + " is not a number of seconds");
    }
    String userProp = props.remove("user");
    if (userProp != null) {
      if (!user.isEmpty() && !user.equals(userProp)) {
        throw new IllegalArgumentException(
            "names two users (" + user + " and user=" + userProp + ")");
      }
      user = userProp;
    }
    return new PostgresUrl(hosts, database, user, props);
  }

  /** {@code host[:port]} or {@code [v6]:port}, normalised with the default port. */
  private static String host(String h) {
    if (h.isEmpty()) {
      throw new IllegalArgumentException("has no host (postgresql://user@HOST:5432/database)");
    }
    String name;
    String port;
    if (h.startsWith("[")) {
      int close = h.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("host " + h + ": unclosed [");
      }
      name = h.substring(0, close + 1);
      String after = h.substring(close + 1);
      if (!after.isEmpty() && !after.startsWith(":")) {
        throw new IllegalArgumentException("host " + h + ": expected :port after ]");
      }
      port = after.isEmpty() ? "" : after.substring(1);
    } else {
      int colon = h.lastIndexOf(':');
      name = colon < 0 ? h : h.substring(0, colon);
      port = colon < 0 ? "" : h.substring(colon + 1);
    }
    if (name.isEmpty() || !name.matches("[A-Za-z0-9._\\-\\[\\]:%]+")) {
      throw new IllegalArgumentException("host \"" + name + "\" is not a host name or address");
    }
    int p = DEFAULT_PORT;
    if (!port.isEmpty()) {
      try {
        p = Integer.parseInt(port);
      } catch (NumberFormatException e) {
        p = -1;
      }
      if (p < 1 || p > 65535) {
        throw new IllegalArgumentException(
            "host " + name + ": port \"" + port + "\" is not in 1..65535");
      }
    }
    return name.toLowerCase(Locale.ROOT) + ":" + p;
  }

  private static String decode(String s, String what) {
    try {
      return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("bad %-escape in the " + what);
    }
  }
}
