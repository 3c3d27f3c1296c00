package resnetc.bench;

import java.awt.image.BufferedImage;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import resnetc.runtime.Cifar;
import resnetc.runtime.Images;
import resnetc.runtime.Preprocessing;

/**
 * The serving figures of docs/benchmarks.md for one model jar: starts {@code java -jar JAR --serve} in its own JVM,
 * sends CIFAR test images as PNGs over loopback from many concurrent clients (after an untimed warm-up load), and
 * compares
 *
 * <ul>
 *   <li>the server's throughput with the jar's own {@code --bench} throughput at the mean batch size the server
 *       formed (same threads), and
 *   <li>one client's median latency (requests one after another) with a direct call: the jar's {@code --bench}
 *       median at batch 1 plus the median time to decode and preprocess the same PNGs in this JVM.
 * </ul>
 *
 * <pre>
 * java -cp "src/bench/target/classes:src/bench/target/lib/*" resnetc.bench.ServeBench resnet20.jar [--threads 2]
 *     [--clients 64] [--requests 3000] [--max-batch 8] [--max-delay-ms 2] [--server-heap 512m] [--bench-seconds 5]
 *     [--server-jvm-arg -Xlog:gc:file=gc.log]...
 * </pre>
 *
 * The server JVM gets {@code -Xmx} from {@code --server-heap} (ResNet-50 under load in 512 MiB is one of the
 * claims); it is stopped with SIGTERM at the end and must exit cleanly. Run it on a quiet machine: the clients and
 * the server share its cores.
 */
public final class ServeBench {
  private ServeBench() {}

