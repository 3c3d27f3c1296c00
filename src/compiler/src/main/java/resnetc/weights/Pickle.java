package resnetc.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A pickle reader that runs no code: the subset of the pickle virtual machine (protocols 2 to 5) that a state dict
 * needs, with an allowlist of globals, as PyTorch's own {@code weights_only} unpickler. A pickle is a program whose
 * instructions can import and call anything; here a global is only a name, looked up in the caller's allowlist, and
 * calling it runs the caller's Java function for that name. No class is loaded by a name from the file, nothing is
 * reflected on. Objects become plain Java values: {@code None} is null, bool {@link Boolean}, int {@link Long} (or
 * {@link BigInteger} beyond 64 bits), float {@link Double}, str {@link String}, bytes {@code byte[]}, list
 * {@link ArrayList}, tuple {@link Tuple}, dict {@link LinkedHashMap} (insertion-ordered, as Python's).
 *
 * <p>Limits: every length in the file is checked against the bytes that remain before anything is allocated, a
 * string or bytes object holds at most {@value #MAX_STRING} bytes, an int at most {@value #MAX_INT_BYTES} bytes,
 * a dict key must be a scalar or a tuple of scalars (hashing stays flat), and one pickle builds at most
 * {@value #MAX_OBJECTS} objects. The machine itself is a loop, not a recursion; deep nesting is for the code that
 * walks the result to bound ({@link TorchCheckpoint}).
 */
final class Pickle {
  static final int MAX_OBJECTS = 4_000_000;
  static final int MAX_STRING = 64 << 20;
  static final int MAX_INT_BYTES = 16;

  /** An allowlisted global, pushed by GLOBAL or STACK_GLOBAL; only {@link Globals#call} can call it. */
  record Global(String module, String name) {
    String qualified() {
      return module + "." + name;
    }
  }

  /** A Python tuple; immutable, may hold null (None). */
  record Tuple(List<Object> items) {
    Tuple {
      items = Collections.unmodifiableList(Arrays.asList(items.toArray()));
    }

    static Tuple of(Object... items) {
      return new Tuple(Arrays.asList(items));
    }

    int size() {
      return items.size();
    }

    Object get(int i) {
      return items.get(i);
    }
  }

  /** What the caller allows: which globals exist, what calling one does, and what a persistent id stands for. */
  interface Globals {
    /** Whether {@code module.name} may be named at all. */
    boolean allowed(String module, String name);

    /** REDUCE: calls an allowed global; throws a {@link WeightException} (via {@code fail}) for a refused call. */
    Object call(Global callee, Tuple args, Function<String, WeightException> fail);

    /** BINPERSID: the object a persistent id refers to (a storage, for PyTorch). */
    Object persistentLoad(Object pid, Function<String, WeightException> fail);

    /** The message for a global that is not allowed. */
    String refusal(String module, String name);
  }

  /** The value a pickle built and the offset just after its STOP opcode. */
  record Result(Object value, long end) {}

  private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfDouble F64_BE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
  private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /** A marker on the stack for MARK; never escapes. */
  private static final Object MARK = new Object();

  private final MemorySegment data;
  private final String where;
  private final Globals globals;
  private final List<Object> stack = new ArrayList<>();
  private final Map<Long, Object> memo = new HashMap<>();
  private long pos;
  private long opStart;
  private int objects;

  private Pickle(MemorySegment data, long start, String where, Globals globals) {
    this.data = data;
    this.pos = start;
    this.where = where;
    this.globals = globals;
  }

  /** Runs the pickle that starts at {@code start} of {@code data} up to its STOP opcode. */
  static Result load(MemorySegment data, long start, String where, Globals globals) {
    Pickle p = new Pickle(data, start, where, globals);
    Object value = p.run();
    return new Result(value, p.pos);
  }

  private WeightException fail(String message) {
    return new WeightException(where + ": " + message);
  }

  private WeightException failAt(String message) {
    return new WeightException(where + ", byte " + opStart + ": " + message);
  }

  private Object run() {
    if (pos >= data.byteSize()) throw fail("empty pickle (truncated file?)");
    while (true) {
      opStart = pos;
      if (pos >= data.byteSize()) throw fail("the pickle ends without a STOP opcode (truncated file?)");
      int op = u8();
      switch (op) {
        case 0x80 -> { // PROTO
          int proto = u8();
          if (proto < 2 || proto > 5) throw failAt("pickle protocol " + proto + " is not supported (expected 2 to 5)");
        }
        case 0x95 -> { // FRAME: a length prefix for buffering; the opcodes follow as usual
          long n = data.get(I64, need(8));
          if (n < 0 || n > remaining()) throw failAt("FRAME declares " + Long.toUnsignedString(n) + " bytes, " + remaining() + " remain");
        }
        case '.' -> { // STOP
          Object value = pop();
          if (!stack.isEmpty()) throw failAt("STOP with " + stack.size() + " values left on the stack");
          return value;
        }
        case '(' -> push(MARK);
        case '0' -> pop(); // POP
        case '1' -> popMark(); // POP_MARK
        case '2' -> push(peek()); // DUP
        case 'N' -> push(null);
        case 0x88 -> push(Boolean.TRUE);
        case 0x89 -> push(Boolean.FALSE);
        case 'J' -> push((long) data.get(I32, need(4))); // BININT
        case 'K' -> push((long) u8()); // BININT1
        case 'M' -> push((long) (data.get(U16, need(2)) & 0xffff)); // BININT2
        case 0x8a -> push(longOf(u8())); // LONG1
        case 0x8b -> push(longOf(length(data.get(I32, need(4)) & 0xffffffffL, MAX_INT_BYTES, "LONG4"))); // LONG4
        case 'G' -> push(data.get(F64_BE, need(8))); // BINFLOAT
        case 'X' -> push(utf8(length(data.get(I32, need(4)) & 0xffffffffL, MAX_STRING, "BINUNICODE"))); // BINUNICODE
        case 0x8c -> push(utf8(u8())); // SHORT_BINUNICODE
        case 0x8d -> push(utf8(length(data.get(I64, need(8)), MAX_STRING, "BINUNICODE8"))); // BINUNICODE8
        case 'T' -> push(latin1(length(data.get(I32, need(4)) & 0xffffffffL, MAX_STRING, "BINSTRING"))); // BINSTRING (Python 2 str)
        case 'U' -> push(latin1(u8())); // SHORT_BINSTRING
        case 'B' -> push(bytes(length(data.get(I32, need(4)) & 0xffffffffL, MAX_STRING, "BINBYTES"))); // BINBYTES
        case 'C' -> push(bytes(u8())); // SHORT_BINBYTES
        case 0x8e -> push(bytes(length(data.get(I64, need(8)), MAX_STRING, "BINBYTES8"))); // BINBYTES8
        case ')' -> push(Tuple.of()); // EMPTY_TUPLE
        case 't' -> push(new Tuple(popMark())); // TUPLE
        case 0x85 -> push(Tuple.of(pop())); // TUPLE1
        case 0x86 -> { // TUPLE2
          Object b = pop(), a = pop();
          push(Tuple.of(a, b));
        }
        case 0x87 -> { // TUPLE3
          Object c = pop(), b = pop(), a = pop();
          push(Tuple.of(a, b, c));
        }
        case ']' -> push(new ArrayList<>()); // EMPTY_LIST
        case 'l' -> push(new ArrayList<>(popMark())); // LIST
        case 'a' -> { // APPEND
          Object v = pop();
          list(peek(), "APPEND").add(v);
        }
        case 'e' -> { // APPENDS
          List<Object> items = popMark();
          list(peek(), "APPENDS").addAll(items);
        }
        case '}' -> push(new LinkedHashMap<>()); // EMPTY_DICT
        case 'd' -> { // DICT
          List<Object> items = popMark();
          Map<Object, Object> m = new LinkedHashMap<>();
          putAll(m, items);
          push(m);
        }
        case 's' -> { // SETITEM
          Object v = pop(), k = pop();
          put(dict(peek(), "SETITEM"), k, v);
        }
        case 'u' -> { // SETITEMS
          List<Object> items = popMark();
          putAll(dict(peek(), "SETITEMS"), items);
        }
        case 'h' -> push(get(u8())); // BINGET
        case 'j' -> push(get(data.get(I32, need(4)) & 0xffffffffL)); // LONG_BINGET
        case 'q' -> memoize(u8()); // BINPUT
        case 'r' -> memoize(data.get(I32, need(4)) & 0xffffffffL); // LONG_BINPUT
        case 0x94 -> memoize(memo.size()); // MEMOIZE
        case 'c' -> { // GLOBAL: "module\nname\n"
          String module = line(), name = line();
          push(global(module, name));
        }
        case 0x93 -> { // STACK_GLOBAL
          Object name = pop(), module = pop();
          if (!(module instanceof String m) || !(name instanceof String n)) throw failAt("STACK_GLOBAL needs two strings");
          push(global(m, n));
        }
        case 'R' -> { // REDUCE: callable(*args)
          Object args = pop(), callee = pop();
          if (!(callee instanceof Global g)) throw failAt("REDUCE calls a " + typeName(callee) + ", not an allowed global");
          if (!(args instanceof Tuple t)) throw failAt("REDUCE arguments are a " + typeName(args) + ", not a tuple");
          push(counted(globals.call(g, t, this::failAt)));
        }
        case 'b' -> { // BUILD: obj.__setstate__(state); only an OrderedDict's attributes (its _metadata), ignored
          Object state = pop();
          Object target = peek();
          if (!(target instanceof Map) || !(state == null || state instanceof Map)) {
            throw failAt("BUILD (setting the state of an object) is allowed only on a dict, not on a " + typeName(target));
          }
        }
        case 'Q' -> { // BINPERSID
          Object pid = pop();
          push(counted(globals.persistentLoad(pid, this::failAt)));
        }
        case 'i', 'o', 0x81, 0x92 -> throw failAt("opcode " + opName(op) + " builds an arbitrary object, which a state dict never needs; refused");
        case 'P' -> throw failAt("opcode PERSID (text persistent id) is not supported");
        case 0x82, 0x83, 0x84 -> throw failAt("opcode " + opName(op) + " (extension registry) is not supported");
        default -> throw failAt(String.format("opcode 0x%02x is not supported (not a state dict pickle, or a damaged file)", op));
      }
    }
  }

  private static String opName(int op) {
    return switch (op) {
      case 'i' -> "INST";
      case 'o' -> "OBJ";
      case 0x81 -> "NEWOBJ";
      case 0x92 -> "NEWOBJ_EX";
      case 0x82 -> "EXT1";
      case 0x83 -> "EXT2";
      default -> "EXT4";
    };
  }

  private Global global(String module, String name) {
    if (!globals.allowed(module, name)) throw failAt(globals.refusal(module, name));
    return new Global(module, name);
  }

  // --- the stack ---

  private void push(Object v) {
    counted(v);
    stack.add(v);
  }

  private <T> T counted(T v) {
    if (++objects > MAX_OBJECTS) throw fail("the pickle builds more than " + MAX_OBJECTS + " objects; a state dict needs far fewer");
    return v;
  }

  private Object pop() {
    if (stack.isEmpty()) throw failAt("stack underflow");
    Object v = stack.removeLast();
    if (v == MARK) throw failAt("unexpected MARK on the stack");
    return v;
  }

  private Object peek() {
    if (stack.isEmpty()) throw failAt("stack underflow");
    Object v = stack.getLast();
    if (v == MARK) throw failAt("unexpected MARK on the stack");
    return v;
  }

  /** Pops everything down to the topmost MARK (and the MARK). */
  private List<Object> popMark() {
    int mark = stack.lastIndexOf(MARK);
    if (mark < 0) throw failAt("no MARK on the stack");
    List<Object> view = stack.subList(mark + 1, stack.size());
    List<Object> items = new ArrayList<>(view);
    stack.subList(mark, stack.size()).clear();
    return items;
  }

  @SuppressWarnings("unchecked")
  private List<Object> list(Object o, String op) {
    if (o instanceof ArrayList<?> l) return (List<Object>) l;
    throw failAt(op + " on a " + typeName(o) + ", not a list");
  }

  @SuppressWarnings("unchecked")
  private Map<Object, Object> dict(Object o, String op) {
    if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
    throw failAt(op + " on a " + typeName(o) + ", not a dict");
  }

  private void putAll(Map<Object, Object> m, List<Object> items) {
    if (items.size() % 2 != 0) throw failAt("odd number of items for a dict");
    for (int i = 0; i < items.size(); i += 2) put(m, items.get(i), items.get(i + 1));
  }

  private void put(Map<Object, Object> m, Object key, Object value) {
    if (!isScalar(key) && !(key instanceof Tuple t && t.items().stream().allMatch(Pickle::isScalar))) {
      throw failAt("a dict key is a " + typeName(key) + "; a state dict's keys are strings, numbers or flat tuples");
    }
    m.put(key, value);
  }

  private static boolean isScalar(Object o) {
    return o == null || o instanceof String || o instanceof Long || o instanceof BigInteger || o instanceof Boolean
        || o instanceof Double;
  }

  private Object get(long index) {
    Object v = memo.get(index);
    if (v == null && !memo.containsKey(index)) throw failAt("memo entry " + index + " is read before it is written");
    return v;
  }

  private void memoize(long index) {
    memo.put(index, counted(peek()));
  }

  // --- reading operands ---

  private long remaining() {
    return data.byteSize() - pos;
  }

  /** Reserves {@code n} bytes of operand; returns where they start. */
  private long need(long n) {
    if (n > remaining()) throw failAt("the pickle ends inside an opcode (truncated file?)");
    long at = pos;
    pos += n;
    return at;
  }

  private int u8() {
    return data.get(ValueLayout.JAVA_BYTE, need(1)) & 0xff;
  }

  /** A length operand, checked against the limit and against the bytes that remain, before any allocation. */
  private int length(long n, int limit, String op) {
    if (n < 0 || n > limit) throw failAt(op + " declares " + Long.toUnsignedString(n) + " bytes, more than the limit of " + limit);
    if (n > remaining()) throw failAt(op + " declares " + n + " bytes but only " + remaining() + " remain (truncated file?)");
    return (int) n;
  }

  private byte[] bytes(int n) {
    long at = need(n);
    return data.asSlice(at, n).toArray(ValueLayout.JAVA_BYTE);
  }

  private String utf8(int n) {
    byte[] b = bytes(n);
    try {
      return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b)).toString();
    } catch (CharacterCodingException e) {
      throw failAt("a string is not valid UTF-8");
    }
  }

  private String latin1(int n) {
    return new String(bytes(n), StandardCharsets.ISO_8859_1);
  }

  /** Little-endian two's complement of {@code n} bytes: a Long when it fits, else a BigInteger. */
  private Object longOf(int n) {
    if (n > MAX_INT_BYTES) throw failAt("LONG1 declares a " + n + "-byte integer, more than the limit of " + MAX_INT_BYTES);
    byte[] le = bytes(n);
    if (n == 0) return 0L;
    byte[] be = new byte[n];
    for (int i = 0; i < n; i++) be[i] = le[n - 1 - i];
    BigInteger v = new BigInteger(be);
    return v.bitLength() < 64 ? (Object) v.longValue() : v;
  }

  /** A newline-terminated ASCII line of at most 256 bytes (GLOBAL's operands). */
  private String line() {
    long limit = Math.min(data.byteSize(), pos + 257);
    for (long i = pos; i < limit; i++) {
      if (data.get(ValueLayout.JAVA_BYTE, i) == '\n') {
        byte[] b = data.asSlice(pos, i - pos).toArray(ValueLayout.JAVA_BYTE);
        pos = i + 1;
        for (byte c : b) if (c < 0x20 || c > 0x7e) throw failAt("GLOBAL names a non-ASCII module or name");
        return new String(b, StandardCharsets.US_ASCII);
      }
    }
    throw failAt(limit == data.byteSize() ? "the pickle ends inside a GLOBAL opcode (truncated file?)" : "GLOBAL operand longer than 256 bytes");
  }

  /** Python's name for the type of a value built here, for messages. */
  static String typeName(Object o) {
    return switch (o) {
      case null -> "None";
      case String s -> "str";
      case Long l -> "int";
      case BigInteger b -> "int";
      case Boolean b -> "bool";
      case Double d -> "float";
      case byte[] b -> "bytes";
      case Tuple t -> "tuple";
      case List<?> l -> "list";
      case Map<?, ?> m -> "dict";
      case Global g -> g.qualified();
      default -> o.getClass().getSimpleName();
    };
  }
}
