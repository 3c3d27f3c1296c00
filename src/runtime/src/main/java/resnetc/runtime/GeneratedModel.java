package resnetc.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
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

  protected GeneratedModel(ModelDescriptor model, int threads) {
    this.model = model;
    this.team = new ThreadTeam(threads);
    // as many spare buffer sets as threads: a server runs that many calls at once when busy (ThreadTeam.onCallerOnly)
    this.work = new Workspace(model.arena(), model.arenaSlack(), model.scratch(), model.maxBatch(), threads);
    this.nanos = new AtomicLongArray(model.layers().size());
  }

  /**
   * Runs every layer over the arena {@code a} of a call at batch {@code n}: the input is already in place, the
   * output is read after; {@code s} is the call's scratch.
   */
  protected abstract void forward(float[] a, float[] s, int n);

  @Override
  public final float[] predict(float[] x, int n) {
    CompiledModel.checkInput(this, x.length, n);
    Workspace.Buffers b = work.take(n);
    System.arraycopy(x, 0, b.a(), Math.toIntExact(model.input() * n), x.length);
    forward(b.a(), b.s(), n);
    int out = Math.toIntExact(model.output() * n);
    float[] y = Arrays.copyOfRange(b.a(), out, out + model.classes() * n);
    work.give(b);
    return y;
  }

  @Override
  public final void predict(MemorySegment input, MemorySegment output, int n) {
    CompiledModel.checkSegments(this, input, output, n);
    Workspace.Buffers b = work.take(n);
    MemorySegment.copy(input, ValueLayout.JAVA_FLOAT, 0, b.a(), Math.toIntExact(model.input() * n), n * inputSize());
    forward(b.a(), b.s(), n);
    MemorySegment.copy(b.a(), Math.toIntExact(model.output() * n), output, ValueLayout.JAVA_FLOAT, 0, n * model.classes());
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
