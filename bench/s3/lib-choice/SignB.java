import software.amazon.awssdk.auth.credentials.*;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;
import java.net.URI;
import java.net.http.*;
import java.time.Duration;
public class SignB {
  public static void main(String[] a) throws Exception {
    long t0 = System.nanoTime();
    S3Presigner pr = S3Presigner.builder().region(Region.US_EAST_1).endpointOverride(URI.create(a[0]))
       .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(true).build())
       .credentialsProvider(DefaultCredentialsProvider.builder().build()).build();
    int n = Integer.parseInt(a[1]);
    URI u = null; long t1 = 0;
    for (int i = 0; i < n; i++) {
      u = pr.presignGetObject(r -> r.signatureDuration(Duration.ofMinutes(5)).getObjectRequest(g -> g.bucket("bucket1").key("nix-cache-info"))).url().toURI();
      if (i == 0) t1 = System.nanoTime();
    }
    long t2 = System.nanoTime();
    var resp = HttpClient.newHttpClient().send(HttpRequest.newBuilder(u).build(), HttpResponse.BodyHandlers.ofString());
    System.gc();
    String rss = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS")).findFirst().get();
    System.out.printf("B first-sign %.1f ms, per-sign %.1f us, status %d, %s%n", (t1 - t0) / 1e6, (t2 - t1) / 1e3 / Math.max(1, n - 1), resp.statusCode(), rss);
  }
}
