package resnetc.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The weights blob a compiled model ships as a class-path resource: raw little-endian float32, no header. */
public final class Weights {
  private static final int CHUNK = 1 << 20; // a multiple of 4, so only the end of the stream can split a float

  private Weights() {}

  /**
   * Reads {@code resource} (resolved like {@link Class#getResourceAsStream}, i.e. next to {@code owner} unless it
   * starts with '/') into exactly {@code floats} values.
   *
   * @throws IllegalStateException if the resource is missing or does not hold exactly {@code 4 * floats} bytes
   */
  public static float[] load(Class<?> owner, String resource, long floats) {
    if (floats < 0 || floats > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("cannot hold " + floats + " floats in one array (" + resource + ")");
    }
    long expected = floats * 4;
    try (InputStream in = owner.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("weights resource " + resource + " not found next to " + owner.getName()
            + " (expected " + expected + " bytes)");
      }
      float[] out = new float[(int) floats];
      byte[] chunk = new byte[(int) Math.min(CHUNK, Math.max(expected, 4))];
      ByteBuffer view = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
      int pos = 0;
      long read = 0;
      while (read < expected) {
        int n = in.readNBytes(chunk, 0, (int) Math.min(chunk.length, expected - read));
        if (n == 0) break;
        read += n;
        int whole = n / 4;
        view.clear();
        view.asFloatBuffer().get(out, pos, whole);
        pos += whole;
        if (n % 4 != 0) break; // only at the end of the stream: too short anyway
      }
      long found = read + in.transferTo(OutputStream.nullOutputStream());
      if (found != expected) {
        throw new IllegalStateException("weights resource " + resource + " next to " + owner.getName() + " has "
            + found + " bytes, expected " + expected + " (" + floats + " float32 values)");
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("reading weights resource " + resource + ": " + e.getMessage(), e);
    }
  }
}
