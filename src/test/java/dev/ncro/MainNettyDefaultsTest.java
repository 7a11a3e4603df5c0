package dev.ncro;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Netty settings ncro changes from Netty's defaults, unless the command line set them. */
class MainNettyDefaultsTest {
  private static final String JFR = "io.netty.jfr.enabled";
  private final String before = System.getProperty(JFR);

  @AfterEach
  void restore() {
    if (before == null) {
      System.clearProperty(JFR);
    } else {
      System.setProperty(JFR, before);
    }
  }

  @Test
  void nettysJfrEventsAreOffUnlessAskedFor() {
    System.clearProperty(JFR);
    Main.nettyDefaults();
    assertThat(System.getProperty(JFR)).isEqualTo("false");

    System.setProperty(JFR, "true"); // -Dio.netty.jfr.enabled=true on the command line
    Main.nettyDefaults();
    assertThat(System.getProperty(JFR)).isEqualTo("true");
  }
}
