package resnetc.runtime;

import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * The activation arena and scratch of a generated model, kept from one call for the next call of the same batch
 * size (allocating and zeroing them cost ResNet-50 about 20 MB per call). A call takes spare buffers of its batch
 * size, so no two calls share them, and gives them back when done; a call that finds none allocates. Up to
 * {@code spares} sets are kept, one per call the instance runs at the same time (a server runs as many as the
 * model has threads); beyond that the oldest are dropped. Kernels never read what they did not write in the same
 * call (except in lanes they drop), so stale values are harmless.
 */
public final class Workspace {
  /** The buffers of one call at batch {@code batch}: arena {@code a} (with its slack) and scratch {@code s}. */
  public record Buffers(int batch, float[] a, float[] s) {}

  private final long arenaPerImage, scratchPerImage;
  private final int slack, maxBatch, spares;
  private final ConcurrentLinkedDeque<Buffers> spare = new ConcurrentLinkedDeque<>();

  public Workspace(long arenaPerImage, int slack, long scratchPerImage) {
    this(arenaPerImage, slack, scratchPerImage, Integer.MAX_VALUE, 1);
  }

  /**
   * With a model's own limit besides the arrays' ({@code ModelDescriptor.maxBatch}: its task counts must fit an int
   * too), keeping up to {@code spares} sets of buffers.
   */
  public Workspace(long arenaPerImage, int slack, long scratchPerImage, int modelMaxBatch, int spares) {
    if (arenaPerImage < 0 || slack < 0 || scratchPerImage < 0 || slack > InputFile.MAX_ARRAY) {
      throw new IllegalArgumentException("arena, slack and scratch sizes must be non-negative");
    }
    if (spares < 1) throw new IllegalArgumentException("spares must be at least 1, got " + spares);
    this.spares = spares;
    this.arenaPerImage = arenaPerImage;
    this.slack = slack;
    this.scratchPerImage = scratchPerImage;
    this.maxBatch = Math.min(modelMaxBatch, maxBatch(arenaPerImage, slack, scratchPerImage));
  }

  /**
   * The batch limit of a generated model, the same rule for both backends: the most images per call whose
   * activation arena (with its slack) and scratch each fit one Java array, so every offset into them is an int.
   */
  public static int maxBatch(long arenaPerImage, int slack, long scratchPerImage) {
    long most = Integer.MAX_VALUE;
    if (arenaPerImage > 0) most = Math.min(most, (InputFile.MAX_ARRAY - slack) / arenaPerImage);
    if (scratchPerImage > 0) most = Math.min(most, InputFile.MAX_ARRAY / scratchPerImage);
    return (int) most;
  }

  /** The most images one call may run (see {@link #maxBatch(long, int, long)}). */
  public int maxBatch() {
    return maxBatch;
  }

  /**
   * The buffers for a call of {@code n} images, the spare ones when they fit.
   *
   * @throws IllegalArgumentException before allocating anything, when {@code n} is above {@link #maxBatch()}
   */
  public Buffers take(int n) {
    checkBatch(n);
    for (Buffers b : spare) {
      if (b.batch() == n && spare.removeFirstOccurrence(b)) return b;
    }
    return new Buffers(n, new float[(int) (arenaPerImage * n + slack)], new float[(int) (scratchPerImage * n)]);
  }

  /** Checks a call's batch before anything is allocated. */
  public void checkBatch(int n) {
    if (n < 1 || n > maxBatch) {
      throw new IllegalArgumentException("batch " + n + " is out of range: a model runs 1 to " + maxBatch
          + " images per call (its activation arena must fit one Java array); split the input into smaller batches");
    }
  }

  /** Keeps {@code b} for a later call, the most recent first; drops the oldest beyond {@code spares}. */
  public void give(Buffers b) {
    spare.addFirst(b);
    while (spare.size() > spares) spare.pollLast();
  }

  /** Drops the spare buffers (on close). */
  public void clear() {
    spare.clear();
  }
}
