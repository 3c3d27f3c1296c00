package resnetc.runtime;

import java.util.Arrays;

/**
 * Raw pixels (0..255, NCHW) to model input: {@code (x / div - mean[c]) / std[c]}, computed as the reference
 * interpreter computes its {@code normalize} op; {@code resize}/{@code crop} (0 = none) say how images are
 * brought to the input size (shorter side to {@code resize}, then a center crop of {@code crop}).
 */
public record Preprocessing(float div, float[] mean, float[] std, int resize, int crop) {
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
