package dev.ncro.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * An S3 binary cache named the way Nix names it: {@code s3://BUCKET[/prefix]?region=&endpoint=
 * &scheme=&profile=&addressing_style=}. Users copy these URLs from their {@code nix.conf}, so every
 * parameter keeps Nix's meaning: region {@code us-east-1} and scheme {@code https} by default, an
 * empty endpoint is AWS itself, and a custom endpoint (MinIO, Garage, R2, Ceph) means path-style
 * addressing unless {@code addressing_style} says otherwise.
 *
 * <p>{@link #canonical()} is the upstream's name everywhere (routes, gossip, metric labels): it
 * leaves out {@code profile}, which picks credentials, not content, so two nodes reading the same
 * bucket with different profiles still agree on its name.
 *
 * @param prefix key prefix without leading or trailing slash, "" for the bucket root
 * @param endpoint host[:port] of an S3-compatible store, "" for AWS
 * @param pathStyle bucket in the path ({@code endpoint/bucket/key}) rather than in the host name
 * @param addressingStyle "path", "virtual" or "" (not given: the default rule decides)
 */
public record S3Location(
    String bucket,
    String prefix,
    String region,
    String endpoint,
    String scheme,
    String profile,
    String addressingStyle,
    boolean pathStyle) {

  private static final List<String> PARAMETERS =
      List.of("region", "endpoint", "scheme", "profile", "addressing_style");
  private static final Pattern BUCKET = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{2,254}");
  /** Buckets that may appear in a host name (virtual-hosted style): S3's DNS-compatible rule. */
  private static final Pattern DNS_BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");

  private static final Pattern REGION = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
  private static final Pattern HOST =
      Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+]");
  private static final Pattern PROFILE = Pattern.compile("[A-Za-z0-9._@+=,-]{1,128}");
  /** RFC 3986 unreserved only: what SigV4's canonical URI keeps as is, so the signed path is the sent path. */
  private static final Pattern KEY_SEGMENT = Pattern.compile("[A-Za-z0-9._~-]+");

  /** A malformed S3 URL; {@link #parameter()} names the part at fault ("bucket", "region", ...). */
  public static final class Malformed extends IllegalArgumentException {
    private final String parameter;

    Malformed(String parameter, String message) {
      super(message);
      this.parameter = parameter;
    }

    public String parameter() {
      return parameter;
    }
  }

  public static boolean isS3(String url) {
    return url != null && url.regionMatches(true, 0, "s3://", 0, 5);
  }

  /** Parses {@code text}; a {@link Malformed} names the parameter that is wrong. */
  public static S3Location parse(String text) {
    if (!isS3(text)) {
      throw new Malformed("scheme", "\"" + text + "\" is not an s3:// URL");
    }
    String rest = text.substring(5);
    if (rest.indexOf('#') >= 0) {
      throw new Malformed("url", "an s3:// URL has no fragment (#...)");
    }
    String query = "";
    int q = rest.indexOf('?');
    if (q >= 0) {
      query = rest.substring(q + 1);
      rest = rest.substring(0, q);
    }
    int slash = rest.indexOf('/');
    String bucket = slash < 0 ? rest : rest.substring(0, slash);
    String prefix = slash < 0 ? "" : rest.substring(slash + 1).replaceAll("^/+|/+$", "");
    if (bucket.contains("@") || bucket.contains(":")) {
      throw new Malformed(
          "bucket",
          "the bucket name holds '@' or ':': credentials and ports do not go in an"
              + " s3:// URL (use the AWS credential files or environment, and endpoint=HOST:PORT)");
    }
    if (!BUCKET.matcher(bucket).matches()) {
      throw new Malformed(
          "bucket",
          "\"" + bucket + "\" is not a bucket name (3-255 letters, digits, '.', '-', '_')");
    }
    if (!prefix.isEmpty()) {
      for (String seg : prefix.split("/+")) {
        if (!KEY_SEGMENT.matcher(seg).matches() || seg.equals(".") || seg.equals("..")) {
          throw new Malformed(
              "prefix",
              "key prefix \"" + prefix
                  + "\" may hold only letters, digits and \"-._~\" between slashes");
        }
      }
      prefix = String.join("/", prefix.split("/+"));
    }
    Map<String, String> params = query(query);
    String region = params.getOrDefault("region", "us-east-1");
    if (!REGION.matcher(region).matches()) {
      throw new Malformed(
          "region", "\"" + region + "\" is not a region name (e.g. us-east-1, eu-central-1, auto)");
    }
    String scheme = params.getOrDefault("scheme", "").toLowerCase(Locale.ROOT);
    String endpoint = params.getOrDefault("endpoint", "");
    // The AWS SDK Nix uses also takes an endpoint with its scheme: accept it, unless it contradicts
    // scheme=.
    for (String s : List.of("http", "https")) {
      if (endpoint.regionMatches(true, 0, s + "://", 0, s.length() + 3)) {
        if (!scheme.isEmpty() && !scheme.equals(s)) {
          throw new Malformed("scheme", "scheme=" + scheme + " contradicts endpoint=" + endpoint);
        }
        scheme = s;
        endpoint = endpoint.substring(s.length() + 3).replaceAll("/+$", "");
      }
    }
    if (scheme.isEmpty()) {
      scheme = "https";
    }
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new Malformed("scheme", "\"" + scheme + "\" is not http or https");
    }
    if (!endpoint.isEmpty()) {
      checkEndpoint(endpoint);
    }
    String profile = params.getOrDefault("profile", "");
    if (params.containsKey("profile") && !PROFILE.matcher(profile).matches()) {
      throw new Malformed("profile", "\"" + profile + "\" is not a profile name");
    }
    String style = params.getOrDefault("addressing_style", "").toLowerCase(Locale.ROOT);
    boolean pathStyle;
    switch (style) {
      case "path" -> pathStyle = true;
      case "virtual" -> {
        if (!DNS_BUCKET.matcher(bucket).matches()) {
          throw new Malformed(
              "addressing_style",
              "bucket \"" + bucket + "\" cannot be a host name (virtual style needs"
                  + " lower-case letters, digits, '.' and '-')");
        }
        pathStyle = false;
      }
      // Nix: path style whenever an endpoint is given. On AWS, a bucket that cannot be a host name,
      // or whose dots would break the TLS wildcard certificate, is addressed by path, as the AWS
      // SDKs do.
      case "" ->
        pathStyle = !endpoint.isEmpty()
            || !DNS_BUCKET.matcher(bucket).matches()
            || (bucket.contains(".") && scheme.equals("https"));
      default ->
        throw new Malformed("addressing_style", "\"" + style + "\" is not path or virtual");
    }
    return new S3Location(bucket, prefix, region, endpoint, scheme, profile, style, pathStyle);
  }

  private static void checkEndpoint(String endpoint) {
    String host = endpoint;
    int colon = endpoint.lastIndexOf(':');
    if (colon > 0 && endpoint.indexOf(']') < colon) {
      host = endpoint.substring(0, colon);
      String port = endpoint.substring(colon + 1);
      if (!port.matches("\\d{1,5}")
          || Integer.parseInt(port) < 1
          || Integer.parseInt(port) > 65535) {
        throw new Malformed("endpoint", "\"" + endpoint + "\" has no valid port (1-65535)");
      }
    }
    if (!HOST.matcher(host).matches()) {
      throw new Malformed(
          "endpoint",
          "\"" + endpoint + "\" is not HOST[:PORT] (a path or credentials do not belong here)");
    }
  }

  private static Map<String, String> query(String query) {
    Map<String, String> params = new LinkedHashMap<>();
    if (query.isEmpty()) {
      return params;
    }
    for (String pair : query.split("&", -1)) {
      int eq = pair.indexOf('=');
      String name = eq < 0 ? pair : pair.substring(0, eq);
      if (name.isEmpty()) {
        throw new Malformed(
            "url", "the query has an empty parameter (\"&&\", \"?=\" or a trailing \"&\")");
      }
      String value;
      try {
        value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        throw new Malformed(
            PARAMETERS.contains(name) ? name : "url",
            "a parameter value is not valid percent-encoding");
      }
      if (!PARAMETERS.contains(name)) {
        boolean printable = name.matches("[A-Za-z0-9_.-]{1,64}");
        throw new Malformed(
            printable ? name : "url",
            (printable ? "unknown parameter \"" + name + "\"" : "a parameter name that is no word")
                + " (known: " + String.join(", ", PARAMETERS) + ")");
      }
      if (eq < 0 || value.isEmpty()) {
        throw new Malformed(name, "parameter " + name + " has no value");
      }
      if (params.put(name, value) != null) {
        throw new Malformed(name, "parameter " + name + " is given twice");
      }
    }
    return params;
  }

  /**
   * The upstream's name: {@code s3://bucket[/prefix]} and the parameters that decide where the
   * bytes come from, in a fixed order, defaults left out. No profile, and never a secret.
   */
  public URI canonical() {
    List<String> q = new ArrayList<>();
    if (!region.equals("us-east-1")) {
      q.add("region=" + region);
    }
    if (!endpoint.isEmpty()) {
      q.add("endpoint=" + endpoint);
    }
    if (!scheme.equals("https")) {
      q.add("scheme=" + scheme);
    }
    if (!addressingStyle.isEmpty()) {
      q.add("addressing_style=" + addressingStyle);
    }
    try {
      // The quoting constructor: an IPv6 endpoint's brackets are not legal in a query as they are.
      return new URI(
          "s3",
          bucket,
          prefix.isEmpty() ? "" : "/" + prefix,
          q.isEmpty() ? null : String.join("&", q),
          null);
    } catch (URISyntaxException e) {
      throw new Malformed("url", "cannot form a URL: " + e.getMessage());
    }
  }

  /** How people see it (status page): {@code s3://bucket} plus the endpoint when not AWS. */
  public String display() {
    return "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix)
        + (endpoint.isEmpty() ? "" : " @ " + endpoint);
  }

  /** The host ncro connects to. */
  public String host() {
    String base = endpoint.isEmpty() ? "s3." + region + ".amazonaws.com" : endpoint;
    return pathStyle ? base : bucket + "." + base;
  }

  /**
   * The plain HTTP(S) URL the cache's keys live under: ncro's own client fetches from it, and
   * {@link S3Signer} signs each request.
   */
  public URI httpBase() {
    String path = (pathStyle ? "/" + bucket : "") + (prefix.isEmpty() ? "" : "/" + prefix);
    return URI.create(scheme + "://" + host() + path);
  }
}
