import java.net.URI;
import java.net.http.*;
public class Empty { public static void main(String[] a) throws Exception {
    var resp = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(a[0])).build(), HttpResponse.BodyHandlers.ofString());
    System.gc();
    String rss = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS")).findFirst().get();
    System.out.printf("baseline status %d %s%n", resp.statusCode(), rss.replaceAll("\\s+", " "));
}}
