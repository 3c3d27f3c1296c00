package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import resnetc.TestPaths;

/**
 * The 55 genuine {@code torch.save} files of ../shared/models/torch-fixtures (both formats, every storage type,
 * views, shared storages, nested dicts, parameters, scalars, empty tensors, NaN and infinities) against the values
 * an independent reader recorded in their expected.json: every tensor's name (nested keys joined with '.'), dtype,
 * shape, first values (exactly), sum of finite values and count of non-finite ones. The broken file is refused with
 * a one-line error.
 */
class TorchFixturesTest {
  @TestFactory
  Stream<DynamicTest> everyFixtureMatchesTheIndependentReader() throws IOException {
    Optional<Path> dir = TestPaths.shared("models/torch-fixtures");
    Assumptions.assumeTrue(dir.isPresent(), "../shared/models/torch-fixtures is absent");
    @SuppressWarnings("unchecked")
    Map<String, Object> expected = (Map<String, Object>) Json.parse(Files.readString(dir.get().resolve("expected.json")));
    assertEquals(55, expected.size());
    return expected.entrySet().stream().map(e -> DynamicTest.dynamicTest(e.getKey(), () -> check(dir.get().resolve(e.getKey()), e.getValue())));
  }

  @SuppressWarnings("unchecked")
  private static void check(Path file, Object expectation) {
    Map<String, Object> want = (Map<String, Object>) expectation;
    if (!(Boolean) want.get("ok")) {
      WeightException e = assertThrows(WeightException.class, () -> WeightFile.open(file).close());
      assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
      return;
    }
    Map<String, Object> tensors = (Map<String, Object>) want.get("tensors");
    try (TorchCheckpoint ckpt = TorchCheckpoint.open(file, null)) {
      Map<String, TorchCheckpoint.Entry> all = TorchCheckpoint.flatten(ckpt.root(), file.toString());
      assertEquals(List.copyOf(tensors.keySet()), List.copyOf(all.keySet()), "tensor names");
      for (var t : tensors.entrySet()) {
        String name = t.getKey();
        Map<String, Object> w = (Map<String, Object>) t.getValue();
        TorchCheckpoint.Entry got = all.get(name);
        // expected.json gives dtypes after conversion: bfloat16 widened to float32.
        assertEquals(w.get("dtype"), torchName(got.dtype()), name + " dtype");
        assertArrayEquals(((List<Object>) w.get("shape")).stream().mapToInt(o -> ((Number) o).intValue()).toArray(), got.shape(), name + " shape");
        double[] values = values(got);
        List<Object> first = (List<Object>) w.get("first");
        for (int i = 0; i < first.size(); i++) assertEquals(number(first.get(i)), values[i], 0, name + "[" + i + "]");
        double sum = 0;
        int nonFinite = 0;
        for (double v : values) {
          if (Double.isFinite(v)) sum += v;
          else nonFinite++;
        }
        double wantSum = ((Number) w.get("finite_sum")).doubleValue();
        assertEquals(wantSum, sum, 1e-9 * Math.max(1, Math.abs(wantSum)), name + " finite sum");
        assertEquals(((Number) w.get("nonfinite")).intValue(), nonFinite, name + " non-finite count");
        if (WeightFile.FLOAT_DTYPES.contains(got.dtype())) {
          float[] floats = got.tensor().toFloats();
          for (int i = 0; i < values.length; i++) {
            assertEquals(Float.floatToRawIntBits((float) values[i]), Float.floatToRawIntBits(floats[i]), name + "[" + i + "] as float32");
          }
        }
      }
    }
  }

  private static String torchName(String dtype) {
    return switch (dtype) {
      case "F32", "BF16" -> "float32";
      case "F64" -> "float64";
      case "F16" -> "float16";
      case "I64" -> "int64";
      case "I32" -> "int32";
      case "I16" -> "int16";
      case "I8" -> "int8";
      case "U8" -> "uint8";
      case "BOOL" -> "bool";
      default -> throw new AssertionError(dtype);
    };
  }

  /** The tensor's elements decoded from its raw little-endian bytes, independently of the reader's float path. */
  static double[] values(TorchCheckpoint.Entry e) {
    ByteBuffer b = ByteBuffer.wrap(e.tensor().toBytes()).order(ByteOrder.LITTLE_ENDIAN);
    double[] out = new double[(int) e.elements()];
    for (int i = 0; i < out.length; i++) {
      out[i] = switch (e.dtype()) {
        case "F32" -> b.getFloat();
        case "F64" -> b.getDouble();
        case "F16" -> Float.float16ToFloat(b.getShort());
        case "BF16" -> Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
        case "I64" -> b.getLong();
        case "I32" -> b.getInt();
        case "I16" -> b.getShort();
        case "I8" -> b.get();
        case "U8" -> b.get() & 0xff;
        case "BOOL" -> b.get() != 0 ? 1 : 0;
        default -> throw new AssertionError(e.dtype());
      };
    }
    return out;
  }

  private static double number(Object o) {
    if (o instanceof Number n) return n.doubleValue();
    return switch ((String) o) {
      case "nan" -> Double.NaN;
      case "inf" -> Double.POSITIVE_INFINITY;
      case "-inf" -> Double.NEGATIVE_INFINITY;
      default -> throw new AssertionError("unexpected value " + o);
    };
  }

  /** A small JSON reader onto maps, lists, strings, numbers, booleans and null (jackson-core has no tree model). */
  static final class Json {
    static Object parse(String text) throws IOException {
      try (JsonParser p = new JsonFactory().createParser(text)) {
        p.nextToken();
        return value(p);
      }
    }

    private static Object value(JsonParser p) throws IOException {
      JsonToken t = p.currentToken();
      switch (t) {
        case START_OBJECT -> {
          Map<String, Object> m = new LinkedHashMap<>();
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String k = p.currentName();
            p.nextToken();
            m.put(k, value(p));
          }
          return m;
        }
        case START_ARRAY -> {
          List<Object> l = new ArrayList<>();
          while (p.nextToken() != JsonToken.END_ARRAY) l.add(value(p));
          return l;
        }
        case VALUE_STRING -> {
          return p.getText();
        }
        case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
          return p.getDoubleValue();
        }
        case VALUE_TRUE, VALUE_FALSE -> {
          return t == JsonToken.VALUE_TRUE;
        }
        case VALUE_NULL -> {
          return null;
        }
        default -> throw new IOException("unexpected " + t);
      }
    }
  }
}
