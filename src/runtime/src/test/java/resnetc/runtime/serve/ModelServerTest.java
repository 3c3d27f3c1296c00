package resnetc.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.ModelMainTest;

/** The HTTP server on a tiny model (the class nearest the image's mean wins): endpoints, errors, batching, queue, shutdown. */
class ModelServerTest {
  static final List<String> NAMES = List.of("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine");
  final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  final ByteArrayOutputStream log = new ByteArrayOutputStream();
  ModelServer server;

  /** TinyModel with labels; predict(float[]) can be slowed, blocked or made to fail, and records batch sizes. */
  static class Model extends ModelMainTest.TinyModel {
    final List<Integer> batches = new CopyOnWriteArrayList<>();
    volatile long sleepMillis;
    volatile CountDownLatch gate;
    volatile RuntimeException failure;

    Model() {
      super(8, NAMES);
    }

    @Override
    public float[] predict(float[] nchw, int batch) {
      batches.add(batch);
      try {
        if (gate != null) gate.await(30, TimeUnit.SECONDS);
        if (sleepMillis > 0) Thread.sleep(sleepMillis);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      if (failure != null) throw failure;
      return super.predict(nchw, batch);
    }
  }

  ServeOptions options(CompiledModel m) {
    return ServeOptions.defaults(m.inputSize()).withPort(0).withWarmup(Duration.ZERO).withDrain(Duration.ofSeconds(10));
  }

  ModelServer start(CompiledModel m, ServeOptions o) throws Exception {
    server = ModelServer.start(m, o, new PrintStream(log, true, StandardCharsets.UTF_8));
    return server;
  }

  @AfterEach
  void stop() {
    if (server != null) server.stop();
  }

  record Answer(int status, String body, HttpResponse<String> response) {}

  Answer get(String path) throws Exception {
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(server.uri().resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), r.body(), r);
  }

