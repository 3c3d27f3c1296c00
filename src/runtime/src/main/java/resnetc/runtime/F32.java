package resnetc.runtime;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Little-endian float32 files: raw tensors with no header, as the CLI reads and writes them. */
public final class F32 {
  private F32() {}

  /** The whole file as one array; a file larger than one array holds is an error (see {@link InputFile#f32}). */
  public static float[] read(Path file) throws IOException {
    long size = InputFile.checkReadable(file);
    if (size % 4 != 0) throw new IllegalArgumentException(file + ": " + size + " bytes is not a whole number of float32 values");
    if (size / 4 > InputFile.MAX_ARRAY) {
      throw new IllegalArgumentException(file + ": " + size / 4 + " float32 values do not fit one array; read it in batches");
    }
    byte[] bytes = Files.readAllBytes(file);
    float[] out = new float[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /** Writes {@code values} to {@code file} atomically (see {@link AtomicFile}). */
  public static void write(Path file, float[] values) throws IOException {
    AtomicFile.write(file, out -> write(out, values, 0, values.length));
  }

  /** Appends {@code n} values from {@code offset} to a stream, little-endian. */
  public static void write(OutputStream out, float[] values, int offset, int n) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(Math.min(n, 1 << 14) * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int done = 0; done < n; ) {
      int k = Math.min(n - done, buf.capacity() / 4);
      buf.clear();
      buf.asFloatBuffer().put(values, offset + done, k);
      out.write(buf.array(), 0, 4 * k);
      done += k;
    }
  }

  /** Index of the largest of {@code n} values starting at {@code offset}. */
  public static int argmax(float[] v, int offset, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
    return best;
  }
}
