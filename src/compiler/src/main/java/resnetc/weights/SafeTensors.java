package resnetc.weights;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamReadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped <a href="https://github.com/huggingface/safetensors">safetensors</a> file: an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON describing each tensor (padded with spaces only), then the data section. The
 * whole file is validated on open as the format requires: the JSON ends where N says but for trailing spaces, each
 * tensor's byte range holds exactly shape x dtype size bytes, and the ranges, in offset order, tile the data section
 * with no gap, overlap or trailing byte. Later reads only fail for dtypes resnetc cannot convert.
 */
public final class SafeTensors implements WeightFile {
  /** One tensor's header entry; begin and end are byte offsets into the data section. */
  public record TensorInfo(String name, String dtype, int[] shape, long begin, long end) implements WeightFile.Entry {}

  /** Same limit as the reference implementation; anything larger is not a safetensors file. */
  static final long MAX_HEADER = 100_000_000;

  /** Dtype name to element size in bytes, as in the reference implementation (sub-byte types left out). */
  static final Map<String, Integer> DTYPE_SIZES = Map.ofEntries(
      Map.entry("F64", 8), Map.entry("F32", 4), Map.entry("F16", 2), Map.entry("BF16", 2),
      Map.entry("F8_E4M3", 1), Map.entry("F8_E5M2", 1),
      Map.entry("I64", 8), Map.entry("I32", 4), Map.entry("I16", 2), Map.entry("I8", 1),
      Map.entry("U64", 8), Map.entry("U32", 4), Map.entry("U16", 2), Map.entry("U8", 1),
      Map.entry("BOOL", 1));

  static final List<String> FLOAT_DTYPES = List.of("F32", "F16", "BF16", "F64");

  /** Strings and names as long as the header itself may be (Jackson's defaults refuse a 30 MB metadata string). */
  private static final JsonFactory JSON = JsonFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .streamReadConstraints(StreamReadConstraints.builder().maxStringLength((int) MAX_HEADER).maxNameLength((int) MAX_HEADER)
          .maxDocumentLength(MAX_HEADER).build())
      .build();
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final MemorySegment data; // the data section only
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;

