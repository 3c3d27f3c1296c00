package resnetc.runtime;

import java.util.Arrays;

/**
 * Raw pixels (0..255, NCHW) to model input: {@code (x / div - mean[c]) / std[c]}, computed as the reference
 * interpreter computes its {@code normalize} op; {@code resize}/{@code crop} (0 = none) say how images are
 * brought to the input size (shorter side to {@code resize}, then a center crop of {@code crop}).
 */
public record Preprocessing(float div, float[] mean, float[] std, int resize, int crop) {
  /** Keeps its own copies, so a caller's array (or a model's shared constant) never changes it afterwards. */
  public Preprocessing {
    if (mean.length != std.length) throw new IllegalArgumentException("mean has " + mean.length + " values, std " + std.length);
    mean = mean.clone();
    std = std.clone();
  }

  /** The per-channel means; a copy, so writing to it changes nothing else. */
  @Override
  public float[] mean() {
    return mean.clone();
  }

  /** The per-channel standard deviations; a copy, so writing to it changes nothing else. */
  @Override
  public float[] std() {
    return std.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Preprocessing p && Float.compare(div, p.div) == 0 && java.util.Arrays.equals(mean, p.mean)
        && java.util.Arrays.equals(std, p.std) && resize == p.resize && crop == p.crop;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(div, java.util.Arrays.hashCode(mean), java.util.Arrays.hashCode(std), resize, crop);
  }

  @Override
  public String toString() {
    return "Preprocessing[div=" + div + ", mean=" + java.util.Arrays.toString(mean) + ", std=" + java.util.Arrays.toString(std)
        + ", resize=" + resize + ", crop=" + crop + "]";
  }
  public static Preprocessing identity(int channels) {
    float[] zero = new float[channels], one = new float[channels];
    Arrays.fill(one, 1);
    return new Preprocessing(1, zero, one, 0, 0);
  }

  /** Normalizes {@code pixels} (NCHW, any batch) in place and returns it. */
  public float[] apply(float[] pixels, int channels, int plane) {
    if (channels < 1 || plane < 1) throw new IllegalArgumentException("channels and plane must be positive, got " + channels + " and " + plane);
    // one channel plane at a time, so the loop has no divisions by index and the JIT vectorizes it
    for (int start = 0, c = 0; start < pixels.length; start += plane, c = (c + 1) % channels) {
      float d = div, m = mean[c], s = std[c];
      for (int i = start, end = Math.min(start + plane, pixels.length); i < end; i++) pixels[i] = (pixels[i] / d - m) / s;
    }
    return pixels;
  }
}
