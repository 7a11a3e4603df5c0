package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The key file as bytes: created once, never overwritten, and concurrent creators agree. */
class NodeKeyFileTest {
  @TempDir
  Path dir;

  @Test
  void anExistingFileIsReadAndNoKeyIsMade() throws Exception {
    Path keyFile = dir.resolve("node.key");
    byte[] content = new byte[64];
    Arrays.fill(content, (byte) 7);
    Files.write(keyFile, content);
    AtomicInteger made = new AtomicInteger();
    byte[] read = NodeKeyFile.readOrCreate(keyFile, () -> {
      made.incrementAndGet();
      return new byte[64];
    });
    assertThat(read).isEqualTo(content);
    assertThat(made).hasValue(0);
  }

  @Test
  void aMissingFileGetsTheNewContent() throws Exception {
    Path keyFile = dir.resolve("a/b/node.key");
    byte[] content = new byte[64];
    Arrays.fill(content, (byte) 9);
    assertThat(NodeKeyFile.readOrCreate(keyFile, content::clone)).isEqualTo(content);
    assertThat(Files.readAllBytes(keyFile)).isEqualTo(content);
  }

  @Test
  void newContentOfTheWrongSizeIsACallerBugAndWritesNothing() {
    Path keyFile = dir.resolve("node.key");
    assertThatThrownBy(() -> NodeKeyFile.readOrCreate(keyFile, () -> new byte[63]))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(keyFile).doesNotExist();
  }

  @Test
  void concurrentCreatorsAllGetTheOneFileThatWasWritten() throws Exception {
    Path keyFile = dir.resolve("node.key");
    int threads = 8;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    try {
      List<Future<byte[]>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        byte fill = (byte) (t + 1);
        results.add(pool.submit(() -> {
          start.await();
          byte[] content = new byte[64];
          Arrays.fill(content, fill);
          return NodeKeyFile.readOrCreate(keyFile, () -> content);
        }));
      }
      start.countDown();
      byte[] onDisk = null;
      for (Future<byte[]> result : results) {
        byte[] got = result.get();
        onDisk = onDisk == null ? Files.readAllBytes(keyFile) : onDisk;
        assertThat(got).isEqualTo(onDisk);
      }
      try (var names = Files.list(dir)) { // no temporary copy of the secret left behind
        assertThat(names.map(p -> p.getFileName().toString())).containsExactly("node.key");
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
