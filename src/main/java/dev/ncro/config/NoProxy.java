package dev.ncro.config;

import dev.ncro.access.Cidr;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The hosts that are reached directly even though a proxy is set: {@code no_proxy}, read as curl
 * (7.86 and later) reads it, so a list that works for Nix works for ncro.
 *
 * <ul>
 *   <li>Entries are separated by commas or spaces; {@code *} alone means every host.
 *   <li>A name matches itself and every name below it: {@code example.org} and {@code
 *       .example.org} (and {@code *.example.org}, as other tools write it) match {@code
 *       example.org} and {@code cache.example.org}, never {@code badexample.org}. Case does not
 *       matter.
 *   <li>An IP address or network ({@code 10.0.0.0/8}, {@code ::1}) matches an upstream given by IP
 *       address inside it. Names are never resolved to decide.
 * </ul>
 */
public final class NoProxy {
  public static final NoProxy NONE = new NoProxy(List.of(), List.of(), false, "");

  private final List<String> names;
  private final List<Cidr> networks;
  private final boolean everything;
  private final String text;

  private NoProxy(List<String> names, List<Cidr> networks, boolean everything, String text) {
    this.names = names;
    this.networks = networks;
    this.everything = everything;
    this.text = text;
  }

  static NoProxy parse(String value) {
    List<String> names = new ArrayList<>();
    List<Cidr> networks = new ArrayList<>();
    boolean everything = false;
    for (String raw : value.split("[,\\s]+")) {
      String e = raw.strip();
      if (e.isEmpty()) {
        continue;
      }
      if (e.equals("*")) {
        everything = true;
        continue;
      }
      Cidr network = network(e);
      if (network != null) {
        networks.add(network);
        continue;
      }
      String name = e.toLowerCase(Locale.ROOT);
      if (name.startsWith("*.")) {
        name = name.substring(
            1); // "*.corp.example", as Go and others accept: the same as ".corp.example"
      }
      while (name.startsWith(".")) {
        name = name.substring(1);
      }
      while (name.endsWith(".")) {
        name = name.substring(0, name.length() - 1);
      }
      if (!name.isEmpty()) {
        names.add(name);
      }
    }
    return new NoProxy(List.copyOf(names), List.copyOf(networks), everything, value.strip());
  }

  /** An IP address or network, host bits masked as curl does; null for anything else (a name). */
  private static Cidr network(String entry) {
    int slash = entry.indexOf('/');
    String addr = slash < 0 ? entry : entry.substring(0, slash);
    if (addr.startsWith("[") && addr.endsWith("]")) {
      addr = addr.substring(1, addr.length() - 1);
    }
    byte[] bytes = NetUtil.createByteArrayFromIpAddressString(addr);
    if (bytes == null) {
      return null;
    }
    int prefix = bytes.length * 8;
    if (slash >= 0) {
      String p = entry.substring(slash + 1);
      if (!p.matches("[0-9]{1,3}") || Integer.parseInt(p) > prefix) {
        return null;
      }
      prefix = Integer.parseInt(p);
    }
    for (int i = 0; i < bytes.length; i++) {
      int keep = Math.max(0, Math.min(8, prefix - 8 * i));
      bytes[i] = (byte) (bytes[i] & (0xff << (8 - keep)));
    }
    return Cidr.parse(NetUtil.bytesToIpAddress(bytes) + "/" + prefix);
  }

  /** Whether a connection to {@code host} (a name, or an IP literal, brackets allowed) goes direct. */
  public boolean matches(String host) {
    if (everything) {
      return true;
    }
    String h = host.toLowerCase(Locale.ROOT);
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    InetAddress ip = NetUtil.createInetAddressFromIpAddressString(h);
    if (ip != null) {
      for (Cidr n : networks) {
        if (n.contains(ip)) {
          return true;
        }
      }
      return false;
    }
    while (h.endsWith(".")) {
      h = h.substring(0, h.length() - 1);
    }
    for (String n : names) {
      if (h.equals(n) || (h.endsWith(n) && h.charAt(h.length() - n.length() - 1) == '.')) {
        return true;
      }
    }
    return false;
  }

  public boolean isEmpty() {
    return !everything && names.isEmpty() && networks.isEmpty();
  }

  @Override
  public String toString() {
    return text;
  }
}
