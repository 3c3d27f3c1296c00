package resnetc.runtime;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A model compiled by resnetc. Inputs are preprocessed float32 NCHW ({@link #preprocessing()} turns raw pixels
 * into that); outputs are {@code [batch, classes]} (logits, or probabilities when the spec ends in softmax).
 * Implementations are safe to call from many threads at once: weights are shared and read-only, scratch memory
 * belongs to one call at a time (an instance may keep it for its next call).
 */
public interface CompiledModel extends AutoCloseable {
  String name();

  /** Input channels, height and width of one image. */
  int channels();

  int height();

  int width();

  int classes();

  default int inputSize() {
    return channels() * height() * width();
  }

  /** The spec's preprocessing (identity when it has none). */
  Preprocessing preprocessing();

  /** Class names in output order, empty when the spec names no label file. */
  List<String> labels();

  /** Runs {@code batch} images; {@code nchw.length} must be {@code batch * inputSize()}. */
  float[] predict(float[] nchw, int batch);

  /**
   * Runs {@code batch} images from {@code input} (float32 NCHW, native byte order) into {@code output}
   * ({@code batch * classes()} floats). Sizes are checked before any work.
   */
  void predict(MemorySegment input, MemorySegment output, int batch);

  /**
   * The system property that turns per-layer timing on ({@code -Dresnetc.profile=true}). A generated class reads
   * it once, when it initializes, so it must be set before the class loads.
   */
  String PROFILE_PROPERTY = "resnetc.profile";

  /** The threads one call is split over (this instance's team, the calling thread included). */
  default int threads() {
    return 1;
  }

  /** Which resnetc backend generated the model: {@code java}, {@code native}, or empty when not known. */
  default String backend() {
    return "";
  }

  /** The instruction set the model's kernels use on this machine, e.g. {@code x86-64-v4}; empty when not known. */
  default String isa() {
    return "";
  }

  /**
   * How many images of a batch go through the layers together on this machine: a larger batch runs as several
   * passes, each small enough for the cache ({@code Integer.MAX_VALUE}: the whole batch at once).
   */
  default int imagesPerPass() {
    return Integer.MAX_VALUE;
  }

  /** Layer names in execution order, for profiles (see {@link Profile}). */
  default List<String> layers() {
    return List.of();
  }

  /**
   * What each layer computes, e.g. {@code conv 3x3}, {@code conv 1x1 s2} (stride 2), {@code fc}, {@code global
   * avgpool}; layers of the same kind run the same kernel shape. Empty when the model does not say.
   */
  default List<String> layerKinds() {
    return List.of();
  }

  /** Each layer's output shape per image, e.g. {@code 32x16x16}; empty when the model does not say. */
  default List<String> layerShapes() {
    return List.of();
  }

  /** Floating-point operations per image of each layer (2 x MACs for convolutions and dense layers). */
  default long[] layerFlops() {
    return new long[0];
  }

  /**
   * Nanoseconds spent in each layer by this instance so far, summed over every call since it was created (never
   * reset: the difference of two snapshots times the calls between them); counted only when the JVM runs with
   * {@code -Dresnetc.profile=true} (zeros otherwise). A layer's time is the wall time of the calling thread from
   * the end of the layer before to the end of this one, its work on the thread team included.
   */
  default long[] layerNanos() {
    return new long[0];
  }

  /** Releases the threads of this instance; the weights stay for other instances. */
  @Override
  void close();

  /** Checks an input array before any work; the message says what was expected. */
  /** The sizes {@code predict(input, output, n)} needs, checked before any work. */
  static void checkSegments(CompiledModel m, java.lang.foreign.MemorySegment input, java.lang.foreign.MemorySegment output, int n) {
    if (n < 1 || input.byteSize() != 4L * n * m.inputSize() || output.byteSize() != 4L * n * m.classes()) {
      throw new IllegalArgumentException("batch " + n + ": input must be exactly batch x C x H x W floats and output batch x classes floats, got "
          + input.byteSize() + " and " + output.byteSize() + " bytes");
    }
  }

  static void checkInput(CompiledModel m, int length, int batch) {
    if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
    long need = (long) batch * m.inputSize();
    if (length != need) {
      throw new IllegalArgumentException(m.name() + " takes " + batch + " x " + m.channels() + "x" + m.height() + "x" + m.width()
          + " = " + need + " floats, got " + length);
    }
  }
}
