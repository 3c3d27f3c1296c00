package resnetc.weights;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import resnetc.weights.Pickle.Global;
import resnetc.weights.Pickle.Tuple;

/**
 * A PyTorch checkpoint written by {@code torch.save}, read without running any of it. Two formats:
 * <ul>
 *   <li>zip (PyTorch 1.6 and later): {@code <archive>/data.pkl} pickles the saved object, each storage is an
 *       uncompressed entry {@code <archive>/data/<key>}, read in place from the mapped file;</li>
 *   <li>legacy (before 1.6): five pickles in a row (magic number, protocol version, system info, the object, the
 *       storage keys), then each storage as an int64 element count and its raw bytes.</li>
 * </ul>
 * Pickles go through {@link Pickle} with the allowlist of a state dict: {@code collections.OrderedDict},
 * {@code torch._utils._rebuild_tensor}, {@code _rebuild_tensor_v2}, {@code _rebuild_parameter},
 * {@code _rebuild_parameter_with_state} and the storage types; any other global is refused by name. Tensors may be
 * views (offset and strides into a storage), several may share one storage, and float16/bfloat16 widen to float32
 * exactly. The tensors offered for binding are those of the state dict: the entry the caller names
 * ({@code model.pth#state_dict}); else the top-level dict when it holds tensors itself; else its entry named
 * {@code state_dict}, {@code model_state_dict}, {@code model}, ... when that holds tensors, or the only entry that
 * does; else everything. Nested dicts join their keys with {@code .}, as {@code module.state_dict()} names them.
 */
public final class TorchCheckpoint implements WeightFile {
  /** Deepest nesting of containers walked when looking for tensors. */
  static final int MAX_DEPTH = 100;

  /** Element types of storages, by the storage class that names them in a pickle. */
  public enum DType {
    F32("FloatStorage", 4), F64("DoubleStorage", 8), F16("HalfStorage", 2), BF16("BFloat16Storage", 2),
    I64("LongStorage", 8), I32("IntStorage", 4), I16("ShortStorage", 2), I8("CharStorage", 1), U8("ByteStorage", 1),
    BOOL("BoolStorage", 1);

    final String storageClass;
    public final int size;

    DType(String storageClass, int size) {
      this.storageClass = storageClass;
      this.size = size;
    }

    static DType ofStorageClass(String name) {
      for (DType d : values()) if (d.storageClass.equals(name)) return d;
      return null;
    }
  }

  /**
   * Elements of one dtype: a storage, or a legacy view of one ({@code offset} elements into it). The bytes of a
   * legacy storage are known only after the whole object pickle has been read, hence the late {@link #bind}.
   */
  public static final class Storage {
    final String key;
    final DType dtype;
    final long numel;
    private final Storage root; // this, or the storage a legacy view slices
    private final long offset;  // elements into root
    private MemorySegment bytes; // root only

    Storage(String key, DType dtype, long numel, MemorySegment bytes) {
      this.key = key;
      this.dtype = dtype;
      this.numel = numel;
      this.root = this;
      this.offset = 0;
      this.bytes = bytes;
    }

    private Storage(Storage root, String key, long offset, long numel) {
      this.key = key;
      this.dtype = root.dtype;
      this.numel = numel;
      this.root = root;
      this.offset = offset;
    }

    void bind(MemorySegment data) {
      bytes = data;
    }

    MemorySegment segment() {
      return root.bytes.asSlice(offset * dtype.size, numel * dtype.size);
    }
  }

  /** A tensor as the pickle describes it: a view of a storage, {@code offset} and {@code strides} in elements. */
  public record TorchTensor(Storage storage, long offset, int[] shape, long[] strides) {
    public DType dtype() {
      return storage.dtype;
    }

    public long elements() {
      long n = 1;
      for (int d : shape) n *= d;
      return n;
    }

