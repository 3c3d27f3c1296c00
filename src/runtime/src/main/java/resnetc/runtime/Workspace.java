package resnetc.runtime;

import java.util.concurrent.atomic.AtomicReference;

/**
 * The activation arena and scratch of a generated model, kept from one call for the next call of the same batch
 * size (allocating and zeroing them cost ResNet-50 about 20 MB per call). A call takes the spare buffers, so no two
 * calls share them, and gives them back when done; a call that finds none allocates. Kernels never read what they
 * did not write in the same call (except in lanes they drop), so stale values are harmless.
 */
public final class Workspace {
  /** The buffers of one call at batch {@code batch}: arena {@code a} (with its slack) and scratch {@code s}. */
  public record Buffers(int batch, float[] a, float[] s) {}

  private final long arenaPerImage, scratchPerImage;
  private final int slack;
  private final AtomicReference<Buffers> spare = new AtomicReference<>();

  public Workspace(long arenaPerImage, int slack, long scratchPerImage) {
    this.arenaPerImage = arenaPerImage;
    this.slack = slack;
    this.scratchPerImage = scratchPerImage;
  }

  public Buffers take(int n) {
    Buffers b = spare.getAndSet(null);
    if (b != null && b.batch() == n) return b;
    return new Buffers(n, new float[Math.toIntExact(Math.addExact(Math.multiplyExact(arenaPerImage, n), slack))],
        new float[Math.toIntExact(Math.multiplyExact(scratchPerImage, n))]);
  }

  public void give(Buffers b) {
    spare.set(b);
  }

  /** Drops the spare buffers (on close). */
  public void clear() {
    spare.set(null);
  }
}
