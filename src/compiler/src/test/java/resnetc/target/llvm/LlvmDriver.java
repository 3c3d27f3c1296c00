package resnetc.target.llvm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A minimal driver for a {@link NativeProgram} in tests: arena, scratch and weights in native memory, each step
 * called through FFM over its whole task space (or split over threads), in order.
 */
final class LlvmDriver implements AutoCloseable {
  /** One handle for every step: the target address is its first argument (a handle costs ~250 ms to make). */
  private static final MethodHandle STEP = Linker.nativeLinker().downcallHandle(
      FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));

  private final NativeProgram program;
  private final MemorySegment[] entries;
  private final Arena arena = Arena.ofShared();
  private final MemorySegment weights;

  LlvmDriver(NativeProgram program, Function<String, MemorySegment> lookup) {
    this.program = program;
    this.entries = program.steps().stream().map(s -> lookup.apply(s.symbol())).toArray(MemorySegment[]::new);
    float[] w = program.weights();
    this.weights = arena.allocate(Math.max(4, 4L * w.length), 64);
    MemorySegment.copy(w, 0, weights, JAVA_FLOAT, 0, w.length);
  }

  /** Buffers for batch n. */
  record Buffers(MemorySegment a, MemorySegment s, int n) {}

  Buffers buffers(int n) {
    return new Buffers(arena.allocate(4 * (program.arenaPerImage() * n + NativeProgram.ARENA_SLACK), 64),
        arena.allocate(Math.max(4, 4 * program.scratchPerImage() * n), 64), n);
  }

  float[] run(float[] x, int n) {
    return run(x, n, 1);
  }

  /** Runs the model on n images with each step's tasks split over {@code threads} threads. */
  float[] run(float[] x, int n, int threads) {
    Buffers b = buffers(n);
    MemorySegment.copy(x, 0, b.a(), JAVA_FLOAT, 4 * program.inputOffset() * n, x.length);
    forward(b, threads);
    float[] y = new float[program.classes() * n];
    MemorySegment.copy(b.a(), JAVA_FLOAT, 4 * program.outputOffset() * n, y, 0, y.length);
    return y;
  }

  /**
   * Every step with its tasks split evenly over {@code threads} threads (this one and threads - 1 started for the
   * run), which meet at a spinning barrier after each step.
   */
  void forward(Buffers b, int threads) {
    if (threads == 1) {
      forward(b);
      return;
    }
    AtomicInteger arrived = new AtomicInteger();
    Thread[] workers = new Thread[threads - 1];
    for (int t = 1; t < threads; t++) {
      int id = t;
      workers[t - 1] = Thread.ofPlatform().start(() -> work(b, id, threads, arrived));
    }
    work(b, 0, threads, arrived);
    for (Thread w : workers) {
      try {
        w.join();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  private void work(Buffers b, int id, int threads, AtomicInteger arrived) {
    for (int i = 0; i < entries.length; i++) {
      int total = b.n() * program.steps().get(i).tasksPerImage();
      call(i, b, (int) ((long) total * id / threads), (int) ((long) total * (id + 1) / threads));
      arrived.incrementAndGet();
      // spin, but give the core away when the machine is busy
      for (int spins = 0; arrived.get() < (i + 1) * threads; spins++) {
        if (spins < 10_000) Thread.onSpinWait();
        else Thread.yield();
      }
    }
  }

  /** Every step over all its tasks on this thread. */
  void forward(Buffers b) {
    for (int i = 0; i < entries.length; i++) call(i, b, 0, b.n() * program.steps().get(i).tasksPerImage());
  }

  /** Step i alone, for per-layer timing. */
  void call(int i, Buffers b, int begin, int end) {
    try {
      STEP.invokeExact(entries[i], b.a(), weights, b.s(), b.n(), begin, end);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  @Override
  public void close() {
    arena.close();
  }
}
