package resnetc.runtime;

import java.util.Locale;

/**
 * Scores outputs batch by batch: correct top-1 predictions against labels, and images whose outputs are not all
 * finite. An image with a NaN or infinite output counts as wrong (the argmax of NaNs means nothing), and the
 * accuracy line says how many there were, so an accuracy over garbage is never printed as if it were meaningful.
 */
public final class Accuracy {
  private long images, correct, nonFinite;

  /** Adds {@code n} images' outputs ({@code [n, classes]}); {@code labels} may be null (no accuracy, only checks). */
  public void add(float[] outputs, int[] labels, int n, int classes) {
    for (int i = 0; i < n; i++) {
      boolean finite = true;
      for (int c = 0; c < classes; c++) finite &= Float.isFinite(outputs[i * classes + c]);
      if (!finite) nonFinite++;
      else if (labels != null && F32.argmax(outputs, i * classes, classes) == labels[i]) correct++;
    }
    images += n;
  }

  public long images() {
    return images;
  }

  public long correct() {
    return correct;
  }

  /** Images with at least one NaN or infinite output. */
  public long nonFinite() {
    return nonFinite;
  }

  public double value() {
    return images == 0 ? 0 : (double) correct / images;
  }

  /** {@code accuracy: 0.7950}, followed by a warning in words when some outputs were not finite. */
  public String line() {
    String line = String.format(Locale.ROOT, "accuracy: %.4f", value());
    return nonFinite == 0 ? line : line + " (not meaningful: " + nonFinite + " of " + images
        + " images have non-finite outputs, counted as wrong)";
  }

  /** A warning when some outputs were not finite, else null. */
  public String warning() {
    return nonFinite == 0 ? null : "warning: " + nonFinite + " of " + images
        + " images have NaN or infinite outputs; the weights or the input hold non-finite values, or the model overflows";
  }
}
