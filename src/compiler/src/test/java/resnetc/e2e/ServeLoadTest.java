package resnetc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.target.TestTargets;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.Images;
import resnetc.runtime.serve.ModelServer;
import resnetc.runtime.serve.ServeOptions;

/**
 * The server under load, over loopback: 64 concurrent clients send a fixed number of requests, a mix of PNG images
 * (CIFAR test images, the shipped sample) and raw float32 tensors of one or two images, to the pretrained ResNet-20
 * compiled by the Java backend (the class a jar carries). Every answer's logits must equal, bit for bit, a direct
 * {@code predict} of the same input at batch 1, whatever batch the request joined; no answer may be an error. Runs
 * once with batching off ({@code --max-batch 1}) and once on, and prints throughput and latency percentiles of
 * both. The model has 2 threads, so the server has 2 lanes, and under load batches run on one thread each, side by
 * side: those answers too must equal the 2-thread direct predicts (figures of a shared machine; docs/benchmarks.md has the measured ones).
 */
class ServeLoadTest {
  static final int CLIENTS = 64, REQUESTS = 1500, PNGS = 120, TENSORS = 40;
  static CompiledModel model;
  static final List<Input> inputs = new ArrayList<>();

  /** One request body and the logits a direct predict gives for it. */
  record Input(String contentType, String query, byte[] body, float[] expected) {}

  @BeforeAll
  static void setUp() throws Exception {
    Frontend.Loaded l = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet"));
    model = TestTargets.spec(l, Frontend.bind(l, l.specWeights()), "java").load(2);
    Cifar data = Cifar.read(TestPaths.repoRoot().resolve("examples/cifar/cifar10-test-300.bin"), 0);
    int size = model.inputSize(), plane = 32 * 32;
    for (int i = 0; i < PNGS; i++) {
      BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
      for (int p = 0; p < plane; p++) {
        int r = (int) data.pixels()[i * size + p], g = (int) data.pixels()[i * size + plane + p], b = (int) data.pixels()[i * size + 2 * plane + p];
        img.setRGB(p % 32, p / 32, r << 16 | g << 8 | b);
      }
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(img, "png", png);
      // the direct path: decode as `java -jar model.jar IMAGE` does, preprocess, predict alone
      float[] x = Images.pixels(ImageIO.read(new ByteArrayInputStream(png.toByteArray())), 3, 32, 32, model.preprocessing());
      inputs.add(new Input("image/png", "?logits=true", png.toByteArray(), model.predict(model.preprocessing().apply(x, 3, plane), 1)));
    }
    for (int t = 0; t < TENSORS; t++) {
      int n = 1 + t % 2, first = PNGS + 2 * t;
      float[] x = model.preprocessing().apply(Arrays.copyOfRange(data.pixels(), first * size, (first + n) * size), 3, plane);
      float[] expected = new float[n * 10];
      for (int i = 0; i < n; i++) System.arraycopy(model.predict(Arrays.copyOfRange(x, i * size, (i + 1) * size), 1), 0, expected, i * 10, 10);
      ByteBuffer body = ByteBuffer.allocate(4 * x.length).order(ByteOrder.LITTLE_ENDIAN);
      body.asFloatBuffer().put(x);
      inputs.add(new Input("application/octet-stream", "?logits=true&shape=" + n + ",3,32,32", body.array(), expected));
    }
  }

  @AfterAll
  static void tearDown() {
    if (model != null) model.close();
  }

  record Result(int requests, int images, double seconds, long p50Micros, long p99Micros, double meanBatch, double oneThreadBatches, String failures) {
    String line(String name) {
      return String.format(Locale.ROOT, "%s: %d requests (%d images) in %.2f s: %.0f requests/s, %.0f images/s, latency p50 %.2f ms, p99 %.2f ms, mean batch %.2f",
          name, requests, images, seconds, requests / seconds, images / seconds, p50Micros / 1e3, p99Micros / 1e3, meanBatch);
    }
  }

