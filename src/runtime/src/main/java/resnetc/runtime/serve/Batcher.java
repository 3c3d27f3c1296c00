package resnetc.runtime.serve;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import resnetc.runtime.CompiledModel;

/**
 * Dynamic batching: requests queue their images; one thread takes the oldest and runs it together with whatever
 * joins it, up to {@code maxBatch} images, as one model call (a request of more images than that runs alone, in
 * calls of {@code maxBatch}). It waits for more (at most {@code maxDelay} after
 * the first was queued) only while other requests are on their way, being read or decoded ({@link #arriving}), so
 * a lone request is never delayed and a busy server forms full batches from its queue without waiting at all.
 *
 * <p>Inputs are copied once, from each request's buffer into one input segment allocated for the largest batch,
 * and outputs from one output segment into each request's result; the model call reads and writes the segments
 * in place. The queue holds at most {@code queueImages} images; beyond that {@link #submit} refuses (503).
 */
final class Batcher implements AutoCloseable {
  /** Little-endian float32, unaligned: a raw tensor body as it arrived. */
  static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /** One request's images: {@code images x inputSize} floats of {@code layout} in {@code input}. */
  static final class Job {
    final MemorySegment input;
    final ValueLayout.OfFloat layout;
    final int images;
    final long queuedNanos = System.nanoTime();
    final CompletableFuture<float[]> result = new CompletableFuture<>();

    Job(MemorySegment input, ValueLayout.OfFloat layout, int images) {
      this.input = input;
      this.layout = layout;
      this.images = images;
    }
  }

  private final CompiledModel model;
  private final int maxBatch, queueImages, size, classes;
  private final long maxDelayNanos;
  private final Metrics metrics;
  private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
  private final Semaphore room;
  private final AtomicInteger arriving = new AtomicInteger();
  private final Arena arena = Arena.ofShared();
  private final MemorySegment in, out;
  private final Thread thread;
  private volatile boolean closing;
  private Job carried; // taken from the queue but too big for the batch being formed: first of the next one

  Batcher(CompiledModel model, ServeOptions o, Metrics metrics) {
    this.model = model;
    this.maxBatch = o.maxBatch();
    this.queueImages = o.queueImages();
    this.size = model.inputSize();
    this.classes = model.classes();
    this.maxDelayNanos = o.maxDelay().toNanos();
    this.metrics = metrics;
    this.room = new Semaphore(queueImages);
    this.in = arena.allocate(4L * maxBatch * size, 64);
    this.out = arena.allocate(4L * maxBatch * classes, 64);
    this.thread = Thread.ofPlatform().name("resnetc-batcher").daemon(true).unstarted(this::loop);
  }

  /** Runs the model on random input at batch 1 and at the largest batch, for the JIT, through the same path. */
  void warmUp(long nanos) {
    Random r = new Random(42);
    for (long i = 0, n = (long) maxBatch * size; i < n; i++) in.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
    long end = System.nanoTime() + nanos;
    for (int run = 0; run < 20 && System.nanoTime() < end; run++) {
      for (int b : maxBatch > 1 ? new int[] {1, maxBatch} : new int[] {1}) {
        model.predict(in.asSlice(0, 4L * b * size), out.asSlice(0, 4L * b * classes), b);
      }
    }
  }

  void start() {
    thread.start();
  }

  /** A request is being read or decoded: the batcher may wait for it ({@code +1}), or it is queued or failed ({@code -1}). */
  void arriving(int delta) {
    arriving.addAndGet(delta);
  }

  /** Queues a request's images; 503 when the queue is full or the server is shutting down. */
  Job submit(MemorySegment input, ValueLayout.OfFloat layout, int images) {
    if (closing) throw HttpError.busy("the server is shutting down");
    if (!room.tryAcquire(images)) {
      throw HttpError.busy("the queue is full (" + queueImages + " images waiting); retry later");
    }
    Job job = new Job(input, layout, images);
    queue.add(job);
    return job;
  }

  /** Images waiting for a batch. */
  int queued() {
    return queueImages - room.availablePermits();
  }

  private void loop() {
    while (true) {
      Job first = carried;
      carried = null;
      if (first == null) {
        try {
          first = queue.poll(20, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
          first = null;
        }
        if (first == null) {
          if (closing && queue.isEmpty()) return;
          continue;
        }
      }
      List<Job> batch = gather(first);
      int n = 0;
      for (Job j : batch) n += j.images;
      room.release(n);
      run(batch, n);
    }
  }

  /** The first job and those that join it: queued ones at once, arriving ones until the first has waited maxDelay. */
  private List<Job> gather(Job first) {
    List<Job> batch = new ArrayList<>();
    batch.add(first);
    int n = first.images;
    long deadline = first.queuedNanos + maxDelayNanos;
    while (n < maxBatch) {
      Job next = queue.poll();
      if (next == null) {
        if (arriving.get() <= 0) break; // no one else on the way: do not make this batch wait
        long left = deadline - System.nanoTime();
        if (left <= 0) break;
        try {
          next = queue.poll(Math.min(left, 100_000L), TimeUnit.NANOSECONDS); // look at the arrivals again every 0.1 ms
        } catch (InterruptedException e) {
          break;
        }
        if (next == null) continue;
      }
      if (n + next.images > maxBatch) {
        carried = next;
        break;
      }
      batch.add(next);
      n += next.images;
    }
    return batch;
  }

  private void run(List<Job> batch, int n) {
    if (n > maxBatch) { // one request larger than a batch: in slices of maxBatch images
      runAlone(batch.get(0));
      return;
    }
    try {
      long offset = 0;
      for (Job j : batch) {
        long floats = (long) j.images * size;
        MemorySegment.copy(j.input, j.layout, 0, in, ValueLayout.JAVA_FLOAT, offset, floats);
        offset += 4 * floats;
      }
      long t0 = System.nanoTime();
      model.predict(in.asSlice(0, 4L * n * size), out.asSlice(0, 4L * n * classes), n);
      metrics.batch(n, (System.nanoTime() - t0) / 1e9);
      offset = 0;
      for (Job j : batch) {
        long bytes = 4L * j.images * classes;
        j.result.complete(out.asSlice(offset, bytes).toArray(ValueLayout.JAVA_FLOAT));
        offset += bytes;
      }
    } catch (Throwable e) { // OutOfMemoryError included: fail this batch's requests, keep serving
      for (Job j : batch) j.result.completeExceptionally(e);
    }
  }

  private void runAlone(Job job) {
    try {
      float[] y = new float[job.images * classes];
      for (int start = 0; start < job.images; start += maxBatch) {
        int b = Math.min(maxBatch, job.images - start);
        MemorySegment.copy(job.input, job.layout, (long) start * size * 4, in, ValueLayout.JAVA_FLOAT, 0, (long) b * size);
        long t0 = System.nanoTime();
        model.predict(in.asSlice(0, 4L * b * size), out.asSlice(0, 4L * b * classes), b);
        metrics.batch(b, (System.nanoTime() - t0) / 1e9);
        MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, 0, y, start * classes, b * classes);
      }
      job.result.complete(y);
    } catch (Throwable e) {
      job.result.completeExceptionally(e);
    }
  }

  /** Runs what is queued, then stops; requests queued after that are refused. */
  @Override
  public void close() {
    closing = true;
    try {
      thread.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (Job j; (j = queue.poll()) != null; ) j.result.completeExceptionally(HttpError.busy("the server is shutting down"));
    arena.close();
  }
}
