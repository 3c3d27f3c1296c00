package resnetc.passes;

import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/**
 * How a backend wants convolution weights laid out in memory. The weight pre-packing hook: a backend names its
 * layout, and {@link #pack} runs at compile time so the generated code only ever reads packed weights.
 */
public enum WeightLayout {
  /** PyTorch's {@code [O, I, kh, kw]}, unchanged. */
  OIHW(1),
  /**
   * Output channels blocked by 8 (one AVX2 register of floats) innermost: {@code [ceil(O/8), I, kh, kw, 8]},
   * zero-padded past O, so a kernel loads the weights of 8 output channels for one tap with a single vector load.
   */
  OIHW8O(8);

  private final int block;

  WeightLayout(int block) {
    this.block = block;
  }

  public int block() {
    return block;
  }

  /** The weights of a conv {@code [O, I, kh, kw]} in this layout. */
  public Tensor pack(Tensor oihw) {
    TensorType t = oihw.type();
    if (t.rank() != 4) throw new IllegalArgumentException("conv weights are rank 4, got " + t);
    if (this == OIHW) return oihw;
    int o = t.dim(0), rest = t.dim(1) * t.dim(2) * t.dim(3), blocks = Math.ceilDiv(o, block);
    float[] src = oihw.data(), dst = new float[blocks * rest * block];
    for (int oc = 0; oc < o; oc++) {
      for (int j = 0; j < rest; j++) dst[((oc / block) * rest + j) * block + oc % block] = src[oc * rest + j];
    }
    return new Tensor(TensorType.of(blocks, t.dim(1), t.dim(2), t.dim(3), block), dst);
  }

  /** Inverse of {@link #pack} for {@code outChannels} real output channels (for tests and debugging). */
  public Tensor unpack(Tensor packed, int outChannels) {
    if (this == OIHW) return packed;
    TensorType t = packed.type();
    int rest = t.dim(1) * t.dim(2) * t.dim(3);
    float[] src = packed.data(), dst = new float[outChannels * rest];
    for (int oc = 0; oc < outChannels; oc++) {
      for (int j = 0; j < rest; j++) dst[oc * rest + j] = src[((oc / block) * rest + j) * block + oc % block];
    }
    return new Tensor(TensorType.of(outChannels, t.dim(1), t.dim(2), t.dim(3)), dst);
  }
}