  @Test
  void everyAnswerIsTheDirectPredictionWithAndWithoutBatching() throws Exception {
    ServeOptions base = ServeOptions.defaults(model.inputSize()).withPort(0).withWarmup(Duration.ofSeconds(1));
    Result single = load(base.withMaxBatch(1, model.inputSize()));
    Result batched = load(base.withMaxBatch(16, model.inputSize()).withMaxDelay(Duration.ofMillis(2)));
    System.out.println(single.line("serve, no batching (--max-batch 1)"));
    System.out.println(batched.line("serve, dynamic batching (--max-batch 16)"));
    assertEquals("", single.failures());
    assertEquals("", batched.failures());
    assertEquals(1.0, single.meanBatch(), 1e-9);
    assertTrue(batched.meanBatch() > 1, "64 clients keep the queue busy: batches form (" + batched.meanBatch() + ")");
    // the model has 2 threads, so 2 lanes: with the queue busy, batches also ran on one thread each, side by side,
    // and their answers were among those checked bit for bit against the 2-thread direct predicts
    assertTrue(single.oneThreadBatches() > 0 && batched.oneThreadBatches() > 0, single.oneThreadBatches() + ", " + batched.oneThreadBatches());
  }

  /** Sends REQUESTS requests from CLIENTS threads; checks every answer; returns the figures and the failures, one per line. */
  static Result load(ServeOptions options) throws Exception {
    ByteArrayOutputStream serverLog = new ByteArrayOutputStream();
    ModelServer server = ModelServer.start(model, options, new PrintStream(serverLog, true));
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    AtomicInteger next = new AtomicInteger(), images = new AtomicInteger();
    long[] latencies = new long[REQUESTS];
    ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    long t0 = System.nanoTime();
    double seconds;
    String metrics;
    try {
      try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
        for (int c = 0; c < CLIENTS; c++) {
          pool.submit(() -> {
            for (int r; (r = next.getAndIncrement()) < REQUESTS; ) {
              Input in = inputs.get((r * 7) % inputs.size());
              HttpRequest req = HttpRequest.newBuilder(server.uri().resolve("/predict" + in.query())).timeout(Duration.ofSeconds(30))
                  .header("Content-Type", in.contentType()).POST(HttpRequest.BodyPublishers.ofByteArray(in.body())).build();
              long s = System.nanoTime();
              try {
                HttpResponse<String> res = client.send(req, HttpResponse.BodyHandlers.ofString());
                latencies[r] = System.nanoTime() - s;
                String problem = res.statusCode() != 200 ? "status " + res.statusCode() + ": " + res.body() : compare(in.expected(), res.body());
                if (problem != null) failures.add("request " + r + " (" + in.contentType() + "): " + problem);
                images.addAndGet(in.expected().length / 10);
              } catch (Exception e) {
                failures.add("request " + r + ": " + e);
              }
            }
            return null;
          });
        }
      }
      seconds = (System.nanoTime() - t0) / 1e9;
      metrics = client.send(HttpRequest.newBuilder(server.uri().resolve("/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
    } finally {
      server.stop();
    }
    long[] sorted = latencies.clone();
    Arrays.sort(sorted);
    double meanBatch = value(metrics, "resnetc_batch_size_sum") / value(metrics, "resnetc_batch_size_count");
    String all = String.join("\n", failures.stream().limit(10).toList()) + serverLog;
    return new Result(REQUESTS, images.get(), seconds, sorted[REQUESTS / 2] / 1000, sorted[(int) (REQUESTS * 0.99)] / 1000, meanBatch,
        value(metrics, "resnetc_batches_one_thread_total"), all);
  }

  static double value(String metrics, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + " ([0-9.E+-]+)$").matcher(metrics);
    assertTrue(m.find(), name + " in " + metrics);
    return Double.parseDouble(m.group(1));
  }

  /** Null when every logit of every prediction equals the expected float bit for bit. */
  static String compare(float[] expected, String json) {
    Matcher m = Pattern.compile("\"logits\":\\[([^\\]]*)\\]").matcher(json);
    int i = 0;
    while (m.find()) {
      for (String v : m.group(1).split(",")) {
        if (i >= expected.length) return "more logits than expected: " + json;
        float got = Float.parseFloat(v);
        if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(expected[i])) {
          return "logit " + i + " is " + got + ", a direct predict gives " + expected[i];
        }
        i++;
      }
    }
    return i == expected.length ? null : i + " logits, expected " + expected.length + ": " + json;
  }
}
