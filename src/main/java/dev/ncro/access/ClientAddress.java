package dev.ncro.access;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * The address access rules apply to. The socket's peer, unless the peer is in
 * {@code server.trusted_proxies}: then {@code X-Forwarded-For} is read from the right (each proxy
 * appends the address it saw), skipping trusted proxies, and the first address that is not one is
 * the client. Entries to its left were written by that client and prove nothing, so a forged
 * header from an untrusted peer, or the forged start of one passed on by a trusted proxy, changes
 * nothing.
 */
final class ClientAddress {
  private ClientAddress() {}

  /** The client's address bytes (4 or 16), or null when the deciding entry is not an IP address. */
  static byte[] resolve(InetAddress peer, List<String> forwardedFor, List<Cidr> trustedProxies) {
    byte[] p = Cidr.unmapped(peer.getAddress());
    if (!trusted(p, trustedProxies) || forwardedFor.isEmpty()) {
      return p;
    }
    List<String> hops = new ArrayList<>();
    for (String header : forwardedFor) {
      for (String hop : header.split(",", -1)) {
        hops.add(hop.strip());
      }
    }
    byte[] last = p;
    for (int i = hops.size() - 1; i >= 0; i--) {
      byte[] hop = hopAddress(hops.get(i));
      if (hop == null) {
        return null;
      }
      if (!trusted(hop, trustedProxies)) {
        return hop;
      }
      last = hop;
    }
    return last; // every hop is a trusted proxy: the left-most is as far as anyone can tell
  }

  /** {@code 1.2.3.4}, {@code 1.2.3.4:5678}, {@code 2001:db8::1} or {@code [2001:db8::1]:5678}. */
  private static byte[] hopAddress(String hop) {
    if (hop.startsWith("[")) {
      int close = hop.indexOf(']');
      return close < 0 ? null : Cidr.literal(hop.substring(1, close));
    }
    int colon = hop.indexOf(':');
    if (colon >= 0 && colon == hop.lastIndexOf(':')) {
      return Cidr.literal(hop.substring(0, colon)); // IPv4 with a port
    }
    return Cidr.literal(hop);
  }

  private static boolean trusted(byte[] address, List<Cidr> trustedProxies) {
    for (Cidr c : trustedProxies) {
      if (c.contains(address)) {
        return true;
      }
    }
    return false;
  }
}
