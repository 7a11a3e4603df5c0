import software.amazon.awssdk.auth.credentials.*;
import software.amazon.awssdk.http.*;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;
import java.net.URI;
import java.net.http.*;
public class SignA {
  public static void main(String[] a) throws Exception {
    long t0 = System.nanoTime();
    AwsCredentialsProvider p = DefaultCredentialsProvider.builder().build();
    AwsV4HttpSigner signer = AwsV4HttpSigner.create();
    SignedRequest s = null;
    int n = Integer.parseInt(a[1]);
    long t1 = 0;
    for (int i = 0; i < n; i++) {
      AwsCredentials c = p.resolveCredentials();
      SdkHttpRequest req = SdkHttpRequest.builder().method(SdkHttpMethod.GET).uri(URI.create(a[0])).build();
      s = signer.sign(r -> r.identity(c).request(req)
        .putProperty(AwsV4HttpSigner.REGION_NAME, "us-east-1").putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, "s3")
        .putProperty(AwsV4HttpSigner.DOUBLE_URL_ENCODE, false).putProperty(AwsV4HttpSigner.NORMALIZE_PATH, false)
        .putProperty(AwsV4HttpSigner.PAYLOAD_SIGNING_ENABLED, false));
      if (i == 0) t1 = System.nanoTime();
    }
    long t2 = System.nanoTime();
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(a[0]));
    s.request().headers().forEach((k, v) -> { if (!k.equalsIgnoreCase("host")) v.forEach(x -> b.header(k, x)); });
    var resp = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    System.gc();
    String rss = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS")).findFirst().get();
    System.out.printf("A first-sign %.1f ms, per-sign %.1f us, status %d, %s, headers %s%n", (t1 - t0) / 1e6, (t2 - t1) / 1e3 / Math.max(1, n - 1), resp.statusCode(), rss, s.request().headers().keySet());
  }
}
