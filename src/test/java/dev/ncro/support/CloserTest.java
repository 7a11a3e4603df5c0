package dev.ncro.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class CloserTest {
  /** What {@link #closesAfterTheClassesOwnAfterEach} saw, in order; checked after all tests. */
  private static final List<String> lifecycle = new ArrayList<>();

  @RegisterExtension
  final Closer open = new Closer();

  @Test
  void closesInReverseOrder() throws Exception {
    List<String> closed = new ArrayList<>();
    Closer c = new Closer();
    c.keep(() -> closed.add("first"));
    c.keep(() -> closed.add("second"));
    c.keep(() -> closed.add("third"));
    c.close();
    assertThat(closed).containsExactly("third", "second", "first");
  }

  @Test
  void keepReturnsWhatItKeeps() {
    LogCapture logs = new LogCapture();
    assertThat(new Closer().keep(logs)).isSameAs(logs);
    logs.close();
  }

  @Test
  void closesEverythingAndThrowsTheFirstFailureWithTheRestSuppressed() {
    List<String> closed = new ArrayList<>();
    Closer c = new Closer();
    c.keep(() -> closed.add("first"));
    c.keep(() -> {
      throw new IOException("second");
    });
    c.keep(() -> closed.add("third"));
    c.keep(() -> {
      throw new IOException("fourth");
    });
    assertThatThrownBy(c::close)
        .hasMessage("fourth")
        .satisfies(e -> assertThat(e.getSuppressed())
            .singleElement()
            .satisfies(s -> assertThat(s).hasMessage("second")));
    assertThat(closed).containsExactly("third", "first");
  }

  @Test
  void removedIsNotClosed() throws Exception {
    List<String> closed = new ArrayList<>();
    Closer c = new Closer();
    AutoCloseable gone = () -> closed.add("removed");
    c.keep(gone);
    c.keep(() -> closed.add("kept"));
    c.remove(gone);
    c.close();
    assertThat(closed).containsExactly("kept");
  }

  @Test
  void closesAfterTheClassesOwnAfterEach() {
    open.keep(() -> lifecycle.add("closed"));
    lifecycle.add("test");
  }

  @AfterEach
  void afterEach() {
    lifecycle.add("@AfterEach");
  }

  @AfterAll
  static void theExtensionClosedAfterTheAfterEachMethod() {
    assertThat(String.join(", ", lifecycle)).contains("test, @AfterEach, closed");
  }
}
