package resnetc.runtime.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.Images;
import resnetc.runtime.ModelMain;

/**
 * A compiled model over HTTP, on the JDK's own {@code com.sun.net.httpserver} (no dependency):
 *
 * <ul>
 *   <li>{@code POST /predict}: an image (PNG, JPEG, BMP, GIF; decoded, resized and normalized as the spec says,
 *       exactly as {@code java -jar model.jar IMAGE} does) or a raw tensor ({@code Content-Type:
 *       application/octet-stream}: little-endian float32 NCHW, already preprocessed, shape {@code N,C,H,W} or
 *       {@code C,H,W} in the {@code shape} query parameter or the {@code X-Shape} header, or N inferred from the
 *       size). Answers {@code {"model": ..., "predictions": [{"top": [{"class", "label", "score"}...], "logits":
 *       [...]}]}}, one prediction per image, the top {@code k} classes ({@code ?k=5}) with softmax scores and the
 *       logits with {@code ?logits=true};
 *   <li>{@code GET /health}, {@code GET /model} (name, input shape, classes, labels, backend, ISA, preprocessing,
 *       batching and limits), {@code GET /metrics} (Prometheus text).
 * </ul>
 *
 * Requests are run in dynamic batches ({@link Batcher}). Every error is a JSON body {@code {"error": "...",
 * "status": N}} with one line of text, never a stack trace: 400 malformed input, 404, 405, 413 too large (body,
 * pixels), 415 unsupported content type, 503 busy or shutting down (with {@code Retry-After}), 500 when the model
 * itself fails (logged on the server's standard error). {@link #stop} stops accepting connections and answers every
 * request already received before it returns.
 */
public final class ModelServer implements AutoCloseable {
  /** How long a request waits for its batch before 503 (a stuck or overloaded model, not a slow client). */
  static final long ANSWER_TIMEOUT_SECONDS = 60;

  private final CompiledModel model;
  private final ServeOptions options;
  private final ModelInfo info;
  private final HttpServer http;
  private final ExecutorService handlers = Executors.newVirtualThreadPerTaskExecutor();
  private final Batcher batcher;
  private final Metrics metrics;
  private final PrintStream log;
  private final AtomicInteger inflight = new AtomicInteger();
  private final AtomicLong reserved = new AtomicLong();
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final byte[] modelJson;
  private volatile boolean draining;
  private boolean stopCalled;

