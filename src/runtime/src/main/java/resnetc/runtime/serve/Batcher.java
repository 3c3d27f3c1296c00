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
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.ThreadTeam;

/**
 * Dynamic batching: requests queue their images; a batcher thread takes the oldest and runs it together with
 * whatever joins it, up to {@code maxBatch} images, as one model call (a request of more images than that runs
 * alone, in calls of {@code maxBatch}). It waits for more (at most {@code maxDelay} after the first was queued)
 * only while other requests are on their way, being read or decoded ({@link #arriving}), so a lone request is never
 * delayed and a busy server forms full batches from its queue without waiting at all.
 *
 * <p>Busy or not: there are as many batcher threads (lanes) as the model has threads. A batch formed while the
 * queue is empty and no other lane holds a batch runs on the model's whole team, the fastest a single call can be;
 * a batch formed while others wait or run goes on its lane's thread alone ({@link ThreadTeam#onCallerOnly}), next
 * to the other lanes' batches. Under load that keeps every core on its own batch instead of splitting each layer
 * over a team that the HTTP threads keep interrupting (each layer then waits for its slowest part): measured on 2
 * cores, ResNet-20 served 670 images/s with one 2-thread call at a time and 815 with a 1-thread model. A read-write
 * lock keeps the two kinds apart: whole-team calls exclude all others, one-thread calls run side by side.
 *
 * <p>Inputs are copied once, from each request's buffer into its lane's input segment, allocated for the largest
 * batch, and outputs from the lane's output segment into each request's result; the model call reads and writes
 * the segments in place. The queue holds at most {@code queueImages} images; beyond that {@link #submit} refuses
 * (503).
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
  /** Lanes holding a batch, formed or running. */
  private final AtomicInteger holding = new AtomicInteger();
  /** Read: a one-thread call; write: a whole-team call. */
  private final ReentrantReadWriteLock turns = new ReentrantReadWriteLock();
  private final Arena arena = Arena.ofShared();
  private final List<Lane> lanes = new ArrayList<>();
  private volatile boolean closing;

  /** A batcher thread with its own input and output segments. */
  private final class Lane {
    final MemorySegment in = arena.allocate(4L * maxBatch * size, 64), out = arena.allocate(4L * maxBatch * classes, 64);
    final Thread thread;
    Job carried; // taken from the queue but too big for the batch being formed: first of the next one

    Lane(int index) {
      thread = Thread.ofPlatform().name("resnetc-batcher-" + index).daemon(true).unstarted(this::loop);
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
        boolean alone = holding.incrementAndGet() > 1 || !queue.isEmpty();
        try {
          run(batch, n, alone && lanes.size() > 1);
        } finally {
          holding.decrementAndGet();
        }
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

    private void run(List<Job> batch, int n, boolean alone) {
      Lock turn = alone ? turns.readLock() : turns.writeLock();
      turn.lock();
      try {
        if (n > maxBatch) { // one request larger than a batch: in slices of maxBatch images
          runLarge(batch.get(0), alone);
          return;
        }
        long offset = 0;
        for (Job j : batch) {
          long floats = (long) j.images * size;
          MemorySegment.copy(j.input, j.layout, 0, in, ValueLayout.JAVA_FLOAT, offset, floats);
          offset += 4 * floats;
        }
        predict(n, alone);
        offset = 0;
        for (Job j : batch) {
          long bytes = 4L * j.images * classes;
          j.result.complete(out.asSlice(offset, bytes).toArray(ValueLayout.JAVA_FLOAT));
          offset += bytes;
        }
      } catch (Throwable e) { // OutOfMemoryError included: fail this batch's requests, keep serving
        for (Job j : batch) j.result.completeExceptionally(e);
      } finally {
        turn.unlock();
      }
    }

    private void runLarge(Job job, boolean alone) {
      float[] y = new float[job.images * classes];
      for (int start = 0; start < job.images; start += maxBatch) {
        int b = Math.min(maxBatch, job.images - start);
        MemorySegment.copy(job.input, job.layout, (long) start * size * 4, in, ValueLayout.JAVA_FLOAT, 0, (long) b * size);
        predict(b, alone);
        MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, 0, y, start * classes, b * classes);
      }
      job.result.complete(y);
    }

    /** The model on the first {@code n} images of {@code in}, on this thread alone or on the model's team. */
    private void predict(int n, boolean alone) {
      MemorySegment x = in.asSlice(0, 4L * n * size), y = out.asSlice(0, 4L * n * classes);
      long t0 = System.nanoTime();
      if (alone) ThreadTeam.onCallerOnly(() -> model.predict(x, y, n));
      else model.predict(x, y, n);
      metrics.batch(n, (System.nanoTime() - t0) / 1e9, alone);
    }
  }

  Batcher(CompiledModel model, ServeOptions o, Metrics metrics) {
    this.model = model;
    this.maxBatch = o.maxBatch();
    this.queueImages = o.queueImages();
    this.size = model.inputSize();
    this.classes = model.classes();
    this.maxDelayNanos = o.maxDelay().toNanos();
    this.metrics = metrics;
    this.room = new Semaphore(queueImages);
    for (int i = 0; i < Math.max(1, model.threads()); i++) lanes.add(new Lane(i));
  }

  /**
   * Runs the model on random input at batch 1 and at the largest batch, for the JIT, through the same paths: on the
   * whole team and, with more than one lane, on one thread.
   */
  void warmUp(long nanos) {
    Lane lane = lanes.get(0);
    Random r = new Random(42);
    for (long i = 0, n = (long) maxBatch * size; i < n; i++) lane.in.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
    long end = System.nanoTime() + nanos;
    for (int run = 0; run < 20 && System.nanoTime() < end; run++) {
      for (int b : maxBatch > 1 ? new int[] {1, maxBatch} : new int[] {1}) {
        lane.predict(b, false);
        if (lanes.size() > 1) lane.predict(b, true);
      }
    }
  }

  void start() {
    for (Lane l : lanes) l.thread.start();
  }

  /** Batcher threads: one per model thread. */
  int lanes() {
    return lanes.size();
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

  /** Runs what is queued, then stops; requests queued after that are refused. */
  @Override
  public void close() {
    closing = true;
    try {
      for (Lane l : lanes) l.thread.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (Job j; (j = queue.poll()) != null; ) j.result.completeExceptionally(HttpError.busy("the server is shutting down"));
    arena.close();
  }
}
