package dev.ncro.access;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

/**
 * Who may use ncro, decided for each request before it is routed, so a rejected request never
 * costs an upstream request, a race or a log line. Rules, in order: the client address (the
 * socket's peer, or the {@code X-Forwarded-For} entry chosen by {@link ClientAddress} when the
 * peer is a trusted proxy) must be in {@code allow}; admin pages also need {@code admin_allow};
 * when {@code clients} is non-empty, every request but {@code /health} needs matching credentials.
 * An empty list means "no restriction" for {@code allow} and {@code admin_allow}.
 */
public final class AccessPolicy {
  /** What a request asks for, as far as access is concerned. */
  public enum Scope {
    /** {@code /health}: the network check only, so load balancers can probe without credentials. */
    HEALTH,
    /** {@code /}, {@code /ui}, {@code /status}, {@code /metrics}. */
    ADMIN,
    /** Everything else: the binary cache. */
    CACHE
  }

  /** Anyone who can connect may do anything: the policy when no access field is set. */
  public static final AccessPolicy OPEN =
      new AccessPolicy(List.of(), List.of(), List.of(), List.of());

  private final List<Cidr> allow;
  private final List<Cidr> adminAllow;
  private final List<Cidr> trustedProxies;
  private final List<ClientEntry> clients;

  public AccessPolicy(
      List<Cidr> allow,
      List<? extends ClientEntry> clients,
      List<Cidr> adminAllow,
      List<Cidr> trustedProxies) {
    this.allow = List.copyOf(allow);
    this.clients = List.copyOf(clients);
    this.adminAllow = List.copyOf(adminAllow);
    this.trustedProxies = List.copyOf(trustedProxies);
  }

  public List<Cidr> allow() {
    return allow;
  }

  public List<Cidr> adminAllow() {
    return adminAllow;
  }

  public List<Cidr> trustedProxies() {
    return trustedProxies;
  }

  public List<ClientEntry> clients() {
    return clients;
  }

  /** How many client entries run on a last good credential because their file's change was unusable. */
  public int unusableClientFiles() {
    int n = 0;
    for (ClientEntry e : clients) {
      n += e.usable() ? 0 : 1;
    }
    return n;
  }

  /**
   * Re-reads the client credential files that changed (see {@link ClientEntry#refresh()}); true
   * when some entry now accepts another credential. Called once a second by the housekeeping
   * thread when there are clients.
   */
  public boolean refreshClients() {
    boolean changed = false;
    for (ClientEntry e : clients) {
      changed |= e.refresh();
    }
    return changed;
  }

  /**
   * Null when the request may go on, else why not. {@code peer}: null for a connection without an
   * IP address (a Unix socket handed over by the service manager), to which the network lists do
   * not apply but credentials do. {@code forwardedFor}: every {@code X-Forwarded-For} header value
   * in order; {@code authorization}: the header, or null.
   */
  public Rejection check(
      InetAddress peer, List<String> forwardedFor, String authorization, Scope scope) {
    if (peer != null) {
      byte[] client = ClientAddress.resolve(peer, forwardedFor, trustedProxies);
      if (!permits(allow, client)) {
        return Rejection.NETWORK;
      }
      if (scope == Scope.ADMIN && !permits(adminAllow, client)) {
        return Rejection.ADMIN;
      }
    }
    if (scope == Scope.HEALTH) {
      return null;
    }
    if (clients.isEmpty()) {
      return null;
    }
    if (authorization == null || authorization.isBlank()) {
      return Rejection.MISSING_CREDENTIALS;
    }
    return authenticated(authorization) ? null : Rejection.BAD_CREDENTIALS;
  }

  /** Nothing to check: no network list and no credentials (the embedded default). */
  public boolean isOpen() {
    return allow.isEmpty() && adminAllow.isEmpty() && clients.isEmpty();
  }

  /** {@code client} null: an unparsable forwarded address, which no network contains. */
  private static boolean permits(List<Cidr> networks, byte[] client) {
    if (networks.isEmpty()) {
      return true;
    }
    if (client == null) {
      return false;
    }
    for (Cidr c : networks) {
      if (c.contains(client)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Compares the presented secret's digest with every configured one of its kind, never stopping
   * at the first match, so the time taken says nothing about which entry (or how much of one)
   * matched.
   */
  private boolean authenticated(String authorization) {
    String h = authorization.strip();
    int space = h.indexOf(' ');
    if (space < 0) {
      return false;
    }
    String scheme = h.substring(0, space).toLowerCase(Locale.ROOT);
    String value = h.substring(space + 1).strip();
    boolean basic;
    byte[] presented;
    if (scheme.equals("basic")) {
      try {
        presented = ClientCredential.sha256(Base64.getDecoder().decode(value));
      } catch (IllegalArgumentException e) {
        return false;
      }
      basic = true;
    } else if (scheme.equals("bearer")) {
      presented = ClientCredential.sha256(value.getBytes(StandardCharsets.UTF_8));
      basic = false;
    } else {
      return false;
    }
    boolean match = false;
    for (ClientEntry e : clients) {
      byte[] expected = switch (e.current()) {
        case ClientCredential.Basic b -> basic ? b.digest() : null;
        case ClientCredential.Bearer t -> basic ? null : t.digest();
      };
      if (expected != null) {
        match |= MessageDigest.isEqual(expected, presented);
      }
    }
    return match;
  }
}
