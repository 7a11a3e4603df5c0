package dev.ncro.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpResponse;

/**
 * Receives one upstream response as it arrives. All calls come from the upstream connection's
 * event loop, in order: {@code onSent}, {@code onHeaders}, zero or more {@code onContent}, then exactly one of
 * {@code onComplete} or {@code onError}. Ownership: {@code onContent} hands over one reference to
 * the buffer; the listener must release it or pass it on (e.g. write it to a client channel).
 */
public interface ResponseListener {
  /**
   * The request is on its way on {@code exchange}, before any answer: a caller that may give up
   * before the headers arrive (a NAR hedge that lost, a client that went away) can
   * {@link Exchange#abort} it from here on, instead of holding the connection until the first-byte
   * timeout. Called again for each redirect hop. Optional.
   */
  default void onSent(Exchange exchange) {}

  void onHeaders(HttpResponse response, Exchange exchange);

  void onContent(ByteBuf content);

  /**
   * The connection has handed over everything one socket-readiness event delivered (several
   * {@link #onContent} calls, typically): the moment to flush what was written on. Optional.
   */
  default void onReadBatchEnd() {}

  /**
   * After {@link Exchange#spliceTo}: {@code n} more body bytes went to the client by splice, never
   * through {@link #onContent}. Only a listener that splices needs it.
   */
  default void onSpliced(long n) {}

  void onComplete();

  /**
   * The exchange failed. {@code headersSeen} tells whether {@link #onHeaders} was called, i.e.
   * whether the caller may already have forwarded part of the response.
   */
  void onError(UpstreamException error, boolean headersSeen);
}
