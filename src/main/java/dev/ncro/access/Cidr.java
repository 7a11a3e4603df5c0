package dev.ncro.access;

import io.netty.util.NetUtil;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Arrays;

/**
 * An IPv4 or IPv6 network ({@code 10.20.0.0/16}, {@code ::1/128}) from {@code server.allow},
 * {@code server.admin_allow} or {@code server.trusted_proxies}. Only literals are accepted, never
 * host names: a name would be resolved through DNS, which whoever controls DNS could then use to
 * widen the list. A bare address is a network of one.
 */
public final class Cidr {
  private final byte[] network;
  private final int prefix;
  private final String text;

  private Cidr(byte[] network, int prefix, String text) {
    this.network = network;
    this.prefix = prefix;
    this.text = text;
  }

  /** Parses {@code addr/prefix} or {@code addr}; throws {@link IllegalArgumentException} with a readable reason. */
  public static Cidr parse(String text) {
    String s = text.strip();
    int slash = s.indexOf('/');
    String addr = slash < 0 ? s : s.substring(0, slash);
    byte[] bytes = literal(addr);
    if (bytes == null) {
      throw new IllegalArgumentException(
          "\"" + text + "\" is not an IP network such as \"10.0.0.0/8\" or \"::1/128\"");
    }
    int bits = bytes.length * 8;
    int prefix = bits;
    if (slash >= 0) {
      String p = s.substring(slash + 1);
      if (!p.matches("[0-9]{1,3}")) {
        throw new IllegalArgumentException(
            "\"" + text + "\" has a bad prefix length \"" + p + "\"");
      }
      prefix = Integer.parseInt(p);
      if (prefix > bits) {
        throw new IllegalArgumentException(
            "\"" + text + "\": prefix length " + prefix + " is longer than " + bits);
      }
    }
    byte[] masked = mask(bytes, prefix);
    if (!Arrays.equals(masked, bytes)) {
      // Go's ParseCIDR would silently mask; a typo here would silently widen or move the network.
      throw new IllegalArgumentException("\"" + text + "\" has host bits set; did you mean \""
          + NetUtil.bytesToIpAddress(masked) + "/" + prefix + "\"?");
    }
    return new Cidr(masked, prefix, NetUtil.bytesToIpAddress(masked) + "/" + prefix);
  }

  /** The address bytes of an IP literal (4 or 16), IPv4-mapped IPv6 as IPv4; null when not a literal. */
  static byte[] literal(String addr) {
    String a =
        addr.startsWith("[") && addr.endsWith("]") ? addr.substring(1, addr.length() - 1) : addr;
    if (a.indexOf('%') >= 0) {
      return null; // a zone id names an interface, not a network
    }
    byte[] b = NetUtil.createByteArrayFromIpAddressString(a);
    return b == null ? null : unmapped(b);
  }

  /** {@code ::ffff:a.b.c.d} (how a dual-stack socket may show an IPv4 client) as {@code a.b.c.d}. */
  static byte[] unmapped(byte[] b) {
    if (b.length == 16) {
      for (int i = 0; i < 10; i++) {
        if (b[i] != 0) {
          return b;
        }
      }
      if (b[10] == (byte) 0xff && b[11] == (byte) 0xff) {
        return Arrays.copyOfRange(b, 12, 16);
      }
    }
    return b;
  }

  public boolean contains(InetAddress address) {
    byte[] b =
        address instanceof Inet6Address ? unmapped(address.getAddress()) : address.getAddress();
    return contains(b);
  }

  boolean contains(byte[] address) {
    return address.length == network.length && Arrays.equals(mask(address, prefix), network);
  }

  private static byte[] mask(byte[] b, int prefix) {
    byte[] out = b.clone();
    for (int i = 0; i < out.length; i++) {
      int keep = Math.max(0, Math.min(8, prefix - 8 * i));
      out[i] = (byte) (out[i] & (0xff << (8 - keep)));
    }
    return out;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(network) * 31 + prefix;
  }

  @Override
  public String toString() {
    return text;
  }
}