  private ModelServer(CompiledModel model, ServeOptions options, PrintStream log) throws IOException {
    this.model = model;
    this.options = options;
    this.log = log;
    this.info = ModelInfo.of(model);
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put("model", model.name());
    labels.put("backend", info.backend());
    labels.put("isa", info.isa() == null ? "unknown" : info.isa());
    this.metrics = new Metrics(options.maxBatch(), this::queuedImages, inflight::get, labels);
    this.batcher = new Batcher(model, options, metrics);
    this.modelJson = utf8(describeModel());
    this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 1024);
    http.setExecutor(handlers);
    http.createContext("/", this::handle);
  }

  /**
   * Binds the port, warms the model up ({@link ServeOptions#warmup}), then serves until {@link #stop}. The model
   * stays the caller's: stop the server before closing it. {@code log} gets a line for internal errors only.
   */
  public static ModelServer start(CompiledModel model, ServeOptions options, PrintStream log) throws IOException {
    if (options.maxBatch() > 1 && model.inputSize() > Integer.MAX_VALUE / 4 / options.maxBatch()) {
      throw new IllegalArgumentException("--max-batch " + options.maxBatch() + " is too large for " + model.name() + "'s input");
    }
    ModelServer s = new ModelServer(model, options, log);
    s.batcher.warmUp(options.warmup().toNanos());
    s.batcher.start();
    s.http.start();
    return s;
  }

  private long queuedImages() {
    return batcher.queued();
  }

  /** The address the server listens on (the port chosen when {@code --port 0}). */
  public InetSocketAddress address() {
    return http.getAddress();
  }

  public URI uri() {
    InetSocketAddress a = address();
    String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getAddress().getHostAddress();
    return URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort() + "/");
  }

  /** What the server runs, for its startup line. */
  public String describe() {
    return model.name() + " (backend " + info.backend() + (info.isa() != null ? ", " + info.isa() : "") + ", " + model.threads() + " threads), "
        + options.describe();
  }

  /**
   * Graceful shutdown: new requests get 503, connections are no longer accepted, requests already received are
   * answered (waiting at most {@link ServeOptions#drain}), then the batcher stops. Idempotent.
   */
  public void stop() {
    boolean first;
    synchronized (this) {
      first = !stopCalled;
      stopCalled = true;
    }
    if (!first) { // another thread is stopping it (a shutdown hook, say): return when it is done
      awaitQuietly();
      return;
    }
    draining = true;
    http.stop((int) Math.max(1, Math.min(Integer.MAX_VALUE, options.drain().toSeconds())));
    batcher.close();
    handlers.shutdown();
    stopped.countDown();
  }

  private void awaitQuietly() {
    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Blocks until {@link #stop} has finished. */
  public void awaitStopped() throws InterruptedException {
    stopped.await();
  }

  @Override
  public void close() {
    stop();
  }

  /** Requests answered so far with this status on this endpoint (for tests and the shutdown line). */
  public long answered(String endpoint, int status) {
    return metrics.count(endpoint, status);
  }

  // ---- dispatch ----

  private void handle(HttpExchange ex) {
    String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
    String endpoint = switch (path) {
      case "/predict", "/health", "/model", "/metrics" -> path;
      default -> "other";
    };
    long t0 = System.nanoTime();
    int status;
    try {
      String allowed = endpoint.equals("/predict") ? "POST" : "GET";
      if (endpoint.equals("other")) {
        throw new HttpError(404, "no such endpoint " + path + " (POST /predict, GET /health, GET /model, GET /metrics)");
      }
      if (!method.equals(allowed) && !(allowed.equals("GET") && method.equals("HEAD"))) {
        ex.getResponseHeaders().set("Allow", allowed);
        throw new HttpError(405, path + " takes " + allowed + ", not " + method);
      }
      status = switch (endpoint) {
        case "/predict" -> predict(ex);
        case "/health" -> draining ? send(ex, 503, json(new Json().begin().field("status", "draining").field("error", "the server is shutting down")
            .end()), 1) : send(ex, 200, json(new Json().begin().field("status", "ok").end()), 0);
        case "/model" -> send(ex, 200, modelJson, 0);
        default -> sendText(ex, metrics.render());
      };
    } catch (HttpError e) {
      status = error(ex, e);
    } catch (Throwable e) {
      log.println("resnetc: " + method + " " + path + " failed: " + e);
      status = error(ex, new HttpError(500, "internal error: " + e.getClass().getSimpleName()));
    } finally {
      ex.close();
    }
    metrics.request(endpoint, status);
    if (endpoint.equals("/predict")) metrics.latency.observe((System.nanoTime() - t0) / 1e9);
  }

  // ---- POST /predict ----

  /** A request's images, ready for the batcher. */
  private record Input(MemorySegment segment, ValueLayout.OfFloat layout, int images, long bytes) {}

  private int predict(HttpExchange ex) throws IOException {
    inflight.incrementAndGet();
    batcher.arriving(1);
    boolean arriving = true;
    long held = 0;
    try {
      if (draining) throw HttpError.busy("the server is shutting down");
      Map<String, String> query = query(ex.getRequestURI().getRawQuery());
      int k = query.containsKey("k") ? intParam("k", query.get("k"), 1, model.classes()) : Math.min(5, model.classes());
      boolean logits = query.containsKey("logits") && boolParam("logits", query.get("logits"));
      String contentType = ex.getRequestHeaders().getFirst("Content-Type");
      long length = contentLength(ex);
      if (length > options.maxBodyBytes()) {
        ex.getResponseHeaders().set("Connection", "close"); // the body stays unread
        throw HttpError.tooLarge("request body of " + length + " bytes exceeds the limit of " + options.maxBodyBytes() + " bytes");
      }
      held = reserve(length >= 0 ? length : options.maxBodyBytes());
      byte[] body = readBody(ex, length);
      held = adjust(held, body.length);
      Input input;
      if (isTensor(contentType, body, query, ex)) {
        input = tensor(body, shape(query, ex));
      } else {
        input = image(body);
        body = null;
        held = adjust(held, input.bytes()); // the body is garbage now: keep the decoded input only
      }
      Batcher.Job job = batcher.submit(input.segment(), input.layout(), input.images());
      batcher.arriving(-1);
      arriving = false;
      float[] y = await(job);
      return send(ex, 200, json(answer(y, input.images(), k, logits)), 0);
    } finally {
      if (arriving) batcher.arriving(-1);
      reserved.addAndGet(-held);
      inflight.decrementAndGet();
    }
  }

  private float[] await(Batcher.Job job) {
    try {
      return job.result.get(ANSWER_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw HttpError.busy("no answer from the model within " + ANSWER_TIMEOUT_SECONDS + " s; retry later");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw HttpError.busy("the server is shutting down");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof HttpError h) throw h;
      if (cause instanceof OutOfMemoryError) throw HttpError.busy("out of memory running the batch; retry later");
      log.println("resnetc: the model failed on a batch: " + cause);
      throw new HttpError(500, "internal error: the model failed (" + cause.getClass().getSimpleName() + ")");
    }
  }

  /** Heap for this request, from the shared budget: 503 when others hold it, 413 when it could never fit. */
  private long reserve(long bytes) {
    long budget = options.requestMemoryBytes();
    if (bytes > budget) {
      throw HttpError.tooLarge("the request needs " + bytes + " bytes of memory, more than the server allows for requests (" + budget + ")");
    }
    while (true) {
      long now = reserved.get();
      if (now + bytes > budget) throw HttpError.busy("the server is busy (request memory in use); retry later");
      if (reserved.compareAndSet(now, now + bytes)) return bytes;
    }
  }

  /** Changes this request's reservation from {@code held} to {@code bytes}. */
  private long adjust(long held, long bytes) {
    if (bytes > held) return held + reserve(bytes - held);
    reserved.addAndGet(bytes - held);
    return bytes;
  }

  private static long contentLength(HttpExchange ex) {
    String v = ex.getRequestHeaders().getFirst("Content-Length");
    if (v == null) return -1;
    try {
      return Long.parseLong(v.strip()); // the JDK has rejected negative and malformed values already
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private byte[] readBody(HttpExchange ex, long length) throws IOException {
    try (InputStream in = ex.getRequestBody()) {
      byte[] body = in.readNBytes(length >= 0 ? (int) length : (int) Math.min(Integer.MAX_VALUE - 8, options.maxBodyBytes() + 1));
      if (body.length > options.maxBodyBytes()) {
        ex.getResponseHeaders().set("Connection", "close");
        throw HttpError.tooLarge("request body exceeds the limit of " + options.maxBodyBytes() + " bytes");
      }
      if (length >= 0 && body.length < length) throw HttpError.badRequest("the body ended after " + body.length + " of " + length + " bytes");
      if (body.length == 0) throw HttpError.badRequest("empty body: send an image or a float32 tensor");
      return body;
    }
  }

  private static boolean isTensor(String contentType, byte[] body, Map<String, String> query, HttpExchange ex) {
    String type = contentType == null ? "" : contentType.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
    if (type.equals("application/octet-stream")) return true;
    if (type.startsWith("image/") || looksLikeImage(body)) return false;
    if (type.isEmpty() && (query.containsKey("shape") || ex.getRequestHeaders().containsKey("X-Shape"))) return true;
    throw new HttpError(415, "unsupported Content-Type '" + contentType + "': send an image (image/png, image/jpeg, ...) or a tensor "
        + "(application/octet-stream: little-endian float32 NCHW)");
  }

  /** PNG, JPEG, GIF or BMP by their first bytes, whatever the Content-Type says (curl --data-binary sends a form type). */
  private static boolean looksLikeImage(byte[] b) {
    return b.length >= 4 && ((b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G'
        || (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF
        || b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8'
        || b[0] == 'B' && b[1] == 'M');
  }

  // ---- tensors ----

  /** {@code N,C,H,W} or {@code C,H,W} from the query or the X-Shape header (which must agree), or null. */
  private static int[] shape(Map<String, String> query, HttpExchange ex) {
    String q = query.get("shape"), h = ex.getRequestHeaders().getFirst("X-Shape");
    if (q != null && h != null && !q.replace(" ", "").equals(h.replace(" ", ""))) {
      throw HttpError.badRequest("the shape query parameter (" + q + ") and the X-Shape header (" + h + ") disagree");
    }
    String s = q != null ? q : h;
    if (s == null) return null;
    String[] parts = s.split(",", -1);
    if (parts.length != 3 && parts.length != 4) throw HttpError.badRequest("shape must be N,C,H,W or C,H,W, got '" + s + "'");
    int[] dims = new int[4];
    dims[0] = 1;
    for (int i = 0; i < parts.length; i++) dims[i + 4 - parts.length] = intParam("shape", parts[i], 1, Integer.MAX_VALUE);
    return dims;
  }

  private Input tensor(byte[] body, int[] shape) {
    int size = model.inputSize();
    String expected = model.channels() + "," + model.height() + "," + model.width();
    if (body.length % 4 != 0) throw HttpError.badRequest("a float32 tensor has a multiple of 4 bytes, got " + body.length);
    long floats = body.length / 4;
    int n;
    if (shape != null) {
      if (shape[1] != model.channels() || shape[2] != model.height() || shape[3] != model.width()) {
        throw HttpError.badRequest("shape " + shape[0] + "," + shape[1] + "," + shape[2] + "," + shape[3] + " does not match the model's input N," + expected);
      }
      n = shape[0];
      if ((long) n * size != floats) {
        throw HttpError.badRequest("shape " + n + "," + expected + " needs " + 4L * n * size + " bytes, the body has " + body.length);
      }
    } else {
      if (floats % size != 0) {
        throw HttpError.badRequest(body.length + " bytes is not a whole number of " + expected + " float32 inputs; give the shape (?shape=N,C,H,W)");
      }
      n = (int) (floats / size);
    }
    if (n > options.queueImages()) throw HttpError.tooLarge(n + " images in one request; the queue holds at most " + options.queueImages() + " (--queue)");
    MemorySegment seg = MemorySegment.ofArray(body);
    for (long i = 0; i < floats; i++) {
      float v = seg.getAtIndex(Batcher.LE_FLOAT, i);
      if (!Float.isFinite(v)) throw HttpError.badRequest("the tensor has a non-finite value (" + v + ") at index " + i);
    }
    return new Input(seg, Batcher.LE_FLOAT, n, body.length);
  }

  // ---- images ----

  private Input image(byte[] body) throws IOException {
    BufferedImage img = decode(body);
    float[] x;
    try {
      x = Images.pixels(img, model.channels(), model.height(), model.width(), model.preprocessing());
    } catch (IllegalArgumentException e) {
      throw HttpError.badRequest("cannot use the image: " + e.getMessage());
    }
    model.preprocessing().apply(x, model.channels(), model.height() * model.width());
    return new Input(MemorySegment.ofArray(x), ValueLayout.JAVA_FLOAT, 1, 4L * x.length);
  }

  /** Decodes as {@code ImageIO.read} does, after checking the size in the header against the pixel limit. */
  private BufferedImage decode(byte[] body) throws IOException {
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(body))) {
      Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
      if (!readers.hasNext()) throw HttpError.badRequest("not an image ImageIO can decode (PNG, JPEG, BMP, GIF)");
      ImageReader reader = readers.next();
      long extra = 0;
      try {
        reader.setInput(in, true, true);
        long w = reader.getWidth(0), h = reader.getHeight(0);
        if (w < 1 || h < 1) throw HttpError.badRequest("the image has no pixels");
        if (w * h > options.maxPixels()) {
          throw HttpError.tooLarge("image of " + w + "x" + h + " = " + w * h + " pixels exceeds the limit of " + options.maxPixels() + " pixels");
        }
        extra = reserve(w * h * ServeOptions.DECODE_BYTES_PER_PIXEL);
        return reader.read(0);
      } catch (HttpError e) {
        throw e;
      } catch (IOException | RuntimeException e) {
        throw HttpError.badRequest("cannot decode the image: " + oneLine(e));
      } finally {
        reader.dispose();
        reserved.addAndGet(-extra);
      }
    }
  }

  // ---- answers ----

  private Json answer(float[] y, int images, int k, boolean logits) {
    int classes = model.classes();
    List<String> labels = model.labels();
    Json j = new Json().begin().field("model", model.name()).beginArray("predictions");
    for (int i = 0; i < images; i++) {
      double[] p = ModelMain.probabilities(y, i * classes, classes);
      j.beginObject().beginArray("top");
      for (int c : ModelMain.top(p, k)) {
        j.beginObject().field("class", c);
        if (c < labels.size()) j.field("label", labels.get(c));
        j.field("score", (float) p[c]).end();
      }
      j.endArray();
      if (logits) {
        j.beginArray("logits");
        for (int c = 0; c < classes; c++) j.value(y[i * classes + c]);
        j.endArray();
      }
      j.end();
    }
    return j.endArray().end();
  }

  private String describeModel() {
    Json j = new Json().begin().field("name", model.name());
    j.beginObject("input").beginArray("shape").value(model.channels()).value(model.height()).value(model.width()).endArray()
        .field("dtype", "float32").field("layout", "NCHW").end();
    j.field("classes", model.classes()).beginArray("labels");
    for (String l : model.labels()) j.value(l);
    j.endArray().field("backend", info.backend()).field("isa", info.isa());
    var p = model.preprocessing();
    j.beginObject("preprocessing").field("divide", p.div()).beginArray("mean");
    for (float v : p.mean()) j.value(v);
    j.endArray().beginArray("std");
    for (float v : p.std()) j.value(v);
    j.endArray().field("resize", p.resize()).field("crop", p.crop()).end();
    j.beginObject("batching").field("max_batch", options.maxBatch()).field("max_delay_ms", options.maxDelay().toNanos() / 1e6f)
        .field("queue_images", options.queueImages()).field("threads", model.threads()).end();
    j.beginObject("limits").field("max_body_bytes", options.maxBodyBytes()).field("max_pixels", options.maxPixels())
        .field("request_memory_bytes", options.requestMemoryBytes()).end();
    return j.end().toString();
  }

  // ---- HTTP helpers ----

  private static byte[] json(Json j) {
    return utf8(j.toString());
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private int error(HttpExchange ex, HttpError e) {
    return send(ex, e.status, json(new Json().begin().field("error", e.getMessage()).field("status", e.status).end()), e.retryAfterSeconds);
  }

  private static int sendText(HttpExchange ex, String text) {
    return send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", utf8(text), 0);
  }

  private static int send(HttpExchange ex, int status, byte[] body, int retryAfterSeconds) {
    return send(ex, status, "application/json; charset=utf-8", body, retryAfterSeconds);
  }

  /** Sends a complete answer; a client that has gone away is not an error of ours. */
  private static int send(HttpExchange ex, int status, String contentType, byte[] body, int retryAfterSeconds) {
    try {
      ex.getResponseHeaders().set("Content-Type", contentType);
      if (retryAfterSeconds > 0) ex.getResponseHeaders().set("Retry-After", Integer.toString(retryAfterSeconds));
      boolean head = ex.getRequestMethod().equals("HEAD");
      ex.sendResponseHeaders(status, head ? -1 : body.length);
      if (!head) {
        try (OutputStream out = ex.getResponseBody()) {
          out.write(body);
        }
      }
    } catch (IOException | RuntimeException e) {
      // the connection is gone (or the response was already started): nothing to tell the client
    }
    return status;
  }

  /** Query parameters (k, logits, shape); anything else is a mistake worth a 400. */
  private static Map<String, String> query(String raw) {
    Map<String, String> out = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) return out;
    for (String part : raw.split("&")) {
      if (part.isEmpty()) continue;
      int eq = part.indexOf('=');
      String key = decode(eq < 0 ? part : part.substring(0, eq)), value = eq < 0 ? "" : decode(part.substring(eq + 1));
      if (!List.of("k", "logits", "shape").contains(key)) {
        throw HttpError.badRequest("unknown query parameter '" + key + "' (k, logits, shape)");
      }
      if (out.put(key, value) != null) throw HttpError.badRequest("query parameter '" + key + "' given twice");
    }
    return out;
  }

  private static String decode(String s) {
    try {
      return URLDecoder.decode(s, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw HttpError.badRequest("malformed query string: " + e.getMessage());
    }
  }

  private static int intParam(String name, String v, int min, int max) {
    try {
      int n = Integer.parseInt(v.strip());
      if (n >= min && n <= max) return n;
    } catch (NumberFormatException e) {
      // reported below
    }
    throw HttpError.badRequest(name + " must be a whole number from " + min + (max == Integer.MAX_VALUE ? " up" : " to " + max) + ", got '" + v + "'");
  }

  private static boolean boolParam(String name, String v) {
    return switch (v.strip().toLowerCase(Locale.ROOT)) {
      case "", "true", "1", "yes" -> true;
      case "false", "0", "no" -> false;
      default -> throw HttpError.badRequest(name + " must be true or false, got '" + v + "'");
    };
  }

  private static String oneLine(Throwable e) {
    String m = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    return m.lines().findFirst().orElse(m);
  }
}
