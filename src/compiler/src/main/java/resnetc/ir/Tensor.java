package resnetc.ir;

/** A constant: its type (never batched) and row-major float32 data. */
public record Tensor(TensorType type, float[] data) {
  public Tensor {
    if (type.isBatched()) throw new IllegalArgumentException("constants have no batch dimension");
    if (type.elementsPerItem() != data.length) {
      throw new IllegalArgumentException(type + " needs " + type.elementsPerItem() + " values, got " + data.length);
    }
  }

  public static Tensor of(float[] data, int... dims) {
    return new Tensor(TensorType.of(dims), data);
  }
}