  Answer post(String path, String contentType, byte[] body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(server.uri().resolve(path)).POST(HttpRequest.BodyPublishers.ofByteArray(body));
    if (contentType != null) b.header("Content-Type", contentType);
    HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), r.body(), r);
  }

  /** An 8x8 gray PNG of one value: TinyModel (scale 1/10) predicts round(value / 10). */
  static byte[] png(int value, int w, int h) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, value << 16 | value << 8 | value);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  static byte[] tensor(float... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) b.putFloat(v);
    return b.array();
  }

  static byte[] constantImages(int n, float value) {
    float[] x = new float[n * 3 * 8 * 8];
    Arrays.fill(x, value);
    return tensor(x);
  }

  static List<Integer> topClasses(String json) {
    List<Integer> out = new ArrayList<>();
    Matcher m = Pattern.compile("\"top\":\\[\\{\"class\":(\\d+)").matcher(json);
    while (m.find()) out.add(Integer.parseInt(m.group(1)));
    return out;
  }

  static float[] logits(String json) {
    Matcher m = Pattern.compile("\"logits\":\\[([^\\]]*)\\]").matcher(json);
    assertTrue(m.find(), json);
    String[] parts = m.group(1).split(",");
    float[] y = new float[parts.length];
    for (int i = 0; i < parts.length; i++) y[i] = Float.parseFloat(parts[i]);
    return y;
  }

  static void assertJsonError(Answer a, int status, String fragment) {
    assertEquals(status, a.status(), a.body());
    assertTrue(a.response().headers().firstValue("Content-Type").orElse("").startsWith("application/json"), a.response().headers().toString());
    assertTrue(a.body().startsWith("{\"error\":\"") && a.body().endsWith(",\"status\":" + status + "}"), a.body());
    assertTrue(a.body().contains(fragment), a.body());
    assertFalse(a.body().contains("\\n") || a.body().contains("\tat ") || a.body().contains("at resnetc."), "one line, no stack trace: " + a.body());
  }

  @Test
  void healthModelAndMetrics() throws Exception {
    start(new Model(), options(new Model()));
    Answer health = get("/health");
    assertEquals(200, health.status());
    assertEquals("{\"status\":\"ok\"}", health.body());
    Answer model = get("/model");
    assertEquals(200, model.status());
    assertTrue(model.body().startsWith("{\"name\":\"tiny\",\"input\":{\"shape\":[3,8,8],\"dtype\":\"float32\",\"layout\":\"NCHW\"},\"classes\":10,"
        + "\"labels\":[\"zero\",\"one\","), model.body());
    assertTrue(model.body().contains("\"backend\":\"unknown\",\"isa\":null"), model.body()); // a hand-written class
    assertTrue(model.body().contains("\"batching\":{\"max_batch\":8,\"max_delay_ms\":2.0,\"queue_images\":128,\"threads\":1}"), model.body());
    assertEquals(200, post("/predict", "image/png", png(30, 8, 8)).status());

    Answer metrics = get("/metrics");
    assertEquals(200, metrics.status());
    assertTrue(metrics.response().headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
    String text = metrics.body();
    for (String line : List.of("# TYPE resnetc_requests_total counter", "resnetc_requests_total{endpoint=\"/predict\",code=\"200\"} 1",
        "resnetc_requests_total{endpoint=\"/health\",code=\"200\"} 1", "resnetc_images_total 1", "resnetc_batches_total 1", "resnetc_batches_one_thread_total 0",
        "# TYPE resnetc_batch_size histogram", "resnetc_batch_size_bucket{le=\"1\"} 1", "resnetc_batch_size_bucket{le=\"8\"} 1",
        "resnetc_batch_size_bucket{le=\"+Inf\"} 1", "resnetc_batch_size_count 1", "resnetc_request_duration_seconds_count 1",
        "resnetc_inference_duration_seconds_count 1", "resnetc_queue_images 0", "resnetc_inflight_requests 0",
        "resnetc_model_info{backend=\"unknown\",isa=\"unknown\",model=\"tiny\"} 1")) {
      assertTrue(text.lines().anyMatch(line::equals), line + " in\n" + text);
    }
    // every sample line is NAME{labels} VALUE or NAME VALUE
    assertTrue(text.lines().filter(l -> !l.startsWith("#")).allMatch(l -> l.matches("[a-z_]+(\\{[^}]*\\})? [0-9.E+-]+")), text);
  }

  @Test
  void imagesAndTensorsArePredicted() throws Exception {
    Model m = new Model();
    start(m, options(m));
    Answer a = post("/predict", "image/png", png(30, 12, 10)); // resized to 8x8; mean 3
    assertEquals(200, a.status(), a.body());
    assertTrue(a.body().startsWith("{\"model\":\"tiny\",\"predictions\":[{\"top\":[{\"class\":3,\"label\":\"three\",\"score\":"), a.body());
    assertEquals(5, a.body().split("\"class\"").length - 1, a.body());
    assertFalse(a.body().contains("logits"), a.body());

    // any Content-Type: an image is known by its first bytes (curl --data-binary sends a form type)
    Answer k = post("/predict?k=2&logits=true", "application/x-www-form-urlencoded", png(70, 8, 8));
    assertEquals(200, k.status(), k.body());
    assertEquals(2, k.body().split("\"class\"").length - 1, k.body());
    float[] expected = m.predict(m.preprocessing().apply(constant(70), 3, 64), 1);
    assertArrayEquals(expected, logits(k.body()), "logits bit for bit");

    Answer t = post("/predict?shape=2,3,8,8", "application/octet-stream", concat(constantImages(1, 6), constantImages(1, 1.2f)));
    assertEquals(200, t.status(), t.body());
    assertEquals(List.of(6, 1), topClasses(t.body()));
    HttpRequest withHeader = HttpRequest.newBuilder(server.uri().resolve("/predict")).header("Content-Type", "application/octet-stream")
        .header("X-Shape", "3,8,8").POST(HttpRequest.BodyPublishers.ofByteArray(constantImages(1, 9))).build();
    assertEquals(List.of(9), topClasses(client.send(withHeader, HttpResponse.BodyHandlers.ofString()).body()));
    assertEquals(List.of(4, 4, 4), topClasses(post("/predict", "application/octet-stream", constantImages(3, 4)).body())); // N from the size
  }

  static float[] constant(int pixel) {
    float[] x = new float[3 * 64];
    Arrays.fill(x, pixel);
    return x;
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void badRequestsAreOneLineJsonErrors() throws Exception {
    Model m = new Model();
    start(m, options(m).withMaxBatch(4, m.inputSize()).withMaxBodyBytes(8192).withMaxPixels(100).withQueueImages(8));
    assertJsonError(post("/predict", "application/octet-stream", new byte[7]), 400, "multiple of 4 bytes");
    assertJsonError(post("/predict", "application/octet-stream", tensor(1, 2, 3)), 400, "not a whole number of 3,8,8 float32 inputs");
    assertJsonError(post("/predict?shape=1,3,9,8", "application/octet-stream", constantImages(1, 1)), 400, "does not match the model's input N,3,8,8");
    assertJsonError(post("/predict?shape=2,3,8,8", "application/octet-stream", constantImages(1, 1)), 400, "needs 1536 bytes, the body has 768");
    assertJsonError(post("/predict?shape=a,b", "application/octet-stream", constantImages(1, 1)), 400, "shape must be N,C,H,W or C,H,W");
    byte[] nan = constantImages(1, 1);
    ByteBuffer.wrap(nan).order(ByteOrder.LITTLE_ENDIAN).putFloat(40, Float.NaN);
    assertJsonError(post("/predict", "application/octet-stream", nan), 400, "non-finite value (NaN) at index 10");
    assertJsonError(post("/predict?k=0", "image/png", png(1, 8, 8)), 400, "k must be a whole number from 1 to 10");
    assertJsonError(post("/predict?kk=1", "image/png", png(1, 8, 8)), 400, "unknown query parameter 'kk'");
    assertJsonError(post("/predict?logits=maybe", "image/png", png(1, 8, 8)), 400, "logits must be true or false");
    assertJsonError(post("/predict", "image/png", "not a png".getBytes(StandardCharsets.UTF_8)), 400, "not an image");
    byte[] truncated = Arrays.copyOf(png(1, 8, 8), 40);
    assertJsonError(post("/predict", "image/png", truncated), 400, "cannot decode the image");
    assertJsonError(post("/predict", "image/png", new byte[0]), 400, "empty body");
    assertJsonError(post("/predict", "text/plain", "hello".getBytes(StandardCharsets.UTF_8)), 415, "unsupported Content-Type 'text/plain'");
    assertJsonError(post("/predict", "image/png", png(1, 11, 10)), 413, "image of 11x10 = 110 pixels exceeds the limit of 100 pixels");
    assertJsonError(post("/predict", "application/octet-stream", new byte[9000]), 413, "request body of 9000 bytes exceeds the limit of 8192 bytes");
    assertJsonError(post("/predict", "application/octet-stream", constantImages(9, 1)), 413, "9 images in one request; the queue holds at most 8 (--queue)");
    assertJsonError(get("/predict"), 405, "/predict takes POST, not GET");
    assertEquals("POST", get("/predict").response().headers().firstValue("Allow").orElse(""));
    assertJsonError(post("/health", "image/png", png(1, 8, 8)), 405, "/health takes GET");
    assertJsonError(get("/nope"), 404, "no such endpoint /nope");
    // none of that hurt: the next request is answered; one of more images than --max-batch runs in slices
    assertEquals(List.of(2), topClasses(post("/predict", "image/png", png(20, 8, 8)).body()));
    assertEquals(List.of(7, 7, 7, 7, 7), topClasses(post("/predict", "application/octet-stream", constantImages(5, 7)).body()));
    assertEquals(List.of(4, 1), m.batches.subList(m.batches.size() - 2, m.batches.size()));
    assertTrue(get("/metrics").body().contains("resnetc_errors_total{code=\"400\"} 12"));
    assertEquals("", log.toString(StandardCharsets.UTF_8), "client mistakes are not logged");
  }

  @Test
  void aFailingModelIsA500WithoutDetailsAndTheServerGoesOn() throws Exception {
    Model m = new Model();
    start(m, options(m));
    m.failure = new IllegalStateException("kernel exploded at line 42");
    Answer a = post("/predict", "image/png", png(30, 8, 8));
    assertJsonError(a, 500, "internal error: the model failed (IllegalStateException)");
    assertFalse(a.body().contains("kernel exploded"), a.body());
    assertTrue(log.toString(StandardCharsets.UTF_8).contains("kernel exploded at line 42"), "the server's log has the details");
    m.failure = null;
    assertEquals(200, post("/predict", "image/png", png(30, 8, 8)).status());
  }

  /** Requests that arrive while the model is busy run together, at most --max-batch images per call. */
  @Test
  void concurrentRequestsFormBatches() throws Exception {
    Model m = new Model();
    m.sleepMillis = 40;
    start(m, options(m).withMaxBatch(4, m.inputSize()).withMaxDelay(Duration.ofMillis(20)));
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Answer>> answers = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        int value = 10 * (i % 10);
        answers.add(pool.submit(() -> post("/predict", "image/png", png(value, 8, 8))));
      }
      for (int i = 0; i < 12; i++) {
        Answer a = answers.get(i).get();
        assertEquals(200, a.status(), a.body());
        assertEquals(List.of(i % 10), topClasses(a.body()), "request " + i);
      }
    }
    assertEquals(12, m.batches.stream().mapToInt(Integer::intValue).sum(), m.batches.toString());
    assertTrue(m.batches.stream().allMatch(b -> b <= 4), m.batches.toString());
    assertTrue(m.batches.stream().anyMatch(b -> b > 1), "some requests shared a call: " + m.batches);
    assertTrue(get("/metrics").body().contains("resnetc_batches_total " + m.batches.size() + "\n"));
  }

  /** A lone request does not wait for a batch to fill: the batcher waits only for requests on their way. */
  @Test
  void aLoneRequestIsNotDelayed() throws Exception {
    Model m = new Model();
    start(m, options(m).withMaxDelay(Duration.ofSeconds(5)));
    long t0 = System.nanoTime();
    for (int i = 0; i < 5; i++) assertEquals(200, post("/predict", "image/png", png(30, 8, 8)).status());
    assertTrue(System.nanoTime() - t0 < 4_000_000_000L, "5 requests took " + (System.nanoTime() - t0) / 1e9 + " s with --max-delay-ms 5000");
    assertEquals(List.of(1, 1, 1, 1, 1), m.batches);
  }

  @Test
  void aFullQueueIs503WithRetryAfter() throws Exception {
    Model m = new Model();
    m.gate = new CountDownLatch(1);
    start(m, options(m).withMaxBatch(1, m.inputSize()).withQueueImages(2));
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Answer>> held = new ArrayList<>();
      held.add(pool.submit(() -> post("/predict", "image/png", png(10, 8, 8)))); // in the model, blocked
      waitFor(() -> m.batches.size() == 1);
      for (int i = 0; i < 2; i++) held.add(pool.submit(() -> post("/predict", "image/png", png(20, 8, 8)))); // queued
      waitFor(() -> server.answered("/predict", 503) == 0 && queued() == 2);
      Answer refused = post("/predict", "image/png", png(30, 8, 8));
      assertJsonError(refused, 503, "the queue is full (2 images waiting)");
      assertEquals("1", refused.response().headers().firstValue("Retry-After").orElse(""));
      m.gate.countDown();
      for (Future<Answer> f : held) assertEquals(200, f.get().status());
    }
  }

  long queued() throws Exception {
    String metrics = get("/metrics").body();
    return Long.parseLong(metrics.replaceAll("(?s).*\nresnetc_queue_images (\\d+)\n.*", "$1"));
  }

  /** stop() refuses new work but answers every request already received, then returns. */
  @Test
  void stopDrainsRequestsInFlight() throws Exception {
    Model m = new Model();
    m.gate = new CountDownLatch(1);
    start(m, options(m).withMaxBatch(2, m.inputSize()));
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Answer>> inFlight = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        int value = 10 * i;
        inFlight.add(pool.submit(() -> post("/predict", "image/png", png(value, 8, 8))));
      }
      waitFor(() -> m.batches.size() == 1); // the first batch is in the model, the rest queued
      Thread.sleep(100);
      Future<?> stopping = pool.submit(() -> server.stop());
      Thread.sleep(200);
      assertFalse(stopping.isDone(), "stop waits for the requests in flight");
      m.gate.countDown();
      stopping.get(20, TimeUnit.SECONDS);
      for (int i = 0; i < 4; i++) {
        Answer a = inFlight.get(i).get();
        assertEquals(200, a.status(), a.body());
        assertEquals(List.of(i), topClasses(a.body()));
      }
    }
    try {
      Answer after = post("/predict", "image/png", png(10, 8, 8));
      throw new AssertionError("served after stop: " + after.status() + " " + after.body());
    } catch (java.io.IOException expected) {
      // connection refused: the listener is closed
    }
  }

  interface Check {
    boolean get() throws Exception;
  }

  static void waitFor(Check condition) throws Exception {
    long end = System.nanoTime() + 10_000_000_000L;
    while (!condition.get()) {
      if (System.nanoTime() > end) throw new AssertionError("timed out waiting");
      Thread.sleep(5);
    }
  }
}
