package resnetc.weights;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import resnetc.ir.Tensor;
import resnetc.runtime.AtomicFile;

/**
 * Writes safetensors files, laid out as the reference implementation does. The file appears whole or not at all:
 * it is written to a temporary file in the same directory, then renamed over the target.
 */
public final class SafeTensorsWriter {
  private static final JsonFactory JSON = new JsonFactory();

  /** A tensor in any safetensors dtype: its shape and, produced only while it is written, its little-endian bytes. */
  public record RawTensor(String dtype, int[] shape, Supplier<byte[]> bytes) {
    long byteSize() {
      long n = SafeTensors.DTYPE_SIZES.get(dtype);
      for (int d : shape) n *= d;
      return n;
    }
  }

  private SafeTensorsWriter() {}

  /** Writes float32 {@code tensors} in map order; {@code metadata} may be null or empty. */
  public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
    Map<String, RawTensor> raw = new LinkedHashMap<>();
    tensors.forEach((name, t) -> raw.put(name, new RawTensor("F32", t.type().dims(), () -> {
      ByteBuffer b = ByteBuffer.allocate(4 * t.data().length).order(ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(t.data());
      return b.array();
    })));
    writeRaw(path, raw, metadata);
  }

  /** Writes {@code tensors} in map order, each in its own dtype; {@code metadata} may be null or empty. */
  public static void writeRaw(Path path, Map<String, RawTensor> tensors, Map<String, String> metadata) {
    if (tensors.containsKey("__metadata__")) throw new IllegalArgumentException("\"__metadata__\" is not a tensor name");
    for (RawTensor t : tensors.values()) {
      if (!SafeTensors.DTYPE_SIZES.containsKey(t.dtype())) throw new IllegalArgumentException("unknown safetensors dtype " + t.dtype());
    }
    byte[] header = header(tensors, metadata);
    try {
      AtomicFile.write(path, out -> {
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length).array());
        out.write(header);
        for (Map.Entry<String, RawTensor> e : tensors.entrySet()) {
          byte[] bytes = e.getValue().bytes().get();
          if (bytes.length != e.getValue().byteSize()) {
            throw new IllegalArgumentException("tensor " + e.getKey() + " has " + bytes.length + " bytes, its shape needs " + e.getValue().byteSize());
          }
          out.write(bytes);
        }
      });
    } catch (IOException e) {
      throw SafeTensors.error(path, "cannot write: " + e.getMessage());
    }
  }

  /** The JSON header, space-padded to a multiple of 8 bytes so the data section starts aligned. */
  private static byte[] header(Map<String, RawTensor> tensors, Map<String, String> metadata) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      if (metadata != null && !metadata.isEmpty()) {
        g.writeObjectFieldStart("__metadata__");
        for (Map.Entry<String, String> e : metadata.entrySet()) g.writeStringField(e.getKey(), e.getValue());
        g.writeEndObject();
      }
      long offset = 0;
      for (Map.Entry<String, RawTensor> e : tensors.entrySet()) {
        RawTensor t = e.getValue();
        long end = offset + t.byteSize();
        g.writeObjectFieldStart(e.getKey());
        g.writeStringField("dtype", t.dtype());
        g.writeFieldName("shape");
        g.writeArray(t.shape(), 0, t.shape().length);
        g.writeFieldName("data_offsets");
        g.writeArray(new long[] {offset, end}, 0, 2);
        g.writeEndObject();
        offset = end;
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new IllegalStateException("in-memory JSON failed", e); // ByteArrayOutputStream does not throw
    }
    byte[] json = out.toByteArray();
    byte[] padded = Arrays.copyOf(json, (json.length + 7) & ~7);
    Arrays.fill(padded, json.length, padded.length, (byte) ' ');
    return padded;
  }
}
