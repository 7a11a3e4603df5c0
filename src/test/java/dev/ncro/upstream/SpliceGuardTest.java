package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Bytes read past a splice never reach the handler after the guard: they fail the exchange. */
class SpliceGuardTest {
  @Test
  void aByteReadPastTheSpliceIsAProtocolFailureAndIsReleased() {
    List<Object> reads = new ArrayList<>();
    List<Throwable> failures = new ArrayList<>();
    EmbeddedChannel ch = new EmbeddedChannel(new SpliceGuard(), new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        reads.add(msg);
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        failures.add(cause);
      }
    });
    ByteBuf body = Unpooled.copiedBuffer(new byte[] {1, 2, 3});

    ch.writeInbound(body);

    assertThat(reads).as("nothing passes the guard").isEmpty();
    assertThat(body.refCnt()).as("the bytes are released").isZero();
    assertThat(failures).singleElement().isInstanceOfSatisfying(UpstreamException.class, e -> {
      assertThat(e.kind()).isEqualTo(FailureKind.PROTOCOL);
      assertThat(e.getMessage()).contains("read past the splice");
    });
    ch.finishAndReleaseAll();
  }
}
