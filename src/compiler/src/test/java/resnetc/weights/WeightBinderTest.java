package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

class WeightBinderTest {
  @TempDir Path dir;

  private static Map<String, TensorType> expected() {
    Map<String, TensorType> m = new LinkedHashMap<>();
    m.put("conv1.weight", TensorType.of(2, 1, 1, 1));
    m.put("bn1.weight", TensorType.of(2));
    m.put("fc.weight", TensorType.of(3, 2));
    m.put("fc.bias", TensorType.of(3));
    return m;
  }

  private static String entry(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
        + end + "]}";
  }

  @Test
  void reportsEveryProblemAtOnce() throws IOException {
    String json = "{" + String.join(",",
        entry("module.conv1.weight", "F32", "[2,1,1,1]", 0, 8),
        entry("bn1.weight", "F32", "[2]", 8, 16),
        entry("bn1.num_batches_tracked", "I64", "[]", 16, 24),
        entry("fc.weight", "F32", "[2,3]", 24, 48),
        entry("extra.bias", "F32", "[1]", 48, 52),
        entry("fc.bias", "I64", "[3]", 52, 76)) + "}";
    Path file = RawFiles.write(dir.resolve("w.safetensors"), json, new byte[76]);
    try (SafeTensors st = SafeTensors.open(file)) {
      WeightException e = assertThrows(WeightException.class, () -> WeightBinder.bind(expected(), st, null));
      assertEquals(file + ": weights do not match the model: 1 missing, 2 unexpected, 1 wrong shape, 1 unsupported dtype\n"
          + "missing (the model needs them, the file lacks them):\n"
          + "  conv1.weight (the file has \"module.conv1.weight\"; set the prefix to strip?)\n"
          + "unexpected (in the file, not in the model):\n"
          + "  module.conv1.weight\n"
          + "  extra.bias\n"
          + "wrong shape:\n"
          + "  fc.weight: file has [2,3], model expects [3,2]\n"
          + "unsupported dtype:\n"
          + "  fc.bias: I64 (resnetc reads F32, F16, BF16, F64)", e.getMessage());
    }
  }

  @Test
  void stripsPrefixAndReturnsModelOrder() throws IOException {
    Map<String, Tensor> file = new LinkedHashMap<>();
    file.put("module.fc.bias", Tensor.of(new float[] {7, 8, 9}, 3));
    file.put("module.fc.weight", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 3, 2));
    file.put("module.bn1.num_batches_tracked", Tensor.of(new float[] {100}));
    file.put("module.bn1.weight", Tensor.of(new float[] {0.5f, 0.25f}, 2));
    file.put("conv1.weight", Tensor.of(new float[] {-1, 1}, 2, 1, 1, 1)); // no prefix: kept as is
    Path path = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(path, file, null);
    try (SafeTensors st = SafeTensors.open(path)) {
      Map<String, Tensor> bound = WeightBinder.bind(expected(), st, "module.");
      assertEquals(List.copyOf(expected().keySet()), List.copyOf(bound.keySet()));
      assertEquals(TensorType.of(3, 2), bound.get("fc.weight").type());
      assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, bound.get("fc.weight").data());
      assertArrayEquals(new float[] {7, 8, 9}, bound.get("fc.bias").data());
      assertArrayEquals(new float[] {-1, 1}, bound.get("conv1.weight").data());
    }
  }

  @Test
  void ignoresNumBatchesTrackedAndConvertsHalf() throws IOException {
    String json = "{" + String.join(",",
        entry("w", "F16", "[2]", 0, 4),
        entry("bn.num_batches_tracked", "I64", "[]", 4, 12)) + "}";
    Path file = RawFiles.write(dir.resolve("w.safetensors"), json,
        RawFiles.concat(RawFiles.le(2, 0x3C00, 0x4000), RawFiles.le(8, 5)));
    try (SafeTensors st = SafeTensors.open(file)) {
      Map<String, Tensor> bound = WeightBinder.bind(Map.of("w", TensorType.of(2)), st, "");
      assertArrayEquals(new float[] {1, 2}, bound.get("w").data());
    }
  }

  @Test
  void reportsNamesThatClashAfterStripping() throws IOException {
    Map<String, Tensor> file = new LinkedHashMap<>();
    file.put("w", Tensor.of(new float[] {1}, 1));
    file.put("m.w", Tensor.of(new float[] {2}, 1));
    Path path = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(path, file, null);
    try (SafeTensors st = SafeTensors.open(path)) {
      WeightException e = assertThrows(WeightException.class,
          () -> WeightBinder.bind(Map.of("w", TensorType.of(1)), st, "m."));
      assertEquals(path + ": weights do not match the model: 1 unexpected\n"
          + "unexpected (in the file, not in the model):\n"
          + "  m.w (same name as \"w\" after stripping the prefix)", e.getMessage());
    }
  }
}
