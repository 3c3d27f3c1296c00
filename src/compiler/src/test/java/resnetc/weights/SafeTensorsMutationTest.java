package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.TestPaths;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/**
 * Hundreds of malformed variants of a valid safetensors file, like the spec fuzz: truncations, header lengths off
 * by a few bytes, offsets shifted, overlapping or leaving gaps, trailing bytes, lies about dtypes and shapes, header
 * padding that is not spaces, and NaN or infinite values. Each must be refused with a WeightException whose message
 * names the file and says what is wrong; none may load, least of all with weights that differ from the original
 * (the reported bug: a header length one short ran and printed an accuracy over NaN logits).
 *
 * <p>The base file is the shared pretrained ResNet-20 when {@code ../shared} is there, and always a small synthetic
 * file (several tensors, one empty, metadata), so the test runs without the shared data too.
 */
class SafeTensorsMutationTest {
  static final int MUTANTS_PER_KIND = 24;

  @TempDir static Path dir;

  /** A valid file and what a model expects of it (its tensors' names and shapes). */
  record Base(String name, byte[] bytes, Map<String, TensorType> expected) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Arguments> bases() throws IOException {
    List<Arguments> out = new ArrayList<>();
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    Random r = new Random(1);
    tensors.put("conv1.weight", Tensor.of(gaussian(r, 16 * 3 * 3 * 3), 16, 3, 3, 3));
    tensors.put("bn1.bias", Tensor.of(gaussian(r, 16), 16));
    tensors.put("empty", Tensor.of(new float[0], 0, 4));
    tensors.put("bn1.weight", Tensor.of(gaussian(r, 16), 16));
    tensors.put("linear.weight", Tensor.of(gaussian(r, 10 * 16), 10, 16));
    tensors.put("linear.bias", Tensor.of(gaussian(r, 10), 10));
    Path synthetic = dir.resolve("synthetic.safetensors");
    SafeTensorsWriter.write(synthetic, tensors, Map.of("format", "pt"));
    out.add(Arguments.of(base("synthetic", synthetic)));
    var shared = TestPaths.shared("models/cifar10/resnet20.safetensors");
    if (shared.isPresent()) out.add(Arguments.of(base("shared resnet20", shared.get())));
    return out.stream();
  }

  private static Base base(String name, Path file) throws IOException {
    Map<String, TensorType> expected = new LinkedHashMap<>();
    try (SafeTensors st = SafeTensors.open(file)) {
      st.tensors().values().forEach(t -> {
        if (!t.name().endsWith("num_batches_tracked")) expected.put(t.name(), TensorType.of(t.shape()));
      });
    }
    return new Base(name, Files.readAllBytes(file), expected);
  }

  private static float[] gaussian(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
    return v;
  }

  /** The header, split into its length, its JSON text and the data section. */
  record Parts(long length, String json, byte[] data) {
    static Parts of(byte[] file) {
      long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      return new Parts(n, new String(file, 8, (int) n, StandardCharsets.UTF_8), Arrays.copyOfRange(file, (int) (8 + n), file.length));
    }

    /** A file with this JSON (space-padded to 8 bytes, the length field to match) and data. */
    static byte[] file(String json, byte[] data) {
      byte[] h = json.getBytes(StandardCharsets.UTF_8);
      int padded = (h.length + 7) & ~7;
      ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
      b.putLong(padded).put(h);
      for (int i = h.length; i < padded; i++) b.put((byte) ' ');
      return b.put(data).array();
    }
  }

  private static final Pattern OFFSETS = Pattern.compile("\"data_offsets\":\\[(\\d+),(\\d+)\\]");
  private static final Pattern DTYPE = Pattern.compile("\"dtype\":\"(\\w+)\"");
  private static final Pattern SHAPE = Pattern.compile("\"shape\":\\[([\\d,]*)\\]");

  /** The JSON with the k-th match of {@code p} rewritten by {@code edit} (which sees the match). */
  private static String replaceNth(String json, Pattern p, int k, java.util.function.Function<Matcher, String> edit) {
    Matcher m = p.matcher(json);
    for (int i = 0; m.find(); i++) {
      if (i == k) return json.substring(0, m.start()) + edit.apply(m) + json.substring(m.end());
    }
    throw new AssertionError("no match " + k + " of " + p);
  }

