package dev.ncro.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * A forwarded request's listener ({@link ProxyRoute.Mode#FORWARD}): the proxy's own {@code 407
 * Proxy Authentication Required} is not the upstream's answer, so it becomes a {@link
 * FailureKind#CONNECT} failure, as the same refusal to a {@code CONNECT} tunnel is. Every other
 * answer passes through untouched.
 */
final class ProxyRefusal implements ResponseListener {
  private final ResponseListener next;
  private final String proxy;

  ProxyRefusal(ResponseListener next, String proxy) {
    this.next = next;
    this.proxy = proxy;
  }

  @Override
  public void onSent(Exchange exchange) {
    next.onSent(exchange);
  }

  @Override
  public void onHeaders(HttpResponse response, Exchange exchange) {
    if (response.status().code() == HttpResponseStatus.PROXY_AUTHENTICATION_REQUIRED.code()) {
      exchange.abort();
      next.onError(
          new UpstreamException(
              FailureKind.CONNECT,
              "proxy " + proxy + " refused: " + response.status()
                  + " (check the credentials in http_proxy)"),
          false);
      return;
    }
    next.onHeaders(response, exchange);
  }

  @Override
  public void onContent(ByteBuf content) {
    next.onContent(content);
  }

  @Override
  public void onReadBatchEnd() {
    next.onReadBatchEnd();
  }

  @Override
  public void onSpliced(long n) {
    next.onSpliced(n);
  }

  @Override
  public void onComplete() {
    next.onComplete();
  }

  @Override
  public void onError(UpstreamException error, boolean headersSeen) {
    next.onError(error, headersSeen);
  }
}
