package resnetc.runtime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Little-endian float32 files: raw tensors with no header, as the CLI reads and writes them. */
public final class F32 {
  private F32() {}

  public static float[] read(Path file) throws IOException {
    long size = Files.size(file);
    if (size % 4 != 0) throw new IllegalArgumentException(file + ": " + size + " bytes is not a whole number of float32 values");
    byte[] bytes = Files.readAllBytes(file);
    float[] out = new float[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  public static void write(Path file, float[] values) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    Files.write(file, buf.array());
  }

  /** Index of the largest of {@code n} values starting at {@code offset}. */
  public static int argmax(float[] v, int offset, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
    return best;
  }
}