    /** The tensor's elements in row-major order, little-endian, in its own dtype. */
    public byte[] toBytes() {
      int n = arrayLength(elements(), "elements");
      int size = dtype().size;
      byte[] out = new byte[arrayLength((long) n * size, "bytes")];
      MemorySegment dst = MemorySegment.ofArray(out), src = storage.segment();
      forEachRun((dstIndex, srcIndex, count) -> MemorySegment.copy(src, srcIndex * size, dst, dstIndex * size, count * size));
      return out;
    }

    /** The values as float32; float16 and bfloat16 widen exactly, float64 rounds to nearest. */
    public float[] toFloats() {
      DType d = dtype();
      if (d != DType.F32 && d != DType.F64 && d != DType.F16 && d != DType.BF16) {
        throw new IllegalArgumentException("a " + d + " tensor has no float32 values");
      }
      float[] out = new float[arrayLength(elements(), "elements")];
      MemorySegment src = storage.segment();
      forEachRun((dstIndex, srcIndex, count) -> {
        int at = (int) dstIndex;
        switch (d) {
          case F32 -> MemorySegment.copy(src, F32_LE, srcIndex * 4, out, at, (int) count);
          case F64 -> { for (int i = 0; i < count; i++) out[at + i] = (float) src.get(F64_LE, (srcIndex + i) * 8); }
          case F16 -> { for (int i = 0; i < count; i++) out[at + i] = Float.float16ToFloat(src.get(I16_LE, (srcIndex + i) * 2)); }
          // bfloat16 is the upper half of a float32.
          default -> { for (int i = 0; i < count; i++) out[at + i] = Float.intBitsToFloat(src.get(I16_LE, (srcIndex + i) * 2) << 16); }
        }
      });
      return out;
    }

    private interface Run {
      void copy(long dstIndex, long srcIndex, long count);
    }

    /** Calls {@code run} for each stretch of elements contiguous in the storage, in row-major order. */
    private void forEachRun(Run run) {
      long n = elements();
      if (n == 0) return;
      int rank = shape.length;
      // The innermost dims that are contiguous collapse into one run.
      int inner = rank;
      long runLength = 1;
      while (inner > 0 && (shape[inner - 1] == 1 || strides[inner - 1] == runLength)) runLength *= shape[--inner];
      int[] index = new int[inner];
      long src = offset;
      for (long dst = 0; dst < n; dst += runLength) {
        run.copy(dst, src, runLength);
        for (int d = inner - 1; d >= 0; d--) { // odometer over the outer dims
          src += strides[d];
          if (++index[d] < shape[d]) break;
          src -= strides[d] * shape[d];
          index[d] = 0;
        }
      }
    }
  }

  /** A tensor under the name the state dict gives it. */
  public record Entry(String name, TorchTensor tensor) implements WeightFile.Entry {
    @Override
    public String dtype() {
      return tensor.dtype().name();
    }

    @Override
    public int[] shape() {
      return tensor.shape().clone();
    }
  }

  private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
  private static final int LEGACY_PROTOCOL = 1001;
  /** Top-level keys that name a model's state dict, most telling first, for checkpoints that hold several dicts. */
  private static final List<String> STATE_DICT_KEYS =
      List.of("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params");

  private final Path path;
  private final Arena arena;
  private final Object root;
  private final String selected;
  private final Map<String, Entry> tensors;

  private TorchCheckpoint(Path path, Arena arena, Object root, String selected, Map<String, Entry> tensors) {
    this.path = path;
    this.arena = arena;
    this.root = root;
    this.selected = selected;
    this.tensors = Collections.unmodifiableMap(tensors);
  }

  /** Whether a file that starts with {@code head} is one of the formats read here (a zip archive or a pickle). */
  static boolean looksLikeCheckpoint(byte[] head) {
    boolean zip = head.length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
    boolean pickle = head.length >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5 && !(head.length > 8 && head[8] == '{');
    return zip || pickle;
  }

