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
    for (int i = 0; i < pixels.length; i++) {
      int c = (i / plane) % channels;
      pixels[i] = (pixels[i] / div - mean[c]) / std[c];
    }
    return pixels;
  }
}
