package dev.ncro.support;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class NettyLeakGuardTest {
  @Test
  void aBufferDroppedWithoutItsReleaseIsReported() throws Exception {
    assertThat(ResourceLeakDetector.getLevel())
        .as("the pom runs tests with paranoid leak detection")
        .isEqualTo(ResourceLeakDetector.Level.PARANOID);
    int from = NettyLeakGuard.reportCount();
    // This leak is on purpose: kept out of the console, which bin/test scans for "LEAK:" too
    Logger detector = (Logger) LoggerFactory.getLogger(ResourceLeakDetector.class);
    detector.setAdditive(false);
    List<String> reports;
    try {
      leakOne();
      NettyLeakGuard.flush();
      reports = NettyLeakGuard.takeReportsSince(from); // so this class's own guard finds none
    } finally {
      detector.setAdditive(true);
    }
    assertThat(reports)
        .singleElement()
        .asString()
        .startsWith("LEAK: ")
        .contains("release() was not called");
  }

  @Test
  void aReleasedBufferIsNotReported() throws Exception {
    int from = NettyLeakGuard.reportCount();
    ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(8);
    b.writeLong(7);
    b.release();
    NettyLeakGuard.flush();
    assertThat(NettyLeakGuard.takeReportsSince(from)).isEmpty();
  }

  /** A direct buffer: Netty tracks those (an unpooled heap buffer is left to the collector). */
  private static void leakOne() {
    ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(8);
    b.writeLong(42); // an access record, and then no release
  }
}
