package dev.ncro.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;

/**
 * One version of a file as one {@code stat} sees it: modification time, size and inode (file key),
 * so a rewrite, a file renamed over it and a symlink swap all count as a change. A file that
 * cannot be seen has null fields. For the files ncro follows while it runs ({@link FollowedFile},
 * the TLS trust).
 */
public record FileStamp(FileTime modified, long size, Object key) {
  public static FileStamp of(Path path) {
    try {
      BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
      return new FileStamp(a.lastModifiedTime(), a.size(), a.fileKey());
    } catch (IOException e) {
      return new FileStamp(null, -1, null);
    }
  }
}
