package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.ir.Tensor;

class SafeTensorsTest {
  @TempDir Path dir;

  private static String entry(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
        + end + "]}";
  }

  /** Opening must fail with a WeightException whose message is the path followed by {@code expected}. */
  private static void assertOpenFails(Path file, String expected) {
    WeightException e = assertThrows(WeightException.class, () -> SafeTensors.open(file).close());
    assertEquals(file + ": " + expected, e.getMessage());
  }

  private Path header(String json, byte[] data) throws IOException {
    return RawFiles.write(dir.resolve("bad.safetensors"), json, data);
  }

  @Test
  void roundTrip() throws IOException {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put("b.weight", Tensor.of(new float[] {1, -2, 3.5f, Float.MIN_VALUE, Float.NaN, -0f}, 2, 3));
    tensors.put("a.scalar", Tensor.of(new float[] {7}));
    tensors.put("empty", Tensor.of(new float[0], 0, 4));
    tensors.put("a.bias", Tensor.of(new float[] {0.25f, 1e30f}, 2));
    Path file = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(file, tensors, Map.of("format", "pt"));

    long headerLength = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertEquals(0, headerLength % 8, "header padded to 8 bytes");
    assertEquals(8 + headerLength + 4 * 9, Files.size(file));
    try (SafeTensors st = SafeTensors.open(file)) {
      assertEquals(file, st.path());
      assertEquals(List.of("b.weight", "a.scalar", "empty", "a.bias"), List.copyOf(st.tensors().keySet()));
      assertEquals(Map.of("format", "pt"), st.metadata());
      SafeTensors.TensorInfo b = st.tensors().get("b.weight");
      assertEquals("F32", b.dtype());
      assertArrayEquals(new int[] {2, 3}, b.shape());
      assertEquals(0, b.begin());
      assertEquals(24, b.end());
      assertEquals(28, st.tensors().get("a.bias").begin());
      for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
        Tensor t = st.read(e.getKey());
        assertEquals(e.getValue().type(), t.type(), e.getKey());
        assertArrayEquals(e.getValue().data(), t.data(), e.getKey());
      }
    }
  }

  @Test
  void writesAtomically() throws IOException {
    Path file = Files.writeString(dir.resolve("a.safetensors"), "previous contents");
    // A tensor whose bytes cannot be produced midway through the file: the old file stays, no temporary is left.
    Map<String, SafeTensorsWriter.RawTensor> tensors = new LinkedHashMap<>();
    tensors.put("ok", new SafeTensorsWriter.RawTensor("I64", new int[] {1}, () -> new byte[8]));
    tensors.put("bad", new SafeTensorsWriter.RawTensor("F32", new int[] {2}, () -> {
      throw new WeightException("source went away");
    }));
    assertThrows(WeightException.class, () -> SafeTensorsWriter.writeRaw(file, tensors, null));
    assertEquals("previous contents", Files.readString(file));
    try (var files = Files.list(dir)) {
      assertEquals(List.of(file), files.toList());
    }
    tensors.put("bad", new SafeTensorsWriter.RawTensor("F32", new int[] {2}, () -> new byte[8]));
    SafeTensorsWriter.writeRaw(file, tensors, null);
    try (SafeTensors st = SafeTensors.open(file)) {
      assertEquals("I64", st.tensors().get("ok").dtype());
      assertArrayEquals(new float[] {0, 0}, st.readFloats("bad"));
    }
  }

  @Test
  void writesWithoutMetadata() throws IOException {
    Path file = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(file, Map.of("x", Tensor.of(new float[] {1, 2}, 2)), null);
    try (SafeTensors st = SafeTensors.open(file)) {
      assertEquals(Map.of(), st.metadata());
      assertArrayEquals(new float[] {1, 2}, st.readFloats("x"));
    }
    assertTrue(Files.readString(file, StandardCharsets.ISO_8859_1).indexOf("__metadata__") < 0);
  }

  @Test
  void convertsHalfBfloatAndDouble() throws IOException {
    byte[] f16 = RawFiles.le(2, 0x3C00, 0xC000, 0x3800, 0x7BFF, 0x7C00, 0x0001);
    byte[] bf16 = RawFiles.le(2, 0x3F80, 0xC020, 0x4049);
    byte[] f64 = RawFiles.f64(3.25, -0.001, 1e300);
    // No padding: the data section starts unaligned, which the reader must tolerate.
    String json = "{" + entry("h", "F16", "[2,3]", 0, 12) + "," + entry("bf", "BF16", "[3]", 12, 18) + ","
        + entry("d", "F64", "[3,1]", 18, 42) + "}";
    try (SafeTensors st = SafeTensors.open(header(json, RawFiles.concat(f16, bf16, f64)))) {
      assertArrayEquals(new float[] {1, -2, 0.5f, 65504, Float.POSITIVE_INFINITY, 0x1p-24f}, st.readFloats("h"));
      assertArrayEquals(new float[] {1, -2.5f, 3.140625f}, st.readFloats("bf"));
      assertArrayEquals(new float[] {3.25f, -0.001f, Float.POSITIVE_INFINITY}, st.readFloats("d"));
      assertArrayEquals(new int[] {3, 1}, st.read("d").type().dims());
    }
  }

  @Test
  void acceptsIntegerDtypesButDoesNotReadThem() throws IOException {
    String json = "{\"__metadata__\":{\"format\":\"pt\"}," + entry("bn.num_batches_tracked", "I64", "[]", 0, 8) + ","
        + entry("mask", "BOOL", "[2]", 8, 10) + "}";
    Path file = header(json, RawFiles.concat(RawFiles.le(8, 42), new byte[] {1, 0}));
    try (SafeTensors st = SafeTensors.open(file)) {
      assertEquals(List.of("bn.num_batches_tracked", "mask"), List.copyOf(st.tensors().keySet()));
      WeightException e = assertThrows(WeightException.class, () -> st.readFloats("bn.num_batches_tracked"));
      assertEquals(file + ": unsupported dtype I64 for tensor bn.num_batches_tracked; resnetc reads F32, F16, BF16, F64",
          e.getMessage());
      e = assertThrows(WeightException.class, () -> st.read("nope"));
      assertEquals(file + ": no tensor named nope", e.getMessage());
    }
  }

  @Test
  void missingFile() {
    assertOpenFails(dir.resolve("absent.safetensors"), "no such file");
  }

  @Test
  void truncatedFiles() throws IOException {
    Path file = dir.resolve("short.safetensors");
    Files.write(file, new byte[] {1, 2, 3});
    assertOpenFails(file, "file is too short for a safetensors file (3 bytes)");

    // A good file cut inside the header, then inside the data.
    Path good = dir.resolve("good.safetensors");
    SafeTensorsWriter.write(good, Map.of("x", Tensor.of(new float[] {1, 2, 3, 4}, 4)), null);
    byte[] bytes = Files.readAllBytes(good);
    int headerLength = bytes.length - 8 - 16;
    Files.write(file, Arrays.copyOf(bytes, 20));
    assertOpenFails(file, "header length " + headerLength + " exceeds the file size (20 bytes); truncated file?");
    Files.write(file, Arrays.copyOf(bytes, bytes.length - 1));
    assertOpenFails(file, "tensor x: data_offsets [0,16] lie outside the data section (15 bytes)");
  }

  @Test
  void headerLengthBeyondFileOrAbsurd() throws IOException {
    Path file = dir.resolve("bad.safetensors");
    byte[] json = "{}".getBytes(StandardCharsets.UTF_8);
    RawFiles.writeLength(file, 100, json, new byte[0]);
    assertOpenFails(file, "header length 100 exceeds the file size (10 bytes); truncated file?");
    RawFiles.writeLength(file, 1L << 40, json, new byte[0]);
    assertOpenFails(file, "header length 1099511627776 is implausible; not a safetensors file?");
    RawFiles.writeLength(file, -1, json, new byte[0]);
    assertOpenFails(file, "header length 18446744073709551615 is implausible; not a safetensors file?");
  }

  @Test
  void malformedJson() throws IOException {
    assertOpenFails(header("[1, 2]", new byte[0]), "header does not start with '{'; not a safetensors file?");
    assertOpenFails(header("", new byte[0]), "header does not start with '{'; not a safetensors file?");
    WeightException e = assertThrows(WeightException.class,
        () -> SafeTensors.open(header("{\"x\": {\"dtype\": \"F32\",", new byte[0])));
    assertTrue(e.getMessage().startsWith(dir.resolve("bad.safetensors") + ": malformed header JSON: "), e.getMessage());
    e = assertThrows(WeightException.class, () -> SafeTensors.open(header("{\"x\": nul}", new byte[0])));
    assertTrue(e.getMessage().contains(": malformed header JSON: "), e.getMessage());
    assertOpenFails(header("{} {}", new byte[0]), "unexpected content after the header JSON object; is the header length right?");
    e = assertThrows(WeightException.class, () -> SafeTensors.open(header(
        "{" + entry("x", "F32", "[1]", 0, 4) + "," + entry("x", "F32", "[1]", 0, 4) + "}", new byte[4])));
    assertTrue(e.getMessage().contains("malformed header JSON: Duplicate field 'x'"), e.getMessage());
    byte[] latin1 = "{\"\u00e9\": 1}".getBytes(StandardCharsets.ISO_8859_1);
    assertOpenFails(RawFiles.write(dir.resolve("bad.safetensors"), latin1, new byte[0]), "header is not valid UTF-8");
  }

  @Test
  void missingOrIllTypedFields() throws IOException {
    byte[] d = new byte[8];
    assertOpenFails(header("{\"x\": 3}", d), "tensor x: entry is not a JSON object");
    assertOpenFails(header("{\"x\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", d), "tensor x: missing \"dtype\"");
    assertOpenFails(header("{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", d), "tensor x: missing \"shape\"");
    assertOpenFails(header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2]}}", d), "tensor x: missing \"data_offsets\"");
    assertOpenFails(header("{\"x\": {\"dtype\": 4, \"shape\": [2], \"data_offsets\": [0, 8]}}", d),
        "tensor x: \"dtype\" is not a string");
    assertOpenFails(header("{\"x\": {\"dtype\": \"F32\", \"shape\": \"2\", \"data_offsets\": [0, 8]}}", d),
        "tensor x: \"shape\" is not an array");
    assertOpenFails(header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", d),
        "tensor x: \"shape\" holds a non-integer: 2.0");
    assertOpenFails(header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 99999999999999999999]}}",
        d), "tensor x: \"data_offsets\" value too large: 99999999999999999999");
    assertOpenFails(header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8]}}", d),
        "tensor x: \"data_offsets\" must have 2 entries, has 1");
    assertOpenFails(header("{\"__metadata__\": [1]}", d), "\"__metadata__\" is not a JSON object");
    assertOpenFails(header("{\"__metadata__\": {\"epoch\": 3}}", d), "\"__metadata__\" value for \"epoch\" is not a string");
  }

  @Test
  void badShapesOffsetsAndDtypes() throws IOException {
    byte[] d = new byte[8];
    assertOpenFails(header("{" + entry("x", "F32", "[-1,2]", 0, 8) + "}", d),
        "tensor x: negative dimension in shape [-1,2]");
    assertOpenFails(header("{" + entry("x", "F32", "[3000000000]", 0, 8) + "}", d),
        "tensor x: dimension too large in shape [3000000000]");
    assertOpenFails(header("{" + entry("x", "F64", "[2147483647,2147483647,2147483647]", 0, 8) + "}", d),
        "tensor x: shape [2147483647,2147483647,2147483647] is too large");
    assertOpenFails(header("{" + entry("x", "F32", "[4]", 0, 16) + "}", d),
        "tensor x: data_offsets [0,16] lie outside the data section (8 bytes)");
    assertOpenFails(header("{" + entry("x", "F32", "[1]", 8, 4) + "}", d), "tensor x: data_offsets [8,4] end before they begin");
    assertOpenFails(header("{" + entry("x", "F32", "[1]", -4, 0) + "}", d), "tensor x: data_offsets [-4,0] are negative");
    assertOpenFails(header("{" + entry("x", "F32", "[3]", 0, 8) + "}", d),
        "tensor x: data_offsets [0,8] hold 8 bytes but F32 [3] needs 12");
    assertOpenFails(header("{" + entry("x", "F128", "[1]", 0, 8) + "}", d), "tensor x: unknown dtype \"F128\"");
  }

  /** Byte ranges must tile the data section in offset order (header order may differ): no gap, overlap or trailing byte. */
  @Test
  void rangesTileTheDataSectionExactly() throws IOException {
    byte[] d = new byte[16];
    // header order differs from offset order, as in files PyTorch writes: fine
    try (SafeTensors st = SafeTensors.open(header("{" + entry("b", "F32", "[2]", 8, 16) + "," + entry("a", "F32", "[2]", 0, 8) + ","
        + entry("none", "F32", "[0]", 8, 8) + "}", d))) {
      assertEquals(List.of("b", "a", "none"), List.copyOf(st.tensors().keySet()));
    }
    assertOpenFails(header("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}", d),
        "tensor b: data_offsets [4,12] overlap those of tensor a [0,8]");
    assertOpenFails(header("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[1]", 12, 16) + "}", d),
        "tensor b: data_offsets [12,16] leave a gap of 4 bytes after tensor a [0,8]");
    assertOpenFails(header("{" + entry("a", "F32", "[2]", 8, 16) + "}", d),
        "tensor a: data_offsets [8,16] leave a gap of 8 bytes after the start of the data section");
    assertOpenFails(header("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 0, 8) + "}", d),
        "tensor b: data_offsets [0,8] overlap those of tensor a [0,8]");
    assertOpenFails(header("{" + entry("a", "F32", "[3]", 0, 12) + "}", d),
        "4 trailing bytes after the last tensor's data (the tensors cover 12 of the 16 bytes after the header); is the header length right?");
    assertOpenFails(header("{}", new byte[1]),
        "1 trailing byte after the last tensor's data (the tensors cover 0 of the 1 bytes after the header); is the header length right?");
  }

  /**
   * The header ends where its length says: only spaces may pad it. A length one short of the padded header (the
   * reported bug: NaN logits, exit 0) leaves a trailing byte; other whitespace or bytes are not padding.
   */
  @Test
  void headerEndsWhereItsLengthSays() throws IOException {
    Path good = dir.resolve("good.safetensors");
    SafeTensorsWriter.write(good, Map.of("x", Tensor.of(new float[] {1, 2, 3, 4}, 4)), null);
    byte[] bytes = Files.readAllBytes(good);
    long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertEquals(' ', bytes[(int) (8 + n - 1)], "the writer pads with spaces");
    Path bad = dir.resolve("bad.safetensors");
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n - 1);
    Files.write(bad, bytes);
    assertOpenFails(bad, "1 trailing byte after the last tensor's data (the tensors cover 16 of the 17 bytes after the header); is the header length right?");
    for (String padding : new String[] {"\n", "\t", "\r", "\0"}) {
      assertOpenFails(header("{" + entry("x", "F32", "[1]", 0, 4) + "}" + padding + "  ", new byte[4]), String.format(
          java.util.Locale.ROOT, "header padding after the JSON object must be spaces, found byte 0x%02x; is the header length right?", (int) padding.charAt(0)));
    }
    try (SafeTensors st = SafeTensors.open(header("{" + entry("x", "F32", "[1]", 0, 4) + "}       ", RawFiles.f32(5)))) {
      assertArrayEquals(new float[] {5}, st.readFloats("x"));
    }
    assertOpenFails(header("{" + entry("x", "F32", "[1]", 0, 4) + "}  \u0001", new byte[4]),
        "unexpected content after the header JSON object; is the header length right?");
  }

  /** A valid file with a 30 MB metadata string: Jackson's default limit (20 MB) would refuse it; the header limit is 100 MB. */
  @Test
  void largeMetadataWithinTheHeaderLimitLoads() throws IOException {
    Path file = dir.resolve("meta.safetensors");
    String big = "x".repeat(30_000_000);
    SafeTensorsWriter.write(file, Map.of("w", Tensor.of(new float[] {1, 2}, 2)), Map.of("notes", big));
    try (SafeTensors st = SafeTensors.open(file)) {
      assertEquals(big.length(), st.metadata().get("notes").length());
      assertArrayEquals(new float[] {1, 2}, st.readFloats("w"));
    }
  }

  /** Corrupting any header byte or cutting the file anywhere gives a WeightException or a readable file, never a crash. */
  @Test
  void corruptionNeverEscapesAsAnotherException() throws IOException {
    Path good = dir.resolve("good.safetensors");
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put("w", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
    tensors.put("b", Tensor.of(new float[] {7, 8}, 2));
    SafeTensorsWriter.write(good, tensors, Map.of("k", "v"));
    byte[] bytes = Files.readAllBytes(good);
    Path bad = dir.resolve("bad.safetensors");
    for (int cut = 0; cut < bytes.length; cut++) {
      Files.write(bad, Arrays.copyOf(bytes, cut));
      assertThrows(WeightException.class, () -> SafeTensors.open(bad).close());
    }
    byte[] replacements = "\"{}[],:-019xF \0\u00ff".getBytes(StandardCharsets.ISO_8859_1);
    int headerEnd = bytes.length - 32;
    for (int i = 0; i < headerEnd; i++) {
      for (byte r : replacements) {
        byte[] copy = bytes.clone();
        copy[i] = r;
        Files.write(bad, copy);
        try (SafeTensors st = SafeTensors.open(bad)) {
          for (String name : st.tensors().keySet()) {
            try {
              st.read(name);
            } catch (WeightException e) {
              assertTrue(e.getMessage().contains("unsupported dtype"), e.getMessage());
            }
          }
        } catch (WeightException e) {
          assertTrue(e.getMessage().startsWith(bad + ": "), e.getMessage());
        }
      }
    }
  }
}
