package resnetc.runtime;

import java.io.IOException;
import java.nio.file.Path;

/**
 * CIFAR binary records (label byte, then 1024 R, 1024 G, 1024 B bytes) as raw pixel values 0..255 in NCHW,
 * which is the order the records already use. {@link InputFile#cifar} reads them a batch at a time.
 */
public record Cifar(float[] pixels, int[] labels) {
  public static final int RECORD = 1 + 3 * 32 * 32;

  public int count() {
    return labels.length;
  }

  /**
   * Reads at most {@code limit} records (all when limit <= 0) into one array; a file larger than one array holds is
   * an error (read it a batch at a time with {@link InputFile#cifar}).
   */
  public static Cifar read(Path file, int limit) throws IOException {
    try (InputFile in = InputFile.cifar(file, limit)) {
      if (in.count() > InputFile.MAX_ARRAY / (RECORD - 1)) {
        throw new IllegalArgumentException(file + ": " + in.count() + " records do not fit one array; read them in batches");
      }
      InputFile.Batch all = in.next((int) in.count());
      return new Cifar(all.values(), all.labels());
    }
  }
}
