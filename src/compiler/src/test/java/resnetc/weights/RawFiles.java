package resnetc.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Hand-made safetensors bytes, for dtypes the writer does not produce and for broken files. */
final class RawFiles {
  private RawFiles() {}

  static Path write(Path file, String header, byte[] data) throws IOException {
    return write(file, header.getBytes(StandardCharsets.UTF_8), data);
  }

  static Path write(Path file, byte[] header, byte[] data) throws IOException {
    return writeLength(file, header.length, header, data);
  }

  /** A file whose length field says {@code declared} regardless of the header actually present. */
  static Path writeLength(Path file, long declared, byte[] header, byte[] data) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(declared).put(header).put(data);
    return Files.write(file, b.array());
  }

  static byte[] le(int bytesPerValue, long... values) {
    ByteBuffer b = ByteBuffer.allocate(bytesPerValue * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      switch (bytesPerValue) {
        case 1 -> b.put((byte) v);
        case 2 -> b.putShort((short) v);
        case 4 -> b.putInt((int) v);
        default -> b.putLong(v);
      }
    }
    return b.array();
  }

  static byte[] f32(float... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) b.putFloat(v);
    return b.array();
  }

  static byte[] f64(double... values) {
    ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (double v : values) b.putDouble(v);
    return b.array();
  }

  static byte[] concat(byte[]... parts) {
    ByteBuffer b = ByteBuffer.allocate(java.util.Arrays.stream(parts).mapToInt(p -> p.length).sum());
    for (byte[] p : parts) b.put(p);
    return b.array();
  }
}
