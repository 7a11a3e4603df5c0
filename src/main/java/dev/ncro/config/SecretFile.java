package dev.ncro.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.ByteBuffer;

/**
 * A password or token kept in a file of its own (systemd's {@code LoadCredential}, a Kubernetes
 * secret, {@code echo secret > file}): the whole file minus trailing line ends. Errors name the
 * file and the reason, never its content.
 */
final class SecretFile {
  /** A secret is a line; a bigger file is a mistake (a key file, a log) and is not read whole. */
  static final int MAX_BYTES = 4096;

  private SecretFile() {}

  /** The secret; throws {@link IllegalArgumentException} with a message fit for a config problem. */
  static String read(String file) {
    Path path;
    try {
      path = Path.of(file);
    } catch (java.nio.file.InvalidPathException e) {
      throw new IllegalArgumentException("not a valid path: " + e.getReason());
    }
    if (Files.exists(path) && !Files.isRegularFile(path)) {
      // A directory, a FIFO or a device (/dev/stdin would block start-up forever).
      throw new IllegalArgumentException(file + ": not a regular file");
    }
    byte[] bytes;
    try (InputStream in = Files.newInputStream(path)) {
      bytes = in.readNBytes(MAX_BYTES + 1);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(file + ": no such file");
    } catch (AccessDeniedException e) {
      throw new IllegalArgumentException(file + ": not readable by this process (permission denied)");
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": cannot read: " + e.getClass().getSimpleName());
    }
    if (bytes.length > MAX_BYTES) {
      throw new IllegalArgumentException(file + ": larger than " + MAX_BYTES + " bytes, not a secret file");
    }
    String s;
    try {
      s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(file + ": not UTF-8 text");
    }
    int end = s.length();
    while (end > 0 && (s.charAt(end - 1) == '\n' || s.charAt(end - 1) == '\r')) {
      end--;
    }
    if (end == 0) {
      throw new IllegalArgumentException(file + ": empty");
    }
    return s.substring(0, end);
  }
}
