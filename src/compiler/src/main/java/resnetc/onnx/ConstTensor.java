package resnetc.onnx;

import java.util.Arrays;

/**
 * A tensor whose value the importer knows: an initializer, a {@code Constant} node, or the result of folding
 * shape arithmetic. Float data is float32; integer data (int64, int32, bool) is kept as {@code long}. An integer
 * element may be {@link #BATCH}, the symbolic batch size a {@code Shape} of an activation yields: it may be moved
 * around (Gather, Concat, Unsqueeze, ...) and end up in a Reshape target, but never computed with.
 */
record ConstTensor(boolean isFloat, long[] dims, float[] floats, long[] ints) {
  /** The symbolic batch size inside integer shape values. */
  static final long BATCH = Long.MIN_VALUE;

  /** The largest tensor folding may compute (elements): bounds the work a hostile shape can ask for. */
  static final long MAX_FOLDED = 1 << 24;

  /** A reason the importer refuses something; the caller adds the file and node. */
  static final class Unsupported extends RuntimeException {
    Unsupported(String reason) {
      super(reason, null, false, false);
    }
  }

  static ConstTensor ofFloats(long[] dims, float[] data) {
    return new ConstTensor(true, dims, data, null);
  }

  static ConstTensor ofInts(long[] dims, long[] data) {
    return new ConstTensor(false, dims, null, data);
  }

  int rank() {
    return dims.length;
  }

  int size() {
    return isFloat ? floats.length : ints.length;
  }

  boolean hasBatch() {
    if (isFloat) return false;
    for (long v : ints) if (v == BATCH) return true;
    return false;
  }

  /** Integer values without the symbolic batch, for attributes given as inputs (axes, pads, steps, ...). */
  long[] concreteInts(String what) {
    if (isFloat) throw new Unsupported(what + " must be integers, got float values");
    if (hasBatch()) throw new Unsupported(what + " depend on the batch size");
    return ints;
  }

  /** Element count of {@code dims}, refused when negative or above {@code limit}. */
  static int size(long[] dims, long limit, String what) {
    long n = 1;
    for (long d : dims) {
      if (d < 0) throw new Unsupported(what + " has a negative dimension in " + Arrays.toString(dims));
      if (d > limit || (n = n * d) > limit) throw new Unsupported(what + " " + Arrays.toString(dims) + " has more than " + limit + " elements");
    }
    return (int) n;
  }

