package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import org.junit.jupiter.api.Test;

class HopsTest {
  @Test
  void aPlainClientIsHopZeroAndItsUpstreamRequestsHopOne() {
    assertThat(Hops.incoming(new DefaultHttpHeaders())).isZero();
    assertThat(Hops.forward(0).get(Hops.HEADER)).isEqualTo("1");
    assertThat(Hops.forward(4).get(Hops.HEADER)).isEqualTo("5");
  }

  @Test
  void readsOneDecimalNumberOfAtMostThreeDigits() {
    assertThat(Hops.incoming(with("0"))).isZero();
    assertThat(Hops.incoming(with("2"))).isEqualTo(2);
    assertThat(Hops.incoming(with("999"))).isEqualTo(999);
    for (String bad : new String[] {"", "x", "-1", "+1", "1.0", "1000", "0x1", "1 2"}) {
      assertThat(Hops.incoming(with(bad))).as("X-Ncro-Hop: %s", bad).isEqualTo(-1);
    }
    HttpHeaders twice = new DefaultHttpHeaders().add(Hops.HEADER, "1").add(Hops.HEADER, "1");
    assertThat(Hops.incoming(twice)).isEqualTo(-1);
  }

  private static HttpHeaders with(String value) {
    return new DefaultHttpHeaders().set(Hops.HEADER, value);
  }
}
