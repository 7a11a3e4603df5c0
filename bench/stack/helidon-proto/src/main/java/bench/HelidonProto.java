package bench;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * ncro's two hot paths on Helidon SE 4: a warm narinfo from memory, and a NAR streamed from an
 * upstream with the WebClient (one virtual thread per request, blocking copy: the socket's own
 * flow control is the backpressure).
 *
 * <p>Usage: {@code java -jar helidon-proto.jar PORT NARINFO_FILE UPSTREAM_BASE_URL}. The narinfo
 * is served for the hash that names the file ({@code <hash>.narinfo}).
 */
public final class HelidonProto {
  private static final Pattern NARINFO = Pattern.compile("/([0-9a-df-np-sv-z]{32})\\.narinfo");
  private static final Pattern NAR = Pattern.compile("/nar/[A-Za-z0-9._+-]{1,200}");

  private final Map<String, byte[]> narinfos;
  private final WebClient upstream;

  private HelidonProto(Map<String, byte[]> narinfos, WebClient upstream) {
    this.narinfos = narinfos;
    this.upstream = upstream;
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    Path file = Path.of(args[1]);
    String hash = file.getFileName().toString().replace(".narinfo", "");
    HelidonProto proto = new HelidonProto(Map.of(hash, Files.readAllBytes(file)),
        WebClient.builder().baseUri(args[2]).build());
    WebServer server = WebServer.builder()
        .host("127.0.0.1")
        .port(port)
        .routing(r -> r.get(proto::handle))
        .build()
        .start();
    System.out.println("helidon-proto listening on " + server.port());
  }

  private void handle(ServerRequest req, ServerResponse res) throws Exception {
    String path = req.path().rawPath();
    var m = NARINFO.matcher(path);
    if (m.matches()) {
      byte[] body = narinfos.get(m.group(1));
      if (body == null) {
        res.status(Status.NOT_FOUND_404).send();
        return;
      }
      res.header(HeaderNames.CONTENT_TYPE, "text/x-nix-narinfo");
      res.send(body);
    } else if (NAR.matcher(path).matches()) {
      nar(path, res);
    } else {
      res.status(Status.NOT_FOUND_404).send();
    }
  }

  private void nar(String path, ServerResponse res) throws Exception {
    try (HttpClientResponse up = upstream.get(path).request()) {
      if (up.status().code() != 200) {
        res.status(up.status().code() == 404 ? Status.NOT_FOUND_404 : Status.BAD_GATEWAY_502).send();
        return;
      }
      res.header(HeaderNames.CONTENT_TYPE,
          up.headers().first(HeaderNames.CONTENT_TYPE).orElse("application/octet-stream"));
      up.headers().contentLength().ifPresent(res::contentLength);
      byte[] buf = new byte[64 * 1024];
      try (InputStream in = up.inputStream(); OutputStream out = res.outputStream()) {
        int n;
        while ((n = in.read(buf)) > 0) {
          out.write(buf, 0, n);
        }
      }
    }
  }
}
