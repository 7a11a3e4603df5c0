package dev.ncro.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.zip.GZIPOutputStream;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZOutputStream;

/** Bodies as an upstream stores them with a {@code Content-Encoding} (xz as Nix's S3 store writes, gzip). */
public final class Compress {
  private Compress() {}

  public static byte[] xz(byte[] plain) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try (XZOutputStream out = new XZOutputStream(b, new LZMA2Options())) {
      out.write(plain);
    }
    return b.toByteArray();
  }

  public static byte[] gzip(byte[] plain) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try (GZIPOutputStream out = new GZIPOutputStream(b)) {
      out.write(plain);
    }
    return b.toByteArray();
  }
}
