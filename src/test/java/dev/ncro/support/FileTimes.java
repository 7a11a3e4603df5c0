package dev.ncro.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;

/** File times for tests of code that notices changed files. */
public final class FileTimes {
  private FileTimes() {}

  /**
   * Moves {@code p}'s modification time 2 s on, as a rewrite a moment later would: a test that
   * rewrites a file within the file system's time granularity must not depend on the clock.
   */
  public static void bump(Path p) throws IOException {
    Files.setLastModifiedTime(
        p, FileTime.fromMillis(Files.getLastModifiedTime(p).toMillis() + 2_000));
  }
}
