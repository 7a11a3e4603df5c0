package dev.ncro.narinfo;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import org.brotli.dec.BrotliInputStream;
import org.tukaani.xz.XZInputStream;

/**
 * Undoes the {@code Content-Encoding} an upstream stored a narinfo or realisation with. Nix's S3
 * store writes them compressed when asked ({@code narinfo-compression=xz|br|...}) and sets the
 * object's Content-Encoding to the method; the Nix client decodes by that header, so such a cache
 * works for Nix, and ncro must read the same bytes to check the store path and signatures (and
 * keeps the decoded narinfo, which it serves without an encoding).
 *
 * <p>gzip (the JDK), xz (org.tukaani:xz) and br (org.brotli:dec) are decoded; Nix's other methods
 * (zstd, bzip2) are refused with a message that names them, like any undecodable answer. The
 * decoded size is bounded: a small compressed answer must not expand without limit.
 */
public final class ContentDecoding {
  private ContentDecoding() {}

  /** {@code body} decoded by {@code contentEncoding} (null, empty or identity: as it is), at most {@code maxBytes}. */
  public static byte[] decode(String contentEncoding, byte[] body, int maxBytes)
      throws NarInfoException {
    String method = contentEncoding == null ? "" : contentEncoding.strip().toLowerCase(Locale.ROOT);
    if (method.isEmpty() || method.equals("identity") || method.equals("none")) {
      return body;
    }
    try (InputStream in = open(method, new ByteArrayInputStream(body))) {
      byte[] out = in.readNBytes(maxBytes + 1);
      if (out.length > maxBytes) {
        throw new NarInfoException(
            "Content-Encoding " + method + ": decodes to more than " + maxBytes + " bytes");
      }
      return out;
    } catch (IOException | RuntimeException e) { // a corrupt stream: the decoders' own errors
      throw new NarInfoException("Content-Encoding " + method + ": not decodable (" + e + ")");
    }
  }

  private static InputStream open(String method, InputStream raw)
      throws IOException, NarInfoException {
    return switch (method) {
      case "gzip", "x-gzip" -> new GZIPInputStream(raw);
      case "xz" -> new XZInputStream(raw);
      case "br" -> new BrotliInputStream(raw);
      default ->
        throw new NarInfoException("stored with Content-Encoding " + method
            + ", which ncro cannot decode (gzip, xz and br it can)");
    };
  }
}