  /**
   * Reads the checkpoint at {@code file}; {@code key} names the top-level entry holding the state dict, or is null
   * to find it.
   */
  public static TorchCheckpoint open(Path file, String key) {
    Arena arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
      String where = file.toString();
      Object root = mapped.byteSize() >= 4 && mapped.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0) == 0x04034b50
          ? readZip(mapped, where) : readLegacy(mapped, where);
      Selection s = select(root, key, where);
      return new TorchCheckpoint(file, arena, root, s.key(), s.tensors());
    } catch (NoSuchFileException e) {
      arena.close();
      throw new WeightException(file + ": no such file");
    } catch (AccessDeniedException e) {
      arena.close();
      throw new WeightException(file + ": permission denied");
    } catch (IOException e) {
      arena.close();
      throw new WeightException(file + ": cannot read: " + e.getMessage());
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  @Override
  public Path path() {
    return path;
  }

  /** The state dict's tensors, in file order. */
  @Override
  public Map<String, Entry> tensors() {
    return tensors;
  }

  /** The top-level key of the state dict, or null when it is the top level itself. */
  public String selectedKey() {
    return selected;
  }

  /** Everything the file holds, as plain values (dicts, lists, tuples, numbers, strings and tensors). */
  public Object root() {
    return root;
  }

  @Override
  public float[] readFloats(String name) {
    Entry e = tensors.get(name);
    if (e == null) throw new WeightException(path + ": no tensor named " + name);
    if (!FLOAT_DTYPES.contains(e.dtype())) {
      throw new WeightException(path + ": unsupported dtype " + e.dtype() + " for tensor " + name + "; resnetc reads "
          + String.join(", ", FLOAT_DTYPES));
    }
    if (e.elements() > Integer.MAX_VALUE - 8) throw new WeightException(path + ": tensor " + name + " has " + e.elements() + " elements, more than one Java array holds");
    return e.tensor().toFloats();
  }

  @Override
  public byte[] readBytes(String name) {
    Entry e = tensors.get(name);
    if (e == null) throw new WeightException(path + ": no tensor named " + name);
    if (e.elements() * e.tensor().dtype().size > Integer.MAX_VALUE - 8) {
      throw new WeightException(path + ": tensor " + name + " is larger than one Java array holds");
    }
    return e.tensor().toBytes();
  }

  @Override
  public void close() {
    if (arena.scope().isAlive()) arena.close();
  }

  // --- zip format ---

  private static Object readZip(MemorySegment file, String where) {
    Map<String, StoredZip.Entry> entries = StoredZip.read(file, where);
    List<String> pickles = entries.keySet().stream().filter(n -> n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - 9).toList();
    if (pickles.size() != 1) {
      throw new WeightException(where + ": a zip archive, but not a torch.save checkpoint ("
          + (pickles.isEmpty() ? "no <archive>/data.pkl" : "several data.pkl entries") + ")");
    }
    String archive = pickles.getFirst().substring(0, pickles.getFirst().length() - "data.pkl".length());
    if (entries.containsKey(archive + "constants.pkl") || entries.keySet().stream().anyMatch(n -> n.startsWith(archive + "code/"))) {
      throw new WeightException(where + ": a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the "
          + "model's state_dict() with torch.save");
    }
    StoredZip.Entry byteorder = entries.get(archive + "byteorder");
    if (byteorder != null) {
      String order = new String(byteorder.data().toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).strip();
      if (!order.equals("little")) throw new WeightException(where + ": byte order '" + order + "' is not supported (only little-endian)");
    }
    StoredZip.Entry pkl = entries.get(pickles.getFirst());
    pkl.verify(where);
    Map<String, Storage> storages = new HashMap<>();
    Pickle.Globals globals = new StateDictGlobals() {
      @Override
      public Object persistentLoad(Object pid, Function<String, WeightException> fail) {
        // ('storage', storage class, key, location, numel)
        if (!(pid instanceof Tuple t) || t.size() != 5 || !"storage".equals(t.get(0))) {
          throw fail.apply("persistent id is not ('storage', type, key, location, numel)");
        }
        DType dtype = storageType(t.get(1), fail);
        if (!(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel) || numel < 0) {
          throw fail.apply("persistent id is not ('storage', type, key, location, numel)");
        }
        Storage known = storages.get(key);
        if (known != null) {
          if (known.dtype != dtype) throw fail.apply("storage " + key + " is read as both " + known.dtype + " and " + dtype);
          return known;
        }
        StoredZip.Entry e = entries.get(archive + "data/" + key);
        if (e == null) throw fail.apply("storage " + key + " has no entry " + archive + "data/" + key + " in the archive");
        long bytes = multiply(numel, dtype.size, fail);
        if (e.data().byteSize() != bytes) {
          throw fail.apply("storage " + key + " declares " + numel + " " + dtype + " elements (" + bytes + " bytes) but its entry holds "
              + e.data().byteSize() + " bytes");
        }
        e.verify(where);
        Storage s = new Storage(key, dtype, numel, e.data());
        storages.put(key, s);
        return s;
      }
    };
    return Pickle.load(pkl.data(), 0, where + ": " + pkl.name(), globals).value();
  }

  // --- legacy format ---

  private static Object readLegacy(MemorySegment file, String where) {
    if (file.byteSize() > 262 && new String(file.asSlice(257, 5).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).equals("ustar")) {
      throw new WeightException(where + ": a tar archive (the checkpoint format of PyTorch before 0.4) is not supported");
    }
    if (file.byteSize() < 2 || (file.get(ValueLayout.JAVA_BYTE, 0) & 0xff) != 0x80) {
      throw new WeightException(where + ": not a PyTorch checkpoint (neither a zip archive nor a pickle)");
    }
    Pickle.Globals plain = new StateDictGlobals() {
      @Override
      public Object persistentLoad(Object pid, Function<String, WeightException> fail) {
        throw fail.apply("unexpected persistent id");
      }
    };
    Pickle.Result magic = Pickle.load(file, 0, where, plain);
    if (!LEGACY_MAGIC.equals(magic.value())) throw new WeightException(where + ": a pickle, but not a torch.save checkpoint (no magic number)");
    Pickle.Result protocol = Pickle.load(file, magic.end(), where, plain);
    if (!Long.valueOf(LEGACY_PROTOCOL).equals(protocol.value())) {
      throw new WeightException(where + ": legacy checkpoint protocol " + protocol.value() + " is not supported (expected " + LEGACY_PROTOCOL + ")");
    }
    Pickle.Result sysInfo = Pickle.load(file, protocol.end(), where, plain);
    if (sysInfo.value() instanceof Map<?, ?> info && Boolean.FALSE.equals(info.get("little_endian"))) {
      throw new WeightException(where + ": written on a big-endian machine; only little-endian checkpoints are supported");
    }

    Map<String, Storage> storages = new LinkedHashMap<>(); // root storages by key
    Map<String, Storage> views = new HashMap<>();
    Pickle.Globals globals = new StateDictGlobals() {
      @Override
      public Object persistentLoad(Object pid, Function<String, WeightException> fail) {
        // ('storage', storage class, root key, location, numel, view metadata: None or (view key, offset, numel))
        if (!(pid instanceof Tuple t) || t.size() != 6 || !"storage".equals(t.get(0))) {
          throw fail.apply("persistent id is not ('storage', type, key, location, numel, view)");
        }
        DType dtype = storageType(t.get(1), fail);
        if (!(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel) || numel < 0) {
          throw fail.apply("persistent id is not ('storage', type, key, location, numel, view)");
        }
        multiply(numel, dtype.size, fail);
        Storage s = storages.computeIfAbsent(key, k -> new Storage(k, dtype, numel, null));
        if (s.dtype != dtype || s.numel != numel) throw fail.apply("storage " + key + " is declared twice, differently");
        if (t.get(5) == null) return s;
        if (!(t.get(5) instanceof Tuple v) || v.size() != 3 || !(v.get(0) instanceof String viewKey)
            || !(v.get(1) instanceof Long offset) || !(v.get(2) instanceof Long size)) {
          throw fail.apply("storage view is not (key, offset, numel)");
        }
        if (offset < 0 || size < 0 || offset > numel || size > numel - offset) {
          throw fail.apply("storage view " + viewKey + " [" + offset + ", +" + size + ") lies outside storage " + key + " of " + numel + " elements");
        }
        Storage view = views.computeIfAbsent(viewKey, k -> new Storage(s, k, offset, size));
        if (view.root != s || view.offset != offset || view.numel != size) throw fail.apply("storage view " + viewKey + " is declared twice, differently");
        return view;
      }
    };
    Pickle.Result object = Pickle.load(file, sysInfo.end(), where, globals);
    Pickle.Result keys = Pickle.load(file, object.end(), where, plain);
    if (!(keys.value() instanceof List<?> keyList)) throw new WeightException(where + ": storage key list missing (truncated file?)");

    // The storages follow in the order of the key list: int64 element count, then the elements.
    long at = keys.end();
    for (Object k : keyList) {
      Storage s = k instanceof String key ? storages.get(key) : null;
      if (s == null) throw new WeightException(where + ": the storage key list names " + k + ", which no tensor uses");
      if (s.bytes != null) throw new WeightException(where + ": storage " + k + " is listed twice");
      if (at + 8 > file.byteSize()) throw new WeightException(where + ": storage " + k + " is missing (truncated file?)");
      long count = file.get(I64_LE, at);
      if (count != s.numel) {
        throw new WeightException(where + ": storage " + k + " holds " + count + " elements, the pickle declares " + s.numel);
      }
      long bytes = s.numel * s.dtype.size;
      if (bytes > file.byteSize() - at - 8) throw new WeightException(where + ": storage " + k + " extends past the end of the file (truncated file?)");
      s.bind(file.asSlice(at + 8, bytes));
      at += 8 + bytes;
    }
    for (Storage s : storages.values()) {
      if (s.bytes == null) throw new WeightException(where + ": storage " + s.key + " is used but not in the storage key list");
    }
    return object.value();
  }

  // --- the allowlist ---

  /** The globals a state dict needs, and what calling them builds. */
  private abstract static class StateDictGlobals implements Pickle.Globals {
    private static final List<String> CALLABLE = List.of("collections.OrderedDict", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state");

    @Override
    public boolean allowed(String module, String name) {
      return CALLABLE.contains(module + "." + name) || (module.equals("torch") && DType.ofStorageClass(name) != null);
    }

    @Override
    public String refusal(String module, String name) {
      String q = module + "." + name;
      if (module.equals("torch") && name.endsWith("Storage")) {
        return "storage type " + q + " is not supported (resnetc reads float32/64, float16, bfloat16, integer and bool storages)";
      }
      return "refused: the pickle names " + q + ", which is not on the allowlist of a state dict (tensors, storages, "
          + "OrderedDict, plain values); resnetc runs no code from a file. If this is a whole pickled model, save its "
          + "state_dict() instead";
    }

    @Override
    public Object call(Global callee, Tuple args, Function<String, WeightException> fail) {
      return switch (callee.qualified()) {
        case "collections.OrderedDict" -> {
          if (args.size() != 0) throw fail.apply("OrderedDict is called with arguments");
          yield new LinkedHashMap<>();
        }
        // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2" -> {
          int arity = callee.name().equals("_rebuild_tensor") ? 4 : 6;
          if (args.size() != arity && !(arity == 6 && args.size() == 7)) throw fail.apply(callee.name() + " takes " + arity + " arguments, not " + args.size());
          yield rebuild(args, fail);
        }
        // (data, requires_grad, backward_hooks[, state])
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
          int arity = callee.name().equals("_rebuild_parameter") ? 3 : 4;
          if (args.size() != arity || !(args.get(0) instanceof TorchTensor t)) throw fail.apply(callee.name() + " needs a tensor and " + (arity - 1) + " more arguments");
          yield t;
        }
        default -> throw fail.apply(callee.qualified() + " cannot be called");
      };
    }

    static DType storageType(Object o, Function<String, WeightException> fail) {
      DType d = o instanceof Global g && g.module().equals("torch") ? DType.ofStorageClass(g.name()) : null;
      if (d == null) throw fail.apply("persistent id names a " + Pickle.typeName(o) + ", not a storage type");
      return d;
    }

    /** A tensor view, checked to lie inside its storage. */
    private static TorchTensor rebuild(Tuple args, Function<String, WeightException> fail) {
      if (!(args.get(0) instanceof Storage storage)) throw fail.apply("a tensor is rebuilt from a " + Pickle.typeName(args.get(0)) + ", not a storage");
      if (!(args.get(1) instanceof Long offset) || offset < 0) throw fail.apply("a tensor's storage offset is not a non-negative int");
      long[] size = ints(args.get(2), "size", fail), stride = ints(args.get(3), "stride", fail);
      if (size.length != stride.length) throw fail.apply("a tensor has " + size.length + " sizes but " + stride.length + " strides");
      int[] shape = new int[size.length];
      long elements = 1, last = offset; // the last element the view reaches
      for (int i = 0; i < size.length; i++) {
        if (size[i] > Integer.MAX_VALUE) throw fail.apply("a tensor dimension of " + size[i] + " is too large");
        shape[i] = (int) size[i];
        elements = multiply(elements, size[i], fail);
      }
      if (elements > 0) {
        for (int i = 0; i < size.length; i++) last = add(last, multiply(size[i] - 1, stride[i], fail), fail);
        if (last >= storage.numel) {
          throw fail.apply("a tensor of shape " + WeightFile.shapeString(shape) + " reaches element " + last + " of a storage of "
              + storage.numel + " elements");
        }
      }
      return new TorchTensor(storage, offset, shape, stride);
    }

    private static long[] ints(Object o, String what, Function<String, WeightException> fail) {
      if (!(o instanceof Tuple t)) throw fail.apply("a tensor's " + what + " is a " + Pickle.typeName(o) + ", not a tuple");
      long[] out = new long[t.size()];
      for (int i = 0; i < out.length; i++) {
        if (!(t.get(i) instanceof Long v) || v < 0) throw fail.apply("a tensor's " + what + " holds something other than a non-negative int");
        out[i] = v;
      }
      return out;
    }
  }

  private static long multiply(long a, long b, Function<String, WeightException> fail) {
    try {
      return Math.multiplyExact(a, b);
    } catch (ArithmeticException e) {
      throw fail.apply("a size overflows 64 bits");
    }
  }

  private static long add(long a, long b, Function<String, WeightException> fail) {
    try {
      return Math.addExact(a, b);
    } catch (ArithmeticException e) {
      throw fail.apply("a size overflows 64 bits");
    }
  }

  private static int arrayLength(long n, String what) {
    if (n > Integer.MAX_VALUE - 8) throw new WeightException("a tensor of " + n + " " + what + " is more than one Java array holds");
    return (int) n;
  }

  // --- finding the state dict ---

  private record Selection(String key, Map<String, Entry> tensors) {}

  private static Selection select(Object root, String key, String where) {
    if (key != null) {
      if (!(root instanceof Map<?, ?> m) || !m.containsKey(key)) {
        throw new WeightException(where + ": no entry '" + key + "' at the top level" + (root instanceof Map<?, ?> m2 ? " (it has "
            + keysOf(m2) + ")" : " (the file holds a " + Pickle.typeName(root) + ")"));
      }
      Map<String, Entry> t = flatten(m.get(key), where);
      if (t.isEmpty()) throw new WeightException(where + ": entry '" + key + "' holds no tensors");
      return new Selection(key, t);
    }
    if (root instanceof TorchTensor) throw new WeightException(where + ": the file holds a single tensor, not a state dict");
    if (root instanceof Map<?, ?> m && m.values().stream().noneMatch(v -> v instanceof TorchTensor)) {
      // A checkpoint around the state dict, {'state_dict': ..., 'epoch': ..., 'optimizer': ...}: take the entry with
      // a state dict's name, else the only entry that holds tensors. With several and none named, all of them.
      Map<String, Map<String, Entry>> groups = new LinkedHashMap<>();
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!(e.getKey() instanceof String k)) continue;
        Map<String, Entry> t = flatten(e.getValue(), where);
        if (!t.isEmpty()) groups.put(k, t);
      }
      for (String preferred : STATE_DICT_KEYS) {
        if (groups.containsKey(preferred)) return new Selection(preferred, groups.get(preferred));
      }
      if (groups.size() == 1) {
        var only = groups.entrySet().iterator().next();
        return new Selection(only.getKey(), only.getValue());
      }
    }
    Map<String, Entry> t = flatten(root, where);
    if (t.isEmpty()) throw new WeightException(where + ": holds no tensors (a " + Pickle.typeName(root) + ")");
    return new Selection(null, t);
  }

  private static String keysOf(Map<?, ?> m) {
    List<String> keys = m.keySet().stream().limit(10).map(String::valueOf).toList();
    return m.isEmpty() ? "no entries" : String.join(", ", keys) + (m.size() > keys.size() ? ", ..." : "");
  }

  /**
   * Every tensor under {@code tree}, named by the path to it with {@code .} between keys (and list indices), in
   * file order. Bounded: at most {@value #MAX_DEPTH} levels and {@link Pickle#MAX_OBJECTS} visits, so a cycle or a
   * structure shared many times over fails instead of running forever.
   */
  public static Map<String, Entry> flatten(Object tree, String where) {
    Map<String, Entry> out = new LinkedHashMap<>();
    flatten(tree, new ArrayList<>(), out, new long[1], where);
    return out;
  }

  /** {@code path} holds the keys (and list indices) down to {@code node}; names are built for tensors only. */
  private static void flatten(Object node, List<Object> path, Map<String, Entry> out, long[] visits, String where) {
    if (++visits[0] > Pickle.MAX_OBJECTS) throw new WeightException(where + ": the saved object expands to more than " + Pickle.MAX_OBJECTS + " values");
    if (path.size() > MAX_DEPTH) throw new WeightException(where + ": the saved object nests deeper than " + MAX_DEPTH + " levels (or contains itself)");
    switch (node) {
      case TorchTensor t -> {
        String name = path.stream().map(TorchCheckpoint::keyName).collect(Collectors.joining("."));
        if (out.putIfAbsent(name, new Entry(name, t)) != null) throw new WeightException(where + ": two tensors are both named " + name);
      }
      case Map<?, ?> m -> {
        for (Map.Entry<?, ?> e : m.entrySet()) descend(e.getValue(), e.getKey(), path, out, visits, where);
      }
      case List<?> l -> {
        for (int i = 0; i < l.size(); i++) descend(l.get(i), (long) i, path, out, visits, where);
      }
      case Tuple t -> {
        for (int i = 0; i < t.size(); i++) descend(t.get(i), (long) i, path, out, visits, where);
      }
      case null, default -> { } // numbers, strings, bytes, None: not tensors
    }
  }

  private static void descend(Object node, Object key, List<Object> path, Map<String, Entry> out, long[] visits, String where) {
    path.add(key);
    flatten(node, path, out, visits, where);
    path.removeLast();
  }

  /** A dict key as Python's {@code str()} prints it (keys are scalars or flat tuples, see {@link Pickle}). */
  private static String keyName(Object key) {
    return switch (key) {
      case null -> "None";
      case Boolean b -> b ? "True" : "False";
      case Tuple t -> t.items().stream().map(TorchCheckpoint::keyName).collect(Collectors.joining(", ", "(", t.size() == 1 ? ",)" : ")"));
      default -> String.valueOf(key);
    };
  }
}
