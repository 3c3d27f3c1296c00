package resnetc.runtime.serve;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The server's counters, in the Prometheus text format ({@code GET /metrics}): requests by endpoint and status,
 * errors by status, images and batches run, the batch sizes formed, request latency and model time per batch
 * (histograms), and the queue and in-flight gauges. Label values come from a fixed set (known endpoints, HTTP
 * status codes), so the series stay few whatever clients send.
 */
final class Metrics {
  /** Request latency bounds, seconds: from a small model's sub-millisecond answer to a slow queue. */
  static final double[] LATENCY_BOUNDS = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};

  private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
  private final LongAdder images = new LongAdder(), batches = new LongAdder(), oneThreadBatches = new LongAdder();
  final Histogram batchSize, latency = new Histogram(LATENCY_BOUNDS), inference = new Histogram(LATENCY_BOUNDS);
  private final LongSupplier queued, inflight;
  private final Map<String, String> info;

  /**
   * @param maxBatch the largest batch: the batch-size buckets are the powers of two below it, then it
   * @param info the labels of {@code resnetc_model_info} (model name, backend, ISA)
   */
  Metrics(int maxBatch, LongSupplier queued, LongSupplier inflight, Map<String, String> info) {
    this.batchSize = new Histogram(batchBounds(maxBatch));
    this.queued = queued;
    this.inflight = inflight;
    this.info = new TreeMap<>(info);
  }

  private static double[] batchBounds(int maxBatch) {
    int n = 1;
    while ((1 << (n - 1)) < maxBatch) n++;
    double[] b = new double[n];
    for (int i = 0; i < n; i++) b[i] = Math.min(1 << i, maxBatch);
    return b;
  }

  /** One answered request. */
  void request(String endpoint, int status) {
    requests.computeIfAbsent(endpoint + '\u0000' + status, k -> new LongAdder()).increment();
  }

  /** One model call of {@code size} images; {@code oneThread}: on its lane's thread alone, beside other calls. */
  void batch(int size, double seconds, boolean oneThread) {
    batches.increment();
    if (oneThread) oneThreadBatches.increment();
    images.add(size);
    batchSize.observe(size);
    inference.observe(seconds);
  }

  long count(String endpoint, int status) {
    LongAdder a = requests.get(endpoint + '\u0000' + status);
    return a == null ? 0 : a.sum();
  }

  String render() {
    StringBuilder sb = new StringBuilder(4096);
    header(sb, "resnetc_model_info", "gauge", "The model served (always 1).");
    sb.append("resnetc_model_info{");
    String sep = "";
    for (Map.Entry<String, String> e : info.entrySet()) {
      sb.append(sep).append(e.getKey()).append("=\"").append(escape(e.getValue())).append('"');
      sep = ",";
    }
    sb.append("} 1\n");

    Map<String, Long> sorted = new TreeMap<>();
    requests.forEach((k, v) -> sorted.put(k, v.sum()));
    header(sb, "resnetc_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
    sorted.forEach((k, v) -> {
      String[] parts = k.split("\u0000");
      sb.append("resnetc_requests_total{endpoint=\"").append(escape(parts[0])).append("\",code=\"").append(parts[1]).append("\"} ")
          .append(v).append('\n');
    });
    Map<String, Long> errors = new TreeMap<>();
    sorted.forEach((k, v) -> {
      String code = k.substring(k.indexOf('\u0000') + 1);
      if (code.compareTo("400") >= 0) errors.merge(code, v, Long::sum);
    });
    header(sb, "resnetc_errors_total", "counter", "Requests answered with an error status (4xx, 5xx), by status code.");
    errors.forEach((code, v) -> sb.append("resnetc_errors_total{code=\"").append(code).append("\"} ").append(v).append('\n'));

    header(sb, "resnetc_images_total", "counter", "Images run through the model.");
    sb.append("resnetc_images_total ").append(images.sum()).append('\n');
    header(sb, "resnetc_batches_total", "counter", "Model calls (dynamic batches).");
    sb.append("resnetc_batches_total ").append(batches.sum()).append('\n');
    header(sb, "resnetc_batches_one_thread_total", "counter", "Model calls run on one thread beside others (a busy server), of resnetc_batches_total.");
    sb.append("resnetc_batches_one_thread_total ").append(oneThreadBatches.sum()).append('\n');
    batchSize.render(sb, "resnetc_batch_size", "Images per model call.");
    latency.render(sb, "resnetc_request_duration_seconds", "Time from receiving a prediction request to answering it, seconds.");
    inference.render(sb, "resnetc_inference_duration_seconds", "Model time per batch, seconds.");
    header(sb, "resnetc_queue_images", "gauge", "Images waiting for a batch.");
    sb.append("resnetc_queue_images ").append(queued.getAsLong()).append('\n');
    header(sb, "resnetc_inflight_requests", "gauge", "Prediction requests being read, decoded, queued or run.");
    sb.append("resnetc_inflight_requests ").append(inflight.getAsLong()).append('\n');
    return sb.toString();
  }

  private static void header(StringBuilder sb, String name, String type, String help) {
    sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
    sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
  }

  private static String escape(String v) {
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }

  private static String number(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
  }

  /** Cumulative buckets (Prometheus {@code le}), their sum and count. */
  static final class Histogram {
    private final double[] bounds;
    private final AtomicLongArray counts;
    private final DoubleAdder sum = new DoubleAdder();

    Histogram(double[] bounds) {
      this.bounds = bounds.clone();
      this.counts = new AtomicLongArray(bounds.length + 1);
    }

    void observe(double v) {
      int i = 0;
      while (i < bounds.length && v > bounds[i]) i++;
      counts.incrementAndGet(i);
      sum.add(v);
    }

    void render(StringBuilder sb, String name, String help) {
      header(sb, name, "histogram", help);
      long cumulative = 0;
      for (int i = 0; i <= bounds.length; i++) {
        cumulative += counts.get(i);
        sb.append(name).append("_bucket{le=\"").append(i < bounds.length ? number(bounds[i]) : "+Inf").append("\"} ")
            .append(cumulative).append('\n');
      }
      sb.append(name).append("_sum ").append(number(sum.sum())).append('\n');
      sb.append(name).append("_count ").append(cumulative).append('\n');
    }
  }
}