  private static int count(String json, Pattern p) {
    return (int) p.matcher(json).results().count();
  }

  /** A malformed file and what kind of damage it has. */
  record Mutant(String kind, byte[] bytes) {}

  static List<Mutant> mutants(Base base, Random r) {
    byte[] good = base.bytes();
    Parts parts = Parts.of(good);
    String json = parts.json().stripTrailing();
    int tensors = count(json, OFFSETS);
    // lies about dtypes, shapes and values target tensors the model reads (num_batches_tracked counters are ignored)
    List<String> names = Pattern.compile("\"([^\"]+)\":\\{\"dtype\"").matcher(json).results().map(m -> m.group(1)).toList();
    List<Integer> read = java.util.stream.IntStream.range(0, tensors).filter(i -> base.expected().containsKey(names.get(i))).boxed().toList();
    List<Mutant> out = new ArrayList<>();
    UnaryOperator<byte[]> copy = byte[]::clone;

    // truncations anywhere: in the length field, the header and the data
    for (int i = 0; i < 4 * MUTANTS_PER_KIND; i++) {
      int cut = i < 8 ? i : r.nextInt(good.length);
      out.add(new Mutant("truncated", Arrays.copyOf(good, cut)));
    }
    // header length off by -k or +k (k = 1..12, and a few large ones)
    for (int k = 1; k <= MUTANTS_PER_KIND; k++) {
      for (int sign : new int[] {-1, 1}) {
        byte[] b = copy.apply(good);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, parts.length() + sign * k);
        out.add(new Mutant("header length " + (sign < 0 ? "-k" : "+k"), b));
      }
    }
    for (long k : new long[] {8, 64, 4096, parts.length(), good.length}) {
      byte[] b = copy.apply(good);
      ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, parts.length() + k);
      out.add(new Mutant("header length +k", b));
    }
    // one tensor's range shifted by d bytes (same length): an overlap or a gap with a neighbour, or out of the file
    for (int i = 0; i < 3 * MUTANTS_PER_KIND; i++) {
      int t = r.nextInt(tensors), d = (r.nextBoolean() ? 1 : -1) * (1 + r.nextInt(i % 2 == 0 ? 4 : 64));
      String mutated = replaceNth(json, OFFSETS, t, m -> {
        long b = Long.parseLong(m.group(1)), e = Long.parseLong(m.group(2));
        return "\"data_offsets\":[" + (b + d) + "," + (e + d) + "]";
      });
      out.add(new Mutant("range shifted", Parts.file(mutated, parts.data())));
    }
    // a tensor's range set to overlap another's exactly, or to extend into the next one
    for (int i = 0; i < MUTANTS_PER_KIND && tensors > 1; i++) {
      int a = r.nextInt(tensors), b = (a + 1 + r.nextInt(tensors - 1)) % tensors;
      Matcher ma = OFFSETS.matcher(json);
      for (int k = 0; k <= a; k++) ma.find();
      String range = ma.group();
      String mutated = replaceNth(json, OFFSETS, b, m -> range);
      out.add(new Mutant("ranges overlap", Parts.file(mutated, parts.data())));
    }
    // a gap: bytes inserted in the data section and the later offsets moved past them (each range is consistent)
    for (int i = 0; i < MUTANTS_PER_KIND; i++) {
      long at = offsetsOf(json).get(r.nextInt(tensors))[1];
      int gap = 1 + r.nextInt(16);
      Matcher m = OFFSETS.matcher(json);
      StringBuilder sb = new StringBuilder();
      while (m.find()) {
        long b = Long.parseLong(m.group(1)), e = Long.parseLong(m.group(2));
        if (b >= at) {
          b += gap;
          e += gap;
        }
        m.appendReplacement(sb, "\"data_offsets\":[" + b + "," + e + "]");
      }
      m.appendTail(sb);
      byte[] data = new byte[parts.data().length + gap];
      System.arraycopy(parts.data(), 0, data, 0, (int) at);
      System.arraycopy(parts.data(), (int) at, data, (int) at + gap, parts.data().length - (int) at);
      if (!sb.toString().equals(json)) out.add(new Mutant("gap between ranges", Parts.file(sb.toString(), data)));
    }
    // trailing bytes after the last tensor
    for (int k = 1; k <= MUTANTS_PER_KIND; k++) {
      out.add(new Mutant("trailing bytes", Arrays.copyOf(good, good.length + k * (k % 3 == 0 ? 4 : 1))));
    }
    // a range longer or shorter than shape x dtype size
    for (int i = 0; i < MUTANTS_PER_KIND; i++) {
      int d = (r.nextBoolean() ? 1 : -1) * (1 + r.nextInt(8));
      String mutated = replaceNth(json, OFFSETS, r.nextInt(tensors), m -> {
        long b = Long.parseLong(m.group(1)), e = Long.parseLong(m.group(2));
        return "\"data_offsets\":[" + b + "," + Math.max(b, e + d) + "]";
      });
      if (!mutated.equals(json)) out.add(new Mutant("range length", Parts.file(mutated, parts.data())));
    }
    // dtype lies: another size, an integer type of the same size, an unknown name
    String[] dtypes = {"F16", "BF16", "F64", "I32", "U32", "I64", "U8", "BOOL", "F8_E4M3", "f32", "F33", "", "FLOAT"};
    for (int i = 0; i < 2 * MUTANTS_PER_KIND; i++) {
      String to = dtypes[i % dtypes.length];
      out.add(new Mutant("dtype", Parts.file(replaceNth(json, DTYPE, read.get(r.nextInt(read.size())), m -> "\"dtype\":\"" + to + "\""),
          parts.data())));
    }
    // shape lies: the same element count in another shape, one dimension more or less, one value off
    for (int i = 0; i < 3 * MUTANTS_PER_KIND; i++) {
      int t = read.get(r.nextInt(read.size())), how = i % 4;
      String mutated = replaceNth(json, SHAPE, t, m -> {
        List<String> dims = new ArrayList<>(m.group(1).isEmpty() ? List.of() : List.of(m.group(1).split(",")));
        switch (how) {
          case 0 -> java.util.Collections.reverse(dims);
          case 1 -> dims.add("1");
          case 2 -> {
            if (!dims.isEmpty()) dims.remove(dims.size() - 1);
            else dims.add("2");
          }
          default -> {
            if (dims.isEmpty()) dims.add("3");
            else dims.set(0, Long.toString(Long.parseLong(dims.get(0)) + 1));
          }
        }
        return "\"shape\":[" + String.join(",", dims) + "]";
      });
      if (!mutated.equals(json)) out.add(new Mutant("shape", Parts.file(mutated, parts.data())));
    }
    // header padding that is not spaces, and content after the JSON object
    for (String pad : new String[] {"\n", "\t", "\r", "\0", "x", "{}", "\u00a0"}) {
      for (int extra = 0; extra < 3; extra++) {
        out.add(new Mutant("padding not spaces", Parts.file(json + " ".repeat(extra) + pad, parts.data())));
      }
    }
    // NaN and infinities written over values of a non-empty tensor
    List<long[]> ranges = read.stream().map(offsetsOf(json)::get).filter(o -> o[1] > o[0]).toList();
    for (int i = 0; i < 4 * MUTANTS_PER_KIND; i++) {
      long[] o = ranges.get(r.nextInt(ranges.size()));
      float bad = switch (i % 4) {
        case 0 -> Float.NaN;
        case 1 -> Float.POSITIVE_INFINITY;
        case 2 -> Float.NEGATIVE_INFINITY;
        default -> Float.intBitsToFloat(0x7fc00000 | r.nextInt(1 << 22)); // a NaN with a payload
      };
      byte[] b = copy.apply(good);
      long at = 8 + parts.length() + o[0] + 4L * r.nextInt((int) ((o[1] - o[0]) / 4));
      ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) at, bad);
      out.add(new Mutant("non-finite", b));
    }
    return out;
  }

  private static List<long[]> offsetsOf(String json) {
    return OFFSETS.matcher(json).results().map(m -> new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))}).toList();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("bases")
  void everyMalformedFileIsRefusedInWords(Base base) throws IOException {
    Path file = dir.resolve("mutant.safetensors");
    Map<String, Tensor> original = load(base, writeTo(file, base.bytes()));
    List<Mutant> mutants = mutants(base, new Random(base.name().hashCode()));
    assertTrue(mutants.size() >= 500, mutants.size() + " mutants");
    Map<String, Integer> byKind = new TreeMap<>();
    for (Mutant m : mutants) {
      byKind.merge(m.kind(), 1, Integer::sum);
      writeTo(file, m.bytes());
      try {
        Map<String, Tensor> loaded = load(base, file);
        boolean same = loaded.keySet().equals(original.keySet()) && loaded.entrySet().stream()
            .allMatch(e -> Arrays.equals(floatBits(e.getValue()), floatBits(original.get(e.getKey()))));
        fail(m.kind() + ": a malformed file loaded" + (same ? "" : " WITH DIFFERENT WEIGHTS"));
      } catch (WeightException e) {
        String msg = e.getMessage();
        assertTrue(msg.startsWith(file + ": "), m.kind() + ": " + msg);
        assertFalse(msg.substring(file.toString().length() + 2).isBlank(), m.kind());
        assertFalse(msg.matches("(?s).*(Exception|\\tat |\\bnull\\b).*"), m.kind() + ": " + msg);
        if (m.kind().equals("non-finite")) assertTrue(msg.contains("non-finite values: "), msg);
      }
    }
    System.out.printf("safetensors mutation test (%s): %d mutants, all refused: %s%n", base.name(), mutants.size(), byKind);
  }

  /** As resnetc loads weights: open (validating the whole file), then bind what the model expects. */
  private static Map<String, Tensor> load(Base base, Path file) {
    try (SafeTensors st = SafeTensors.open(file)) {
      return WeightBinder.bind(base.expected(), st, "");
    }
  }

  private static Path writeTo(Path file, byte[] bytes) throws IOException {
    return Files.write(file, bytes);
  }

  private static int[] floatBits(Tensor t) {
    int[] bits = new int[t.data().length];
    for (int i = 0; i < bits.length; i++) bits[i] = Float.floatToRawIntBits(t.data()[i]);
    return bits;
  }

  /** The binder names every tensor that holds non-finite values; --allow-non-finite (the flag) loads them. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("bases")
  void nonFiniteTensorsAreNamedAndLoadOnlyWhenAllowed(Base base) throws IOException {
    Parts parts = Parts.of(base.bytes());
    List<long[]> offsets = offsetsOf(parts.json());
    List<String> names = new ArrayList<>();
    Matcher m = Pattern.compile("\"([^\"]+)\":\\{\"dtype\"").matcher(parts.json());
    while (m.find()) names.add(m.group(1));
    byte[] b = base.bytes().clone();
    List<String> poisoned = new ArrayList<>();
    for (int i = 0; i < offsets.size() && poisoned.size() < 2; i++) {
      if (offsets.get(i)[1] == offsets.get(i)[0] || !base.expected().containsKey(names.get(i))) continue;
      ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) (8 + parts.length() + offsets.get(i)[0]), Float.NaN);
      poisoned.add(names.get(i));
    }
    Path file = writeTo(dir.resolve("nan.safetensors"), b);
    WeightException e;
    try (SafeTensors st = SafeTensors.open(file)) {
      e = org.junit.jupiter.api.Assertions.assertThrows(WeightException.class, () -> WeightBinder.bind(base.expected(), st, ""));
      Map<String, Tensor> loaded = WeightBinder.bind(base.expected(), st, "", true);
      assertTrue(Float.isNaN(loaded.get(poisoned.get(0)).data()[0]));
    }
    long size0 = elements(base.expected().get(poisoned.get(0)));
    assertTrue(e.getMessage().startsWith(file + ": 2 tensors hold non-finite values: " + poisoned.get(0) + " (1 NaN of " + size0 + "), "
        + poisoned.get(1) + " (1 NaN of "), e.getMessage());
    assertTrue(e.getMessage().endsWith("; --allow-non-finite loads them anyway"), e.getMessage());
  }

  private static long elements(TensorType t) {
    long n = 1;
    for (int d : t.dims()) n *= d;
    return n;
  }
}
