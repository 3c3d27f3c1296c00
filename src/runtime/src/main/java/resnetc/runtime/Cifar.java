package resnetc.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CIFAR binary records (label byte, then 1024 R, 1024 G, 1024 B bytes) as raw pixel values 0..255 in NCHW,
 * which is the order the records already use.
 */
public record Cifar(float[] pixels, int[] labels) {
  public static final int RECORD = 1 + 3 * 32 * 32;

  public int count() {
    return labels.length;
  }

  /** Reads at most {@code limit} records (all when limit <= 0). */
  public static Cifar read(Path file, int limit) throws IOException {
    long size = Files.size(file);
    if (size == 0 || size % RECORD != 0) {
      throw new IllegalArgumentException(file + ": " + size + " bytes is not a whole number of CIFAR records of " + RECORD + " bytes");
    }
    int n = (int) (size / RECORD);
    if (limit > 0) n = Math.min(n, limit);
    byte[] bytes = new byte[n * RECORD];
    try (var in = Files.newInputStream(file)) {
      in.readNBytes(bytes, 0, bytes.length);
    }
    float[] pixels = new float[n * (RECORD - 1)];
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) {
      labels[i] = bytes[i * RECORD] & 0xff;
      for (int j = 1; j < RECORD; j++) pixels[i * (RECORD - 1) + j - 1] = bytes[i * RECORD + j] & 0xff;
    }
    return new Cifar(pixels, labels);
  }
}