  private SafeTensors(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors,
      Map<String, String> metadata) {
    this.path = path;
    this.arena = arena;
    this.data = data;
    this.tensors = Collections.unmodifiableMap(tensors);
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  public static SafeTensors open(Path path) {
    Arena arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) throw error(path, "file is too short for a safetensors file (" + size + " bytes)");
      // The mapping stays valid after the channel closes; it lives as long as the arena.
      MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
      long n = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
      if (n < 0 || n > MAX_HEADER) {
        throw error(path, "header length " + Long.toUnsignedString(n) + " is implausible; not a safetensors file?");
      }
      if (n > size - 8) {
        throw error(path, "header length " + n + " exceeds the file size (" + size + " bytes); truncated file?");
      }
      byte[] header = file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
      MemorySegment data = file.asSlice(8 + n);
      Map<String, TensorInfo> tensors = new LinkedHashMap<>();
      Map<String, String> metadata = new LinkedHashMap<>();
      parseHeader(path, header, data.byteSize(), tensors, metadata);
      checkTiling(path, tensors, data.byteSize());
      return new SafeTensors(path, arena, data, tensors, metadata);
    } catch (NoSuchFileException e) {
      arena.close();
      throw error(path, "no such file");
    } catch (AccessDeniedException e) {
      arena.close();
      throw error(path, "permission denied");
    } catch (IOException e) {
      arena.close();
      throw error(path, "cannot read: " + e.getMessage());
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  private static void parseHeader(Path path, byte[] header, long dataSize, Map<String, TensorInfo> tensors,
      Map<String, String> metadata) {
    if (header.length == 0 || header[0] != '{') throw error(path, "header does not start with '{'; not a safetensors file?");
    String text;
    try {
      // Decode strictly ourselves: Jackson would guess the encoding and accept invalid UTF-8 inside strings.
      text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(header)).toString();
    } catch (CharacterCodingException e) {
      throw error(path, "header is not valid UTF-8");
    }
    try (JsonParser p = JSON.createParser(text)) {
      if (p.nextToken() != JsonToken.START_OBJECT) throw error(path, "header is not a JSON object");
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        p.nextToken();
        if (name.equals("__metadata__")) parseMetadata(path, p, metadata);
        else tensors.put(name, parseTensor(path, p, name, dataSize));
      }
      checkPadding(path, text, (int) p.currentLocation().getCharOffset());
    } catch (StreamReadException e) {
      throw error(path, "malformed header JSON: " + e.getOriginalMessage() + " (at character "
          + e.getLocation().getCharOffset() + " of the header)");
    } catch (IOException e) { // not reachable for an in-memory string, but declared
      throw error(path, "cannot parse header: " + e.getMessage());
    }
  }

  /** After the JSON object only spaces may follow, up to the length the file gives the header. */
  private static void checkPadding(Path path, String text, int end) {
    for (int i = end; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == ' ') continue;
      if (Character.isWhitespace(c) || c == 0) {
        throw error(path, String.format(java.util.Locale.ROOT, "header padding after the JSON object must be spaces, found byte 0x%02x; is the header length right?", (int) c));
      }
      throw error(path, "unexpected content after the header JSON object; is the header length right?");
    }
  }

  /**
   * The tensors' byte ranges, in offset order, must tile the data section exactly: each begins where the one
   * before ended, the first at 0 and the last ends at the end of the file. A gap, an overlap or trailing bytes mean
   * a damaged file (or a wrong header length) whose tensors would read shifted or shared bytes.
   */
  private static void checkTiling(Path path, Map<String, TensorInfo> tensors, long dataSize) {
    List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
    byOffset.sort(java.util.Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    long at = 0;
    TensorInfo previous = null;
    for (TensorInfo t : byOffset) {
      String range = "tensor " + t.name() + ": data_offsets [" + t.begin() + "," + t.end() + "]";
      if (t.begin() < at) {
        throw error(path, range + " overlap those of tensor " + previous.name() + " [" + previous.begin() + "," + previous.end() + "]");
      }
      if (t.begin() > at) {
        throw error(path, range + " leave a gap of " + (t.begin() - at) + " bytes after "
            + (previous == null ? "the start of the data section" : "tensor " + previous.name() + " [" + previous.begin() + "," + previous.end() + "]"));
      }
      at = t.end();
      previous = t;
    }
    if (at != dataSize) {
      long extra = dataSize - at;
      throw error(path, extra + (extra == 1 ? " trailing byte" : " trailing bytes") + " after the last tensor's data (the tensors cover " + at + " of the "
          + dataSize + " bytes after the header); is the header length right?");
    }
  }

  private static void parseMetadata(Path path, JsonParser p, Map<String, String> metadata) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) throw error(path, "\"__metadata__\" is not a JSON object");
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String key = p.currentName();
      if (p.nextToken() != JsonToken.VALUE_STRING) {
        throw error(path, "\"__metadata__\" value for \"" + key + "\" is not a string");
      }
      metadata.put(key, p.getText());
    }
  }

  private static TensorInfo parseTensor(Path path, JsonParser p, String name, long dataSize) throws IOException {
    String where = "tensor " + name + ": ";
    if (p.currentToken() != JsonToken.START_OBJECT) throw error(path, where + "entry is not a JSON object");
    String dtype = null;
    long[] shape = null;
    long[] offsets = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken t = p.nextToken();
      switch (field) {
        case "dtype" -> {
          if (t != JsonToken.VALUE_STRING) throw error(path, where + "\"dtype\" is not a string");
          dtype = p.getText();
        }
        case "shape" -> shape = intArray(path, p, where + "\"shape\"");
        case "data_offsets" -> offsets = intArray(path, p, where + "\"data_offsets\"");
        default -> p.skipChildren(); // tolerate extensions, like the reference reader
      }
    }
    if (dtype == null) throw error(path, where + "missing \"dtype\"");
    if (shape == null) throw error(path, where + "missing \"shape\"");
    if (offsets == null) throw error(path, where + "missing \"data_offsets\"");
    Integer elementSize = DTYPE_SIZES.get(dtype);
    if (elementSize == null) throw error(path, where + "unknown dtype \"" + dtype + "\"");
    String shapeText = Arrays.toString(shape).replace(" ", "");
    int[] dims = new int[shape.length];
    long bytes = elementSize;
    for (int i = 0; i < shape.length; i++) {
      if (shape[i] < 0) throw error(path, where + "negative dimension in shape " + shapeText);
      if (shape[i] > Integer.MAX_VALUE) throw error(path, where + "dimension too large in shape " + shapeText);
      dims[i] = (int) shape[i];
      try {
        bytes = Math.multiplyExact(bytes, shape[i]);
      } catch (ArithmeticException e) {
        throw error(path, where + "shape " + shapeText + " is too large");
      }
    }
    if (offsets.length != 2) throw error(path, where + "\"data_offsets\" must have 2 entries, has " + offsets.length);
    long begin = offsets[0], end = offsets[1];
    String range = "data_offsets [" + begin + "," + end + "]";
    if (begin < 0) throw error(path, where + range + " are negative");
    if (end < begin) throw error(path, where + range + " end before they begin");
    if (end > dataSize) throw error(path, where + range + " lie outside the data section (" + dataSize + " bytes)");
    if (end - begin != bytes) {
      throw error(path, where + range + " hold " + (end - begin) + " bytes but " + dtype + " " + shapeString(dims)
          + " needs " + bytes);
    }
    return new TensorInfo(name, dtype, dims, begin, end);
  }

  /** A JSON array of integers (non-negativity is checked by the caller, which knows the context). */
  private static long[] intArray(Path path, JsonParser p, String what) throws IOException {
    if (p.currentToken() != JsonToken.START_ARRAY) throw error(path, what + " is not an array");
    List<Long> values = new ArrayList<>();
    JsonToken t;
    while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
      if (t != JsonToken.VALUE_NUMBER_INT) throw error(path, what + " holds a non-integer: " + p.getText());
      if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) throw error(path, what + " value too large: " + p.getText());
      values.add(p.getLongValue());
    }
    return values.stream().mapToLong(Long::longValue).toArray();
  }

  @Override
  public Path path() {
    return path;
  }

  /** Tensors in file order, without {@code __metadata__}. */
  @Override
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  /** The tensor's values converted to float32; only floating-point dtypes convert. */
  @Override
  public float[] readFloats(String name) {
    TensorInfo info = info(name);
    long count = info.elements();
    if (count > Integer.MAX_VALUE - 8) {
      throw error(path, "tensor " + name + " has " + count + " elements, more than one Java array holds");
    }
    int n = (int) count;
    float[] out = new float[n];
    long at = info.begin();
    switch (info.dtype()) {
      case "F32" -> MemorySegment.copy(data, F32, at, out, 0, n);
      case "F64" -> {
        for (int i = 0; i < n; i++) out[i] = (float) data.get(F64, at + 8L * i);
      }
      case "F16" -> {
        for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(data.get(I16, at + 2L * i));
      }
      // bfloat16 is the upper half of a float32.
      case "BF16" -> {
        for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat(data.get(I16, at + 2L * i) << 16);
      }
      default -> throw error(path, "unsupported dtype " + info.dtype() + " for tensor " + name + "; resnetc reads "
          + String.join(", ", FLOAT_DTYPES));
    }
    return out;
  }

  @Override
  public byte[] readBytes(String name) {
    TensorInfo info = info(name);
    if (info.end() - info.begin() > Integer.MAX_VALUE - 8) throw error(path, "tensor " + name + " is larger than one Java array holds");
    return data.asSlice(info.begin(), info.end() - info.begin()).toArray(ValueLayout.JAVA_BYTE);
  }

  private TensorInfo info(String name) {
    TensorInfo info = tensors.get(name);
    if (info == null) throw error(path, "no tensor named " + name);
    return info;
  }

  /** Unmaps the file; tensors already read stay valid. */
  @Override
  public void close() {
    if (arena.scope().isAlive()) arena.close();
  }

  static String shapeString(int[] shape) {
    return WeightFile.shapeString(shape);
  }

  static WeightException error(Path path, String message) {
    return new WeightException(path + ": " + message);
  }
}
