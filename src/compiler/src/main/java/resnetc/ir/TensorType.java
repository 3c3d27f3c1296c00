package resnetc.ir;

import java.util.Arrays;

/** A float32 tensor type with static dimensions; a leading {@link #BATCH} marks the symbolic batch N. */
public final class TensorType {
  public static final int BATCH = -1;

  private final int[] dims;

  private TensorType(int[] dims) {
    this.dims = dims;
  }

  public static TensorType of(int... dims) {
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < 0 && !(i == 0 && dims[i] == BATCH)) {
        throw new IllegalArgumentException("bad dimension " + dims[i] + " in " + Arrays.toString(dims));
      }
    }
    return new TensorType(dims.clone());
  }

  /** A batched activation type N x rest. */
  public static TensorType batched(int... rest) {
    int[] d = new int[rest.length + 1];
    d[0] = BATCH;
    System.arraycopy(rest, 0, d, 1, rest.length);
    return of(d);
  }

  public int rank() {
    return dims.length;
  }

  public int dim(int i) {
    return dims[i];
  }

  public int[] dims() {
    return dims.clone();
  }

  public boolean isBatched() {
    return dims.length > 0 && dims[0] == BATCH;
  }

  /** Elements per batch item for a batched type, all elements otherwise. */
  public long elementsPerItem() {
    long n = 1;
    for (int i = isBatched() ? 1 : 0; i < dims.length; i++) n *= dims[i];
    return n;
  }

  /** Elements with the batch dimension replaced by {@code batch}. */
  public long elements(int batch) {
    return isBatched() ? elementsPerItem() * batch : elementsPerItem();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorType t && Arrays.equals(dims, t.dims);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(dims);
  }

  /** Text form: {@code f32[N,16,32,32]}. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("f32[");
    for (int i = 0; i < dims.length; i++) {
      if (i > 0) sb.append(',');
      sb.append(dims[i] == BATCH ? "N" : Integer.toString(dims[i]));
    }
    return sb.append(']').toString();
  }

  /** Shape without the batch dimension, for tables: {@code 16x32x32}. */
  public String itemShape() {
    StringBuilder sb = new StringBuilder();
    for (int i = isBatched() ? 1 : 0; i < dims.length; i++) {
      if (sb.length() > 0) sb.append('x');
      sb.append(dims[i]);
    }
    return sb.toString();
  }
}
