package resnetc.weights;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import resnetc.ir.Tensor;
import resnetc.runtime.AtomicFile;

/** Writes float32 tensors as a safetensors file, laid out as the reference implementation does. */
public final class SafeTensorsWriter {
  private static final JsonFactory JSON = new JsonFactory();

  private SafeTensorsWriter() {}

  /** Writes {@code tensors} in map order; {@code metadata} may be null or empty. */
  public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
    if (tensors.containsKey("__metadata__")) throw new IllegalArgumentException("\"__metadata__\" is not a tensor name");
    byte[] header = header(tensors, metadata);
    try {
      AtomicFile.write(path, out -> {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(header.length);
        out.write(buf.array(), 0, buf.position());
        out.write(header);
        buf.clear();
        for (Tensor t : tensors.values()) {
          for (float v : t.data()) {
            if (!buf.hasRemaining()) {
              out.write(buf.array(), 0, buf.position());
              buf.clear();
            }
            buf.putFloat(v);
          }
        }
        out.write(buf.array(), 0, buf.position());
      });
    } catch (IOException e) {
      throw new WeightException(e.getMessage());
    }
  }

  /** The JSON header, space-padded to a multiple of 8 bytes so the data section starts aligned. */
  private static byte[] header(Map<String, Tensor> tensors, Map<String, String> metadata) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      if (metadata != null && !metadata.isEmpty()) {
        g.writeObjectFieldStart("__metadata__");
        for (Map.Entry<String, String> e : metadata.entrySet()) g.writeStringField(e.getKey(), e.getValue());
        g.writeEndObject();
      }
      long offset = 0;
      for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
        Tensor t = e.getValue();
        long end = offset + 4L * t.data().length;
        g.writeObjectFieldStart(e.getKey());
        g.writeStringField("dtype", "F32");
        g.writeFieldName("shape");
        g.writeArray(t.type().dims(), 0, t.type().rank());
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