  record Load(int requests, double seconds, long p50Nanos, long p99Nanos, int errors) {
    double perSecond() {
      return requests / seconds;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 0 || args[0].startsWith("-")) {
      System.err.println("usage: ServeBench MODEL.jar [--threads T] [--clients N] [--requests N] [--max-batch B] [--max-delay-ms D] "
          + "[--server-heap SIZE] [--server-jvm-arg ARG]... [--bench-seconds S] [--images FILE]");
      System.exit(2);
    }
    Path jar = Path.of(args[0]);
    int threads = Runtime.getRuntime().availableProcessors(), clients = 64, requests = 3000, maxBatch = 8;
    double maxDelayMs = 2, benchSeconds = 5;
    String heap = "512m";
    List<String> serverArgs = new ArrayList<>();
    Path images = Path.of("examples/cifar/cifar10-test-300.bin");
    for (int i = 1; i < args.length; i += 2) {
      String v = args[i + 1];
      switch (args[i]) {
        case "--threads" -> threads = Integer.parseInt(v);
        case "--clients" -> clients = Integer.parseInt(v);
        case "--requests" -> requests = Integer.parseInt(v);
        case "--max-batch" -> maxBatch = Integer.parseInt(v);
        case "--max-delay-ms" -> maxDelayMs = Double.parseDouble(v);
        case "--server-heap" -> heap = v;
        case "--bench-seconds" -> benchSeconds = Double.parseDouble(v);
        case "--images" -> images = Path.of(v);
        case "--server-jvm-arg" -> serverArgs.add(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    List<byte[]> pngs = pngs(Cifar.read(images, 0));
    String java = ProcessHandle.current().info().command().orElse("java");

    List<String> command = new ArrayList<>(List.of(java, "-Xmx" + heap));
    command.addAll(serverArgs);
    command.addAll(List.of("-jar", jar.toString(), "--serve", "--port", "0", "--threads", "" + threads, "--max-batch", "" + maxBatch,
        "--max-delay-ms", "" + maxDelayMs, "--warmup", "2"));
    Process server = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    BufferedReader serverOut = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
    String started = serverOut.readLine();
    if (started == null || !started.startsWith("serving ")) throw new IllegalStateException("the server did not start: " + started);
    System.out.println(started);
    URI base = URI.create(started.substring(started.lastIndexOf(" on ") + 4));
    Thread.ofVirtual().start(() -> {
      try {
        serverOut.lines().forEach(l -> System.out.println("server: " + l));
      } catch (java.io.UncheckedIOException e) {
        // the server has gone
      }
    });

    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    URI predict = base.resolve("/predict");
    Spec spec = preprocessingOf(base, client);
    load(client, predict, pngs, clients, Math.max(2 * clients, requests / 5)); // warm-up: JIT of the server's request path
    String before = get(client, base.resolve("/metrics"));
    Load many = load(client, predict, pngs, clients, requests);
    String after = get(client, base.resolve("/metrics"));
    double meanBatch = (value(after, "resnetc_batch_size_sum") - value(before, "resnetc_batch_size_sum"))
        / (value(after, "resnetc_batch_size_count") - value(before, "resnetc_batch_size_count"));
    load(client, predict, pngs, 1, 100);
    Load one = load(client, predict, pngs, 1, Math.min(1000, Math.max(200, requests / 10)));
    server.destroy(); // SIGTERM: graceful shutdown
    if (!server.waitFor(60, TimeUnit.SECONDS)) throw new IllegalStateException("the server did not stop within 60 s of SIGTERM");

    int formed = Math.max(1, (int) Math.round(meanBatch));
    double benchBatch = benchImagesPerSecond(java, jar, formed, threads, benchSeconds);
    double benchOneMs = benchMedianMs(java, jar, threads, benchSeconds);
    double decodeMs = decodeMedianMs(pngs, spec);

    System.out.printf(Locale.ROOT, "load: %d clients, %d requests in %.2f s: %.1f images/s, p50 %.2f ms, p99 %.2f ms, mean batch %.2f, errors %d%n",
        clients, many.requests(), many.seconds(), many.perSecond(), many.p50Nanos() / 1e6, many.p99Nanos() / 1e6, meanBatch, many.errors());
    System.out.printf(Locale.ROOT, "--bench at batch %d, %d threads: %.1f images/s; server/bench = %.0f %%%n", formed, threads, benchBatch,
        100 * many.perSecond() / benchBatch);
    System.out.printf(Locale.ROOT, "one client: p50 %.3f ms; direct predict (--bench batch 1 median) %.3f ms + decode and preprocess %.3f ms = %.3f ms; "
        + "difference %.3f ms%n", one.p50Nanos() / 1e6, benchOneMs, decodeMs, benchOneMs + decodeMs, one.p50Nanos() / 1e6 - benchOneMs - decodeMs);
    System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %.0f | %.1f | %.2f | %.2f | %.1f (batch %d) | %.0f %% | %.3f | %.3f | %s | %d |%n",
        jar.getFileName(), threads, clients, maxBatch, maxDelayMs, many.perSecond(), many.p50Nanos() / 1e6, many.p99Nanos() / 1e6, benchBatch, formed,
        100 * many.perSecond() / benchBatch, one.p50Nanos() / 1e6, benchOneMs + decodeMs, heap, many.errors() + one.errors());
    if (many.errors() + one.errors() > 0) System.exit(1);
  }

  /** Every CIFAR record as a 32x32 RGB PNG. */
  static List<byte[]> pngs(Cifar data) throws IOException {
    List<byte[]> out = new ArrayList<>();
    int plane = 32 * 32;
    for (int i = 0; i < data.count(); i++) {
      BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
      for (int p = 0; p < plane; p++) {
        int base = i * 3 * plane;
        int r = (int) data.pixels()[base + p], g = (int) data.pixels()[base + plane + p], b = (int) data.pixels()[base + 2 * plane + p];
        img.setRGB(p % 32, p / 32, r << 16 | g << 8 | b);
      }
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(img, "png", png);
      out.add(png.toByteArray());
    }
    return out;
  }

  /**
   * {@code requests} requests from {@code clients} concurrent clients, each on its own keep-alive connection,
   * sending the next PNG when answered. The clients speak just enough HTTP/1.1 by hand (a request line, two headers,
   * the body; then the status line, headers up to Content-Length, the body): on 2 cores shared with the server, the
   * JDK's HttpClient took a third of the CPU time the server's whole request path and the model had.
   */
  static Load load(HttpClient client, URI predict, List<byte[]> pngs, int clients, int requests) throws Exception {
    AtomicInteger next = new AtomicInteger(), errors = new AtomicInteger();
    long[] latency = new long[requests];
    long t0 = System.nanoTime();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<CompletableFuture<Void>> all = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        all.add(CompletableFuture.runAsync(() -> {
          try (java.net.Socket socket = new java.net.Socket(predict.getHost(), predict.getPort())) {
            socket.setTcpNoDelay(true);
            var out = new java.io.BufferedOutputStream(socket.getOutputStream());
            var in = new java.io.BufferedInputStream(socket.getInputStream());
            for (int r; (r = next.getAndIncrement()) < requests; ) {
              byte[] png = pngs.get(r % pngs.size());
              long s = System.nanoTime();
              out.write(("POST " + predict.getPath() + " HTTP/1.1\r\nHost: " + predict.getHost() + "\r\nContent-Type: image/png\r\nContent-Length: "
                  + png.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
              out.write(png);
              out.flush();
              if (readResponse(in) != 200) errors.incrementAndGet();
              latency[r] = System.nanoTime() - s;
            }
          } catch (IOException e) {
            errors.incrementAndGet();
          }
        }, pool));
      }
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    long[] sorted = latency.clone();
    Arrays.sort(sorted);
    return new Load(requests, seconds, sorted[requests / 2], sorted[Math.min(requests - 1, (int) (requests * 0.99))], errors.get());
  }

  /** Reads one HTTP/1.1 response with a Content-Length body; returns its status. */
  static int readResponse(java.io.InputStream in) throws IOException {
    int status = -1;
    long length = 0;
    for (String line; !(line = readLine(in)).isEmpty(); ) {
      if (status < 0) status = Integer.parseInt(line.substring(9, 12));
      else if (line.regionMatches(true, 0, "content-length:", 0, 15)) length = Long.parseLong(line.substring(15).strip());
    }
    in.skipNBytes(length);
    return status;
  }

  static String readLine(java.io.InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int b; (b = in.read()) != '\n'; ) {
      if (b < 0) throw new IOException("connection closed");
      if (b != '\r') sb.append((char) b);
    }
    return sb.toString();
  }

  static String get(HttpClient client, URI uri) throws Exception {
    return client.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  static double value(String metrics, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + " ([0-9.E+-]+)$").matcher(metrics);
    if (!m.find()) throw new IllegalStateException(name + " missing in the metrics");
    return Double.parseDouble(m.group(1));
  }

  /** The model's preprocessing, from GET /model (input shape and normalization), to decode the PNGs as the server does. */
  record Spec(int channels, int height, int width, Preprocessing preprocessing) {}

  static Spec preprocessingOf(URI base, HttpClient client) throws Exception {
    String json = get(client, base.resolve("/model"));
    Matcher shape = find(json, "\"shape\":\\[(\\d+),(\\d+),(\\d+)\\]");
    Preprocessing p = new Preprocessing(Float.parseFloat(find(json, "\"divide\":([^,}]+)").group(1)), floats(find(json, "\"mean\":\\[([^\\]]*)\\]").group(1)),
        floats(find(json, "\"std\":\\[([^\\]]*)\\]").group(1)), Integer.parseInt(find(json, "\"resize\":(\\d+)").group(1)),
        Integer.parseInt(find(json, "\"crop\":(\\d+)").group(1)));
    return new Spec(Integer.parseInt(shape.group(1)), Integer.parseInt(shape.group(2)), Integer.parseInt(shape.group(3)), p);
  }

  private static Matcher find(String text, String regex) {
    Matcher m = Pattern.compile(regex).matcher(text);
    if (!m.find()) throw new IllegalStateException(regex + " not found in " + text);
    return m;
  }

  private static float[] floats(String csv) {
    String[] parts = csv.split(",");
    float[] out = new float[parts.length];
    for (int i = 0; i < parts.length; i++) out[i] = Float.parseFloat(parts[i]);
    return out;
  }

  /** Median time to decode one PNG and preprocess it as the server does (after a warm-up), milliseconds. */
  static double decodeMedianMs(List<byte[]> pngs, Spec spec) throws IOException {
    int runs = 3000;
    long[] t = new long[runs];
    for (int r = -2000; r < runs; r++) { // the first 2000 warm the JIT
      byte[] png = pngs.get(Math.floorMod(r, pngs.size()));
      long s = System.nanoTime();
      float[] x = Images.pixels(ImageIO.read(new ByteArrayInputStream(png)), spec.channels(), spec.height(), spec.width(), spec.preprocessing());
      spec.preprocessing().apply(x, spec.channels(), spec.height() * spec.width());
      if (r >= 0) t[r] = System.nanoTime() - s;
    }
    Arrays.sort(t);
    return t[runs / 2] / 1e6;
  }

  static double benchImagesPerSecond(String java, Path jar, int batch, int threads, double seconds) throws Exception {
    return benchValue(java, jar, batch, threads, seconds, "images_per_s");
  }

  static double benchMedianMs(String java, Path jar, int threads, double seconds) throws Exception {
    return benchValue(java, jar, 1, threads, seconds, "median_ms");
  }

  static double benchValue(String java, Path jar, int batch, int threads, double seconds, String key) throws Exception {
    // as long a warm-up as the measurement: a large model's first runs at a large batch are still being JIT-compiled
    Process p = new ProcessBuilder(java, "-jar", jar.toString(), "--bench", "--batch", "" + batch, "--threads", "" + threads,
        "--seconds", "" + seconds, "--warmup", "" + seconds).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) throw new IllegalStateException("--bench failed: " + out);
    return Double.parseDouble(find(out, "(?m)^" + key + ": ([0-9.]+)$").group(1));
  }
}