  static String text(long[] values) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < values.length; i++) sb.append(i > 0 ? ", " : "").append(values[i] == BATCH ? "N" : Long.toString(values[i]));
    return sb.append(']').toString();
  }

  private static long[] strides(long[] dims) {
    long[] s = new long[dims.length];
    long acc = 1;
    for (int i = dims.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= dims[i];
    }
    return s;
  }

  /** A tensor of the same kind with the elements at {@code from[i]} of this one. */
  private ConstTensor gathered(long[] newDims, int[] from) {
    if (isFloat) {
      float[] f = new float[from.length];
      for (int i = 0; i < from.length; i++) f[i] = floats[from[i]];
      return ofFloats(newDims, f);
    }
    long[] v = new long[from.length];
    for (int i = 0; i < from.length; i++) v[i] = ints[from[i]];
    return ofInts(newDims, v);
  }

  static int axis(long axis, int rank, String what) {
    long a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) throw new Unsupported(what + " " + axis + " is out of range for rank " + rank);
    return (int) a;
  }

  ConstTensor reshaped(long[] newDims) {
    return isFloat ? ofFloats(newDims, floats) : ofInts(newDims, ints);
  }

  // ---- folding: what exporters compute on constants and shapes ----

  /** ONNX Reshape of a constant: 0 copies the dimension (unless allowzero), -1 is inferred. */
  ConstTensor reshape(long[] target, boolean allowZero) {
    long[] out = new long[target.length];
    int infer = -1;
    long known = 1;
    for (int i = 0; i < target.length; i++) {
      long t = target[i];
      if (t == 0 && !allowZero) {
        if (i >= dims.length) throw new Unsupported("Reshape copies dimension " + i + " of a rank-" + dims.length + " tensor");
        t = dims[i];
      }
      if (t == -1) {
        if (infer >= 0) throw new Unsupported("Reshape target " + text(target) + " has two -1 dimensions");
        infer = i;
        continue;
      }
      if (t < 0) throw new Unsupported("Reshape target " + text(target) + " has a negative dimension");
      out[i] = t;
      known = Math.multiplyExact(known, Math.max(t, 1));
      if (t == 0) known = 0;
    }
    if (infer >= 0) {
      if (known == 0 || size() % known != 0) throw new Unsupported("Reshape cannot infer -1 in " + text(target) + " for " + size() + " elements");
      out[infer] = size() / known;
    }
    if (size(out, MAX_FOLDED, "Reshape target") != size()) {
      throw new Unsupported("Reshape target " + text(target) + " does not hold the " + size() + " elements of " + text(dims));
    }
    return reshaped(out);
  }

  ConstTensor transpose(long[] perm) {
    int r = rank();
    if (perm == null) {
      perm = new long[r];
      for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    }
    if (perm.length != r) throw new Unsupported("Transpose perm " + text(perm) + " does not fit rank " + r);
    boolean[] seen = new boolean[r];
    int[] axes = new int[r];
    long[] out = new long[r];
    for (int i = 0; i < r; i++) {
      int p = axis(perm[i], r, "Transpose perm entry");
      if (seen[p]) throw new Unsupported("Transpose perm " + text(perm) + " repeats an axis");
      seen[p] = true;
      axes[i] = p;
      out[i] = dims[p];
    }
    long[] inStrides = strides(dims), outStrides = strides(out);
    int[] from = new int[size()];
    for (int o = 0; o < from.length; o++) {
      long rem = o, src = 0;
      for (int i = 0; i < r; i++) {
        src += rem / outStrides[i] * inStrides[axes[i]];
        rem %= outStrides[i];
      }
      from[o] = (int) src;
    }
    return gathered(out, from);
  }

  /** ONNX Gather along {@code axis}; negative indices count from the end. */
  ConstTensor gather(ConstTensor indices, long axisAttr) {
    int a = axis(axisAttr, rank(), "Gather axis");
    long[] idx = indices.concreteInts("Gather indices");
    long[] out = new long[rank() - 1 + indices.rank()];
    System.arraycopy(dims, 0, out, 0, a);
    System.arraycopy(indices.dims, 0, out, a, indices.rank());
    System.arraycopy(dims, a + 1, out, a + indices.rank(), rank() - a - 1);
    int n = size(out, MAX_FOLDED, "Gather result");
    long outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= dims[i];
    for (int i = a + 1; i < rank(); i++) inner *= dims[i];
    int[] from = new int[n];
    int k = 0;
    for (long o = 0; o < outer; o++) {
      for (long j : idx) {
        long i = j < 0 ? j + dims[a] : j;
        if (i < 0 || i >= dims[a]) throw new Unsupported("Gather index " + j + " is out of range for dimension " + dims[a]);
        for (long in = 0; in < inner; in++) from[k++] = (int) ((o * dims[a] + i) * inner + in);
      }
    }
    return gathered(out, from);
  }

  ConstTensor unsqueeze(long[] axes) {
    return reshaped(unsqueezed(dims, axes));
  }

  ConstTensor squeeze(long[] axes) {
    return reshaped(squeezed(dims, axes));
  }

  /** {@code dims} with a 1 inserted at each of {@code axes} (positions in the result). */
  static long[] unsqueezed(long[] dims, long[] axes) {
    int r = dims.length + axes.length;
    boolean[] inserted = new boolean[r];
    for (long ax : axes) {
      int a = axis(ax, r, "Unsqueeze axis");
      if (inserted[a]) throw new Unsupported("Unsqueeze axes " + text(axes) + " repeat an axis");
      inserted[a] = true;
    }
    long[] out = new long[r];
    for (int i = 0, j = 0; i < r; i++) out[i] = inserted[i] ? 1 : dims[j++];
    return out;
  }

  /** {@code dims} without {@code axes} (which must be 1), or without every 1 when {@code axes} is null. */
  static long[] squeezed(long[] dims, long[] axes) {
    boolean[] drop = new boolean[dims.length];
    if (axes == null) {
      for (int i = 0; i < dims.length; i++) drop[i] = dims[i] == 1;
    } else {
      for (long ax : axes) {
        int a = axis(ax, dims.length, "Squeeze axis");
        if (dims[a] != 1) throw new Unsupported("Squeeze axis " + ax + " has size " + dims[a] + ", not 1");
        drop[a] = true;
      }
    }
    return java.util.stream.IntStream.range(0, dims.length).filter(i -> !drop[i]).mapToLong(i -> dims[i]).toArray();
  }

  static ConstTensor concat(java.util.List<ConstTensor> parts, long axisAttr) {
    ConstTensor first = parts.get(0);
    int a = axis(axisAttr, first.rank(), "Concat axis");
    long[] out = first.dims.clone();
    out[a] = 0;
    for (ConstTensor p : parts) {
      if (p.isFloat != first.isFloat) throw new Unsupported("Concat mixes float and integer constants");
      if (p.rank() != first.rank()) throw new Unsupported("Concat of ranks " + first.rank() + " and " + p.rank());
      for (int i = 0; i < out.length; i++) {
        if (i != a && p.dims[i] != first.dims[i]) throw new Unsupported("Concat of " + text(first.dims) + " and " + text(p.dims) + " on axis " + a);
      }
      out[a] += p.dims[a];
    }
    int n = size(out, MAX_FOLDED, "Concat result");
    long outer = 1;
    for (int i = 0; i < a; i++) outer *= out[i];
    float[] f = first.isFloat ? new float[n] : null;
    long[] v = first.isFloat ? null : new long[n];
    int k = 0;
    for (long o = 0; o < outer; o++) {
      for (ConstTensor p : parts) {
        int chunk = (int) (p.size() / outer);
        if (f != null) System.arraycopy(p.floats, (int) (o * chunk), f, k, chunk);
        else System.arraycopy(p.ints, (int) (o * chunk), v, k, chunk);
        k += chunk;
      }
    }
    return f != null ? ofFloats(out, f) : ofInts(out, v);
  }

  /**
   * ONNX Slice: per listed axis, start/end clamped as numpy does (negative counts from the end), any non-zero step.
   */
  ConstTensor slice(long[] starts, long[] ends, long[] axes, long[] steps) {
    int r = rank();
    long[] first = new long[r], step = new long[r], count = dims.clone();
    Arrays.fill(step, 1);
    for (int i = 0; i < starts.length; i++) {
      int a = axis(axes == null ? i : axes[i], r, "Slice axis");
      long s = steps == null ? 1 : steps[i], d = dims[a];
      if (s == 0) throw new Unsupported("Slice step 0");
      long b = starts[i] < 0 ? starts[i] + d : starts[i], e = ends[i] < 0 ? ends[i] + d : ends[i];
      if (s > 0) {
        b = Math.clamp(b, 0, d);
        e = Math.clamp(e, 0, d);
        count[a] = e > b ? (e - b + s - 1) / s : 0;
      } else {
        b = Math.clamp(b, -1, d - 1);
        e = Math.clamp(e, -1, d - 1);
        count[a] = b > e ? (b - e - s - 1) / -s : 0;
      }
      first[a] = b;
      step[a] = s;
    }
    int n = size(count, MAX_FOLDED, "Slice result");
    long[] inStrides = strides(dims), outStrides = strides(count);
    int[] from = new int[n];
    for (int o = 0; o < n; o++) {
      long rem = o, src = 0;
      for (int i = 0; i < r; i++) {
        long idx = rem / outStrides[i];
        rem %= outStrides[i];
        src += (first[i] + idx * step[i]) * inStrides[i];
      }
      from[o] = (int) src;
    }
    return gathered(count, from);
  }

  /** ONNX Cast between float32 and the integer types (float to integer truncates toward zero, as numpy). */
  ConstTensor cast(int to) {
    switch (to) {
      case 1 -> { // FLOAT
        if (isFloat) return this;
        if (hasBatch()) throw new Unsupported("Cast of the batch size to float");
        float[] f = new float[ints.length];
        for (int i = 0; i < f.length; i++) f[i] = ints[i];
        return ofFloats(dims, f);
      }
      case 6, 7 -> { // INT32, INT64
        long[] v;
        if (isFloat) {
          v = new long[floats.length];
          for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(floats[i])) throw new Unsupported("Cast of " + floats[i] + " to an integer");
            v[i] = (long) floats[i];
          }
        } else {
          v = ints;
        }
        if (to == 6) {
          for (long x : v) if (x != BATCH && (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE)) throw new Unsupported("Cast of " + x + " to int32 overflows");
        }
        return ofInts(dims, v);
      }
      case 9 -> { // BOOL
        long[] v = new long[size()];
        for (int i = 0; i < v.length; i++) v[i] = (isFloat ? floats[i] != 0 : ints[i] != 0) ? 1 : 0;
        if (hasBatch()) throw new Unsupported("Cast of the batch size to bool");
        return ofInts(dims, v);
      }
      default -> throw new Unsupported("Cast to " + OnnxTensors.typeName(to) + " (resnetc folds casts between float32, int32, int64 and bool)");
    }
  }

  /** Elementwise Add, Sub, Mul or Div of two constants with numpy broadcasting; integer Div only when exact. */
  static ConstTensor arithmetic(String op, ConstTensor x, ConstTensor y) {
    if (x.isFloat != y.isFloat) throw new Unsupported(op + " of a float and an integer constant");
    if (x.hasBatch() || y.hasBatch()) throw new Unsupported(op + " on the batch size (resnetc keeps the batch symbolic)");
    int r = Math.max(x.rank(), y.rank());
    long[] out = new long[r];
    for (int i = 0; i < r; i++) {
      long a = i - (r - x.rank()) >= 0 ? x.dims[i - (r - x.rank())] : 1, b = i - (r - y.rank()) >= 0 ? y.dims[i - (r - y.rank())] : 1;
      if (a != b && a != 1 && b != 1) throw new Unsupported(op + " of " + text(x.dims) + " and " + text(y.dims) + " does not broadcast");
      out[i] = Math.max(a, b);
    }
    int n = size(out, MAX_FOLDED, op + " result");
    int[] xi = broadcastIndex(x.dims, out, n), yi = broadcastIndex(y.dims, out, n);
    if (x.isFloat) {
      float[] f = new float[n];
      for (int i = 0; i < n; i++) {
        float a = x.floats[xi[i]], b = y.floats[yi[i]];
        f[i] = switch (op) {
          case "Add" -> a + b;
          case "Sub" -> a - b;
          case "Mul" -> a * b;
          default -> a / b;
        };
      }
      return ofFloats(out, f);
    }
    long[] v = new long[n];
    for (int i = 0; i < n; i++) {
      long a = x.ints[xi[i]], b = y.ints[yi[i]];
      v[i] = switch (op) {
        case "Add" -> Math.addExact(a, b);
        case "Sub" -> Math.subtractExact(a, b);
        case "Mul" -> Math.multiplyExact(a, b);
        default -> {
          if (b == 0 || a % b != 0) throw new Unsupported("integer Div " + a + " / " + b + " is not exact");
          yield a / b;
        }
      };
    }
    return ofInts(out, v);
  }

  /** For each element of the broadcast result, the index of the element of {@code dims} it reads. */
  private static int[] broadcastIndex(long[] dims, long[] out, int n) {
    long[] padded = new long[out.length];
    Arrays.fill(padded, 1);
    System.arraycopy(dims, 0, padded, out.length - dims.length, dims.length);
    long[] inStrides = strides(padded), outStrides = strides(out);
    int[] idx = new int[n];
    for (int o = 0; o < n; o++) {
      long rem = o, src = 0;
      for (int i = 0; i < out.length; i++) {
        long k = rem / outStrides[i];
        rem %= outStrides[i];
        if (padded[i] != 1) src += k * inStrides[i];
      }
      idx[o] = (int) src;
    }
    return idx;
  }
}
