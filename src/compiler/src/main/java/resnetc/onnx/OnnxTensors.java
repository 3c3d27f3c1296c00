package resnetc.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import resnetc.onnx.ConstTensor.Unsupported;
import resnetc.onnx.proto.Onnx.StringStringEntryProto;
import resnetc.onnx.proto.Onnx.TensorProto;

/**
 * Reads the data of ONNX tensors: float32, int64, int32 and bool, from {@code raw_data} (little-endian), the typed
 * fields, or an external data file. An external file must lie inside the model's directory (no absolute paths, no
 * {@code ..}, no symbolic link leading out of it), and every offset and length is checked against the file and
 * the tensor's shape before anything is read. One instance per import; it keeps the external files open until
 * {@link #close}.
 */
final class OnnxTensors implements AutoCloseable {
  /** The largest tensor read from a file, in elements (1 GiB of float32). */
  static final long MAX_ELEMENTS = 1 << 28;

  /** The model's directory, for external data; null when the model came without one (no external data). */
  private final Path dir;
  private final Map<Path, FileChannel> open = new HashMap<>();

  OnnxTensors(Path dir) {
    this.dir = dir;
  }

  static String typeName(int type) {
    TensorProto.DataType t = TensorProto.DataType.forNumber(type);
    return t == null ? "data type " + type : t.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** The tensor's value; {@code what} names it in errors (e.g. "initializer 'conv1.weight'"). */
  ConstTensor read(TensorProto t, String what) {
    long[] dims = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
    int n = ConstTensor.size(dims, MAX_ELEMENTS, what + " shape");
    int type = t.getDataType();
    int width = switch (type) {
      case 1, 6 -> 4; // FLOAT, INT32
      case 7 -> 8;    // INT64
      case 9 -> 1;    // BOOL
      default -> throw new Unsupported(what + " has type " + typeName(type)
          + " (resnetc computes in float32 and folds int64/int32/bool shape constants)");
    };
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) return decode(dims, type, external(t, (long) n * width, what), n);
    if (t.hasRawData()) {
      if (t.getRawData().size() != (long) n * width) {
        throw new Unsupported(what + " has " + t.getRawData().size() + " bytes of raw data, its shape " + ConstTensor.text(dims) + " needs " + (long) n * width);
      }
      return decode(dims, type, t.getRawData().asReadOnlyByteBuffer(), n);
    }
    int count = switch (type) {
      case 1 -> t.getFloatDataCount();
      case 7 -> t.getInt64DataCount();
      default -> t.getInt32DataCount(); // int32 and bool live in int32_data
    };
    if (count != n) throw new Unsupported(what + " has " + count + " values, its shape " + ConstTensor.text(dims) + " needs " + n);
    if (type == 1) {
      float[] f = new float[n];
      for (int i = 0; i < n; i++) f[i] = t.getFloatData(i);
      return ConstTensor.ofFloats(dims, f);
    }
    long[] v = new long[n];
    for (int i = 0; i < n; i++) v[i] = type == 7 ? t.getInt64Data(i) : t.getInt32Data(i);
    return ConstTensor.ofInts(dims, v);
  }

  private static ConstTensor decode(long[] dims, int type, ByteBuffer raw, int n) {
    ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    if (type == 1) {
      float[] f = new float[n];
      b.asFloatBuffer().get(f);
      return ConstTensor.ofFloats(dims, f);
    }
    long[] v = new long[n];
    for (int i = 0; i < n; i++) v[i] = switch (type) {
      case 7 -> b.getLong();
      case 6 -> b.getInt();
      default -> b.get() != 0 ? 1 : 0;
    };
    return ConstTensor.ofInts(dims, v);
  }

  /** The bytes of an external tensor, after checking its path, offset and length. */
  private ByteBuffer external(TensorProto t, long bytes, String what) {
    String location = null;
    long offset = 0, length = -1;
    for (StringStringEntryProto e : t.getExternalDataList()) {
      switch (e.getKey()) {
        case "location" -> location = e.getValue();
        case "offset" -> offset = number(e.getValue(), what, "offset");
        case "length" -> length = number(e.getValue(), what, "length");
        default -> { } // "checksum" and keys of newer versions do not change where the data is
      }
    }
    if (location == null || location.isEmpty()) throw new Unsupported(what + " is external but names no location");
    if (dir == null) throw new Unsupported(what + " is in an external file, but the model was not read from a directory");
    if (length >= 0 && length != bytes) throw new Unsupported(what + " has an external length of " + length + " bytes, its shape needs " + bytes);
    Path file = inside(location, what);
    try {
      FileChannel ch = open.get(file);
      if (ch == null) {
        ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        open.put(file, ch);
      }
      long size = ch.size();
      if (offset > size || bytes > size - offset) {
        throw new Unsupported(what + ": the " + bytes + " bytes at offset " + offset + " lie outside the " + size + " bytes of " + location);
      }
      ByteBuffer buf = ByteBuffer.allocate((int) bytes);
      for (long at = offset; buf.hasRemaining(); ) {
        int r = ch.read(buf, at);
        if (r < 0) throw new Unsupported(what + ": " + location + " ended early");
        at += r;
      }
      return buf.flip();
    } catch (IOException e) {
      throw new Unsupported(what + ": cannot read external data " + location + " (" + e.getMessage() + ")");
    }
  }

  /**
   * The external file: a relative path without {@code ..} that stays inside the model's directory even after
   * following symbolic links, and a regular file.
   */
  private Path inside(String location, String what) {
    String refusal = what + ": external data location '" + location + "' ";
    if (location.indexOf('\0') >= 0 || location.startsWith("/") || location.startsWith("\\") || location.contains(":")) {
      throw new Unsupported(refusal + "is not a relative path inside the model's directory");
    }
    for (String part : location.split("[/\\\\]")) {
      if (part.equals("..")) throw new Unsupported(refusal + "leaves the model's directory");
    }
    try {
      Path base = dir.toRealPath();
      Path file = base.resolve(location).normalize();
      if (!file.startsWith(base) || !Files.exists(file)) {
        throw new Unsupported(refusal + (file.startsWith(base) ? "does not exist" : "leaves the model's directory"));
      }
      Path real = file.toRealPath();
      if (!real.startsWith(base)) throw new Unsupported(refusal + "is a link leading out of the model's directory");
      if (!Files.isRegularFile(real)) throw new Unsupported(refusal + "is not a regular file");
      return real;
    } catch (IOException | java.nio.file.InvalidPathException e) {
      throw new Unsupported(refusal + "cannot be read (" + e.getMessage() + ")");
    }
  }

  private static long number(String text, String what, String key) {
    try {
      long v = Long.parseLong(text.strip());
      if (v < 0) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new Unsupported(what + ": external " + key + " '" + text + "' is not a byte count");
    }
  }

  @Override
  public void close() {
    for (FileChannel ch : open.values()) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // read-only channels: nothing was written that closing could lose
      }
    }
    open.clear();
  }
}
