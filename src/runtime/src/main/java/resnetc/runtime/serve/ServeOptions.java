package resnetc.runtime.serve;

import java.time.Duration;
import java.util.Locale;

/**
 * How {@code --serve} runs: where it listens, how it batches, and the limits that keep it alive under load and
 * bad input. Every limit answers with a status rather than failing: {@code maxBodyBytes} and {@code maxPixels}
 * 413, a full queue or an exhausted {@code requestMemoryBytes} 503 with {@code Retry-After}.
 *
 * @param host address to listen on ({@code 127.0.0.1}: this machine only; {@code 0.0.0.0}: every interface, as a
 *     container needs)
 * @param port TCP port, 0 for any free one (the server prints the one it got)
 * @param maxBatch most images per model call
 * @param maxDelay how long the first request of a batch may wait for others; the batcher waits only while more
 *     requests are on their way (being read or decoded), so a lone request runs at once
 * @param queueImages most images waiting for a batch; more is 503
 * @param maxBodyBytes largest request body; larger is 413
 * @param maxPixels largest image (width x height) to decode; larger is 413, before decoding
 * @param requestMemoryBytes heap that requests being read, decoded, queued and run may hold together (bodies,
 *     decoded images, inputs); a request that would exceed it is 503, one that could never fit 413
 * @param warmup how long to run the model on random input before listening (JIT warm-up), at most 20 runs of each
 *     batch size used
 * @param drain how long shutdown waits for requests in flight to be answered
 */
public record ServeOptions(String host, int port, int maxBatch, Duration maxDelay, int queueImages, long maxBodyBytes,
                           long maxPixels, long requestMemoryBytes, Duration warmup, Duration drain) {
  public static final int DEFAULT_PORT = 8080, DEFAULT_MAX_BATCH = 8;
  public static final Duration DEFAULT_MAX_DELAY = Duration.ofMillis(2);
  /** Decoding takes about this many bytes per pixel at its peak (the decoded image, its RGB ints, the planes). */
  static final long DECODE_BYTES_PER_PIXEL = 24;

  public ServeOptions {
    if (host == null || host.isBlank()) throw new IllegalArgumentException("--host needs an address");
    if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be 0..65535, got " + port);
    if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be at least 1, got " + maxBatch);
    if (maxDelay.isNegative()) throw new IllegalArgumentException("--max-delay-ms must not be negative");
    if (queueImages < maxBatch) throw new IllegalArgumentException("--queue (" + queueImages + ") must hold at least --max-batch (" + maxBatch + ") images");
    if (maxBodyBytes < 1 || maxPixels < 1 || requestMemoryBytes < 1) throw new IllegalArgumentException("limits must be positive");
  }

  /** The defaults for a model: tensors of a whole batch fit the body limit, a quarter of the heap for requests. */
  public static ServeOptions defaults(int inputFloats) {
    return new ServeOptions("127.0.0.1", DEFAULT_PORT, DEFAULT_MAX_BATCH, DEFAULT_MAX_DELAY, 16 * DEFAULT_MAX_BATCH,
        defaultMaxBody(inputFloats, DEFAULT_MAX_BATCH), 4L << 20, Math.max(32L << 20, Runtime.getRuntime().maxMemory() / 4),
        Duration.ofSeconds(2), Duration.ofSeconds(30));
  }

  /** 8 MiB, or a float32 tensor of a whole batch and some slack when that is more. */
  static long defaultMaxBody(int inputFloats, int maxBatch) {
    return Math.max(8L << 20, 4L * inputFloats * maxBatch + 4096);
  }

  public ServeOptions withHost(String v) {
    return new ServeOptions(v, port, maxBatch, maxDelay, queueImages, maxBodyBytes, maxPixels, requestMemoryBytes, warmup, drain);
  }

  public ServeOptions withPort(int v) {
    return new ServeOptions(host, v, maxBatch, maxDelay, queueImages, maxBodyBytes, maxPixels, requestMemoryBytes, warmup, drain);
  }

  /** A new batch limit; the queue and body limits follow it unless they were raised. */
  public ServeOptions withMaxBatch(int v, int inputFloats) {
    return new ServeOptions(host, port, v, maxDelay, Math.max(queueImages, 16 * v), Math.max(maxBodyBytes, defaultMaxBody(inputFloats, v)),
        maxPixels, requestMemoryBytes, warmup, drain);
  }

  public ServeOptions withMaxDelay(Duration v) {
    return new ServeOptions(host, port, maxBatch, v, queueImages, maxBodyBytes, maxPixels, requestMemoryBytes, warmup, drain);
  }

  public ServeOptions withQueueImages(int v) {
    return new ServeOptions(host, port, maxBatch, maxDelay, v, maxBodyBytes, maxPixels, requestMemoryBytes, warmup, drain);
  }

  public ServeOptions withMaxBodyBytes(long v) {
    return new ServeOptions(host, port, maxBatch, maxDelay, queueImages, v, maxPixels, requestMemoryBytes, warmup, drain);
  }

  public ServeOptions withMaxPixels(long v) {
    return new ServeOptions(host, port, maxBatch, maxDelay, queueImages, maxBodyBytes, v, requestMemoryBytes, warmup, drain);
  }

  public ServeOptions withRequestMemoryBytes(long v) {
    return new ServeOptions(host, port, maxBatch, maxDelay, queueImages, maxBodyBytes, maxPixels, v, warmup, drain);
  }

  public ServeOptions withWarmup(Duration v) {
    return new ServeOptions(host, port, maxBatch, maxDelay, queueImages, maxBodyBytes, maxPixels, requestMemoryBytes, v, drain);
  }

  public ServeOptions withDrain(Duration v) {
    return new ServeOptions(host, port, maxBatch, maxDelay, queueImages, maxBodyBytes, maxPixels, requestMemoryBytes, warmup, v);
  }

  /** One line for the startup message. */
  String describe() {
    return String.format(Locale.ROOT, "max batch %d, max delay %s ms, queue %d images, body <= %d bytes, images <= %d pixels",
        maxBatch, millis(maxDelay), queueImages, maxBodyBytes, maxPixels);
  }

  static String millis(Duration d) {
    double ms = d.toNanos() / 1e6;
    return ms == Math.rint(ms) ? Long.toString((long) ms) : String.format(Locale.ROOT, "%.3f", ms);
  }
}
