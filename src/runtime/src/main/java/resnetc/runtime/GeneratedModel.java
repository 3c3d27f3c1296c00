package resnetc.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What every class resnetc generates shares, whatever its target: the {@link CompiledModel} API over a
 * {@link ModelDescriptor}, input checks, the activation arena and scratch of each call ({@link Workspace}), the
 * thread team, and per-layer profile counters. A generated class adds its layers: {@link #forward}.
 */
public abstract class GeneratedModel implements CompiledModel {
  private final ModelDescriptor model;
  /** The threads each layer is split over. */
  protected final ThreadTeam team;
  private final Workspace work;
  private final AtomicLongArray nanos;
  /** Images per pass through the layers (see {@link #imagesPerPass(long, CpuCaches, String)}). */
  private final int imagesPerPass;

  /** The system property that sets the images per pass ({@code all}: the whole batch at once). */
  public static final String IMAGES_PER_PASS_PROPERTY = "resnetc.imagesPerPass";

  protected GeneratedModel(ModelDescriptor model, int threads) {
    this.model = model;
    this.team = new ThreadTeam(threads);
    // as many spare buffer sets as threads: a server runs that many calls at once when busy (ThreadTeam.onCallerOnly)
    this.work = new Workspace(model.arena(), model.arenaSlack(), model.scratch(), model.maxBatch(), threads);
    this.nanos = new AtomicLongArray(model.layers().size());
    this.imagesPerPass = imagesPerPass(4 * (model.arena() + model.scratch()), CpuCaches.here(), System.getProperty(IMAGES_PER_PASS_PROPERTY));
  }

  /**
   * How many images of a batch go through the layers together. Each step runs over all the images of a pass before
   * the next step, so a pass's activations and scratch should stay in the cache: a batch whose working set is
   * larger runs as consecutive passes of at most this many images (outputs unchanged bit for bit: no image's sums
   * depend on the others). The budget is a quarter of the L3 (on a 2-core Zen 4 VM with a 32 MB L3, ResNet-20 with
   * Winograd, 730 KB per image, ran 0.83 ms per image in passes of 8 or 16 images, 0.98 at 32 and 1.26 at 64). A
   * model whose single image already exceeds half the budget (ResNet-50 at 224x224) runs the whole batch at once, so
   * its weight-heavy layers read each weight once per batch. {@code override} ({@code -Dresnetc.imagesPerPass}): a
   * positive count, or {@code all}.
   */
  static int imagesPerPass(long bytesPerImage, CpuCaches caches, String override) {
    if (override != null && !override.isBlank()) {
      if (override.strip().equals("all")) return Integer.MAX_VALUE;
      try {
        int n = Integer.parseInt(override.strip());
        if (n >= 1) return n;
      } catch (NumberFormatException e) {
        // below
      }
      throw new IllegalArgumentException("-D" + IMAGES_PER_PASS_PROPERTY + " must be a positive number or 'all', got '" + override + "'");
    }
    long budget = caches.l3Bytes() / 4;
    if (budget <= 0 || 2 * bytesPerImage > budget) return Integer.MAX_VALUE;
    return (int) Math.min(Integer.MAX_VALUE, budget / Math.max(1, bytesPerImage));
  }

  @Override
  public final int imagesPerPass() {
    return imagesPerPass;
  }

  /**
   * Runs every layer over the arena {@code a} of a call at batch {@code n}: the input is already in place, the
   * output is read after; {@code s} is the call's scratch.
   */
  protected abstract void forward(float[] a, float[] s, int n);

  @Override
  public final float[] predict(float[] x, int n) {
    CompiledModel.checkInput(this, x.length, n);
    work.checkBatch(n);
    float[] y = new float[n * model.classes()];
    int per = Math.min(n, imagesPerPass), size = inputSize(), classes = model.classes();
    Workspace.Buffers b = work.take(per);
    for (int at = 0; at < n; at += per) {
      int k = Math.min(per, n - at);
      System.arraycopy(x, at * size, b.a(), Math.toIntExact(model.input() * k), k * size);
      forward(b.a(), b.s(), k);
      System.arraycopy(b.a(), Math.toIntExact(model.output() * k), y, at * classes, k * classes);
    }
    work.give(b);
    return y;
  }

  @Override
  public final void predict(MemorySegment input, MemorySegment output, int n) {
    CompiledModel.checkSegments(this, input, output, n);
    work.checkBatch(n);
    int per = Math.min(n, imagesPerPass), size = inputSize(), classes = model.classes();
    Workspace.Buffers b = work.take(per);
    for (int at = 0; at < n; at += per) {
      int k = Math.min(per, n - at);
      MemorySegment.copy(input, ValueLayout.JAVA_FLOAT, 4L * at * size, b.a(), Math.toIntExact(model.input() * k), k * size);
      forward(b.a(), b.s(), k);
      MemorySegment.copy(b.a(), Math.toIntExact(model.output() * k), output, ValueLayout.JAVA_FLOAT, 4L * at * classes, k * classes);
    }
    work.give(b);
  }

  /** Adds the time since {@code t0} to layer {@code layer}'s counter and returns now. */
  protected final long lap(int layer, long t0) {
    long t1 = System.nanoTime();
    nanos.addAndGet(layer, t1 - t0);
    return t1;
  }

  @Override
  public int threads() {
    return team.threads();
  }

  @Override
  public void close() {
    team.close();
    work.clear();
  }

  @Override
  public String backend() {
    return "java";
  }

  @Override
  public final String name() {
    return model.name();
  }

  @Override
  public final int channels() {
    return model.channels();
  }

  @Override
  public final int height() {
    return model.height();
  }

  @Override
  public final int width() {
    return model.width();
  }

  @Override
  public final int classes() {
    return model.classes();
  }

  @Override
  public final Preprocessing preprocessing() {
    return model.preprocessing();
  }

  @Override
  public final List<String> labels() {
    return model.labels();
  }

  @Override
  public final List<String> layers() {
    return model.layers().stream().map(ModelDescriptor.Layer::name).toList();
  }

  @Override
  public final List<String> layerKinds() {
    return model.layers().stream().map(ModelDescriptor.Layer::kind).toList();
  }

  @Override
  public final List<String> layerShapes() {
    return model.layers().stream().map(ModelDescriptor.Layer::shape).toList();
  }

  @Override
  public final long[] layerFlops() {
    return model.layers().stream().mapToLong(ModelDescriptor.Layer::flops).toArray();
  }

  @Override
  public final long[] layerNanos() {
    long[] out = new long[nanos.length()];
    for (int i = 0; i < out.length; i++) out[i] = nanos.get(i);
    return out;
  }
}
