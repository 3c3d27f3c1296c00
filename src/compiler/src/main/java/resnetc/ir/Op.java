package resnetc.ir;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The operations of the IR. Each op knows its arity, its attributes (printed as {@code key=value}) and how to
 * infer its result type from its operand types; the verifier and the lowering both rely on {@link #infer}.
 */
public sealed interface Op {
  String mnemonic();

  /** Operand count range, inclusive. */
  int minInputs();

  int maxInputs();

  /** Result type for these operand types; throws {@link IrException} with a reason when they do not fit. */
  TensorType infer(List<TensorType> in);

  /** Attributes in print order. */
  default Map<String, String> attrs() {
    return Map.of();
  }

  /** The graph input, one per graph. Its type is the declared input type. */
  record Input() implements Op {
    public String mnemonic() { return "input"; }
    public int minInputs() { return 0; }
    public int maxInputs() { return 0; }
    public TensorType infer(List<TensorType> in) { throw new IrException("input has no inferred type"); }
  }

  /** A named constant whose data lives in {@link Graph#constants()}. */
  record Const() implements Op {
    public String mnemonic() { return "const"; }
    public int minInputs() { return 0; }
    public int maxInputs() { return 0; }
    public TensorType infer(List<TensorType> in) { throw new IrException("const has no inferred type"); }
  }

  /** Input preprocessing: {@code (x / div - mean[c]) / std[c]}. */
  record Normalize(float div, float[] mean, float[] std) implements Op {
    public String mnemonic() { return "normalize"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }

    public TensorType infer(List<TensorType> in) {
      TensorType x = in.get(0);
      requireRank(x, 4, "normalize input");
      if (mean.length != x.dim(1) || std.length != x.dim(1)) {
        throw new IrException("normalize has " + mean.length + " means and " + std.length + " stds for " + x.dim(1) + " channels");
      }
      return x;
    }

    public Map<String, String> attrs() {
      return ordered("div", fmt(div), "mean", fmt(mean), "std", fmt(std));
    }

    @Override public boolean equals(Object o) {
      return o instanceof Normalize n && n.div == div && Arrays.equals(n.mean, mean) && Arrays.equals(n.std, std);
    }

    @Override public int hashCode() { return Float.hashCode(div) * 31 + Arrays.hashCode(mean) * 17 + Arrays.hashCode(std); }
  }

  /** 2-D convolution, operands {@code x[N,C,H,W], w[O,C/groups,k,k] (, bias[O])}; symmetric zero padding. */
  record Conv2d(int kernel, int stride, int pad, int groups) implements Op {
    public String mnemonic() { return "conv2d"; }
    public int minInputs() { return 2; }
    public int maxInputs() { return 3; }

    public TensorType infer(List<TensorType> in) {
      TensorType x = in.get(0), w = in.get(1);
      requireRank(x, 4, "conv2d input");
      requireRank(w, 4, "conv2d weight");
      int c = x.dim(1), o = w.dim(0);
      if (groups < 1 || c % groups != 0 || o % groups != 0) {
        throw new IrException("conv2d groups=" + groups + " does not divide " + c + " input and " + o + " output channels");
      }
      if (w.dim(1) != c / groups || w.dim(2) != kernel || w.dim(3) != kernel) {
        throw new IrException("conv2d weight " + w + " does not fit " + c + " input channels, groups=" + groups + ", kernel=" + kernel);
      }
      if (in.size() == 3 && !in.get(2).equals(TensorType.of(o))) {
        throw new IrException("conv2d bias " + in.get(2) + " is not f32[" + o + "]");
      }
      return TensorType.of(x.dim(0), o, outSize(x.dim(2), kernel, stride, pad, false), outSize(x.dim(3), kernel, stride, pad, false));
    }

    public Map<String, String> attrs() {
      return ordered("kernel", kernel + "x" + kernel, "stride", "" + stride, "pad", "" + pad, "groups", "" + groups);
    }
  }

  /**
   * A convolution with its epilogue fused, the form the backends compile: {@code y = conv(x, w) + bias}, then the
   * residual, then ReLU. Operands {@code x, w, bias (, r)}.
   *
   * <ul>
   *   <li>{@code residual=add}: {@code r} has the output's type and is added element for element;
   *   <li>{@code residual=subsample}: the option-A shortcut read in place, never materialized:
   *       {@code y[n,c,h,w] += r[n, c - res_offset, h*res_stride, w*res_stride]} for channels
   *       {@code res_offset <= c < res_offset + C_r}; the other channels get the zero padding, i.e. nothing.
   * </ul>
   */
  record FusedConv(int kernel, int stride, int pad, int groups, boolean relu, Residual residual, int resStride, int resOffset) implements Op {
    public enum Residual { NONE, ADD, SUBSAMPLE }

    public static FusedConv of(Conv2d c, boolean relu, Residual residual, int resStride, int resOffset) {
      return new FusedConv(c.kernel(), c.stride(), c.pad(), c.groups(), relu, residual, resStride, resOffset);
    }

    public Conv2d conv() {
      return new Conv2d(kernel, stride, pad, groups);
    }

    public FusedConv withRelu() {
      return new FusedConv(kernel, stride, pad, groups, true, residual, resStride, resOffset);
    }

    public String mnemonic() { return "fused_conv"; }
    public int minInputs() { return 3; }
    public int maxInputs() { return 4; }

    public TensorType infer(List<TensorType> in) {
      TensorType y = conv().infer(in.subList(0, 3));
      if ((residual == Residual.NONE) != (in.size() == 3)) {
        throw new IrException("fused_conv with residual=" + name(residual) + " takes " + (residual == Residual.NONE ? 3 : 4) + " operands");
      }
      if (residual == Residual.ADD && !in.get(3).equals(y)) {
        throw new IrException("fused_conv residual " + in.get(3) + " is not the output type " + y);
      }
      if (residual == Residual.SUBSAMPLE) {
        TensorType r = in.get(3);
        requireRank(r, 4, "fused_conv residual");
        if (resStride < 1 || resOffset < 0 || resOffset + r.dim(1) > y.dim(1)
            || ceilDiv(r.dim(2), resStride) != y.dim(2) || ceilDiv(r.dim(3), resStride) != y.dim(3)) {
          throw new IrException("fused_conv residual " + r + " subsampled by " + resStride + " at channel offset " + resOffset + " does not fit " + y);
        }
      }
      return y;
    }

    public Map<String, String> attrs() {
      return ordered("kernel", kernel + "x" + kernel, "stride", "" + stride, "pad", "" + pad, "groups", "" + groups,
          "relu", "" + relu, "residual", name(residual), "res_stride", "" + resStride, "res_offset", "" + resOffset);
    }

    static String name(Residual r) {
      return r.name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Inference batch norm, operands {@code x, gamma, beta, mean, var}: {@code (x - mean) / sqrt(var + eps) * gamma + beta}. */
  record BatchNorm(float eps) implements Op {
    public String mnemonic() { return "batchnorm"; }
    public int minInputs() { return 5; }
    public int maxInputs() { return 5; }

    public TensorType infer(List<TensorType> in) {
      TensorType x = in.get(0);
      if (x.rank() != 4 && x.rank() != 2) throw new IrException("batchnorm input must be rank 2 or 4, got " + x);
      TensorType c = TensorType.of(x.dim(1));
      for (int i = 1; i < 5; i++) {
        if (!in.get(i).equals(c)) throw new IrException("batchnorm parameter " + i + " is " + in.get(i) + ", expected " + c);
      }
      return x;
    }

    public Map<String, String> attrs() {
      return ordered("eps", fmt(eps));
    }
  }

  record Relu() implements Op {
    public String mnemonic() { return "relu"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }
    public TensorType infer(List<TensorType> in) { return in.get(0); }
  }

  /** Elementwise sum of two tensors of the same type. */
  record Add() implements Op {
    public String mnemonic() { return "add"; }
    public int minInputs() { return 2; }
    public int maxInputs() { return 2; }

    public TensorType infer(List<TensorType> in) {
      if (!in.get(0).equals(in.get(1))) throw new IrException("add operands differ: " + in.get(0) + " and " + in.get(1));
      return in.get(0);
    }
  }

  /** Max pooling; padded positions never win. */
  record MaxPool(int kernel, int stride, int pad) implements Op {
    public String mnemonic() { return "maxpool"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }

    public TensorType infer(List<TensorType> in) {
      return pooled(in.get(0), kernel, stride, pad, false, "maxpool");
    }

    public Map<String, String> attrs() {
      return ordered("kernel", kernel + "x" + kernel, "stride", "" + stride, "pad", "" + pad);
    }
  }

  /** Average pooling; {@code countPad=false} divides by the number of in-bounds elements (timm's ResNet-D). */
  record AvgPool(int kernel, int stride, int pad, boolean ceil, boolean countPad) implements Op {
    public String mnemonic() { return "avgpool"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }

    public TensorType infer(List<TensorType> in) {
      return pooled(in.get(0), kernel, stride, pad, ceil, "avgpool");
    }

    public Map<String, String> attrs() {
      return ordered("kernel", kernel + "x" + kernel, "stride", "" + stride, "pad", "" + pad, "ceil", "" + ceil, "count_pad", "" + countPad);
    }
  }

  /** Global average pool {@code [N,C,H,W] -> [N,C]} (pool and flatten in one). */
  record GlobalAvgPool() implements Op {
    public String mnemonic() { return "global_avgpool"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }

    public TensorType infer(List<TensorType> in) {
      requireRank(in.get(0), 4, "global_avgpool input");
      return TensorType.of(in.get(0).dim(0), in.get(0).dim(1));
    }
  }

  /** Fully connected {@code x[N,K], w[M,K] (, b[M]) -> [N,M]}. */
  record Dense() implements Op {
    public String mnemonic() { return "dense"; }
    public int minInputs() { return 2; }
    public int maxInputs() { return 3; }

    public TensorType infer(List<TensorType> in) {
      TensorType x = in.get(0), w = in.get(1);
      requireRank(x, 2, "dense input");
      requireRank(w, 2, "dense weight");
      if (w.dim(1) != x.dim(1)) throw new IrException("dense weight " + w + " does not take " + x.dim(1) + " inputs");
      if (in.size() == 3 && !in.get(2).equals(TensorType.of(w.dim(0)))) {
        throw new IrException("dense bias " + in.get(2) + " is not f32[" + w.dim(0) + "]");
      }
      return TensorType.of(x.dim(0), w.dim(0));
    }
  }

  /** Softmax over the last dimension. */
  record Softmax() implements Op {
    public String mnemonic() { return "softmax"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }

    public TensorType infer(List<TensorType> in) {
      requireRank(in.get(0), 2, "softmax input");
      return in.get(0);
    }
  }

  /**
   * The option-A shortcut: {@code x[:, :, ::stride, ::stride]} with {@code before} zero channels prepended and
   * {@code after} appended.
   */
  record SubsamplePad(int stride, int before, int after) implements Op {
    public String mnemonic() { return "subsample_pad"; }
    public int minInputs() { return 1; }
    public int maxInputs() { return 1; }

    public TensorType infer(List<TensorType> in) {
      TensorType x = in.get(0);
      requireRank(x, 4, "subsample_pad input");
      if (stride < 1 || before < 0 || after < 0) throw new IrException("subsample_pad needs stride >= 1 and non-negative padding");
      return TensorType.of(x.dim(0), x.dim(1) + before + after, ceilDiv(x.dim(2), stride), ceilDiv(x.dim(3), stride));
    }

    public Map<String, String> attrs() {
      return ordered("stride", "" + stride, "before", "" + before, "after", "" + after);
    }
  }

  // ---- helpers shared by the ops ----

  static void requireRank(TensorType t, int rank, String what) {
    if (t.rank() != rank) throw new IrException(what + " must be rank " + rank + ", got " + t);
  }

  static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  /** Output size of a window op; throws when the window does not fit. */
  static int outSize(int in, int kernel, int stride, int pad, boolean ceil) {
    if (kernel < 1 || stride < 1 || pad < 0) throw new IrException("window needs kernel >= 1, stride >= 1, pad >= 0");
    int span = in + 2 * pad - kernel;
    if (span < 0) throw new IrException("window " + kernel + "x" + kernel + " does not fit " + in + " plus padding " + pad);
    int out = (ceil ? ceilDiv(span, stride) : span / stride) + 1;
    // As in PyTorch: with ceil mode the last window must start inside the input or left padding.
    if (ceil && (out - 1) * stride >= in + pad) out--;
    return out;
  }

  static TensorType pooled(TensorType x, int kernel, int stride, int pad, boolean ceil, String what) {
    requireRank(x, 4, what + " input");
    if (pad * 2 > kernel) throw new IrException(what + " pad " + pad + " exceeds half the kernel " + kernel);
    return TensorType.of(x.dim(0), x.dim(1), outSize(x.dim(2), kernel, stride, pad, ceil), outSize(x.dim(3), kernel, stride, pad, ceil));
  }

  static Map<String, String> ordered(String... kv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
    return m;
  }

  /** Shortest text that reads back as the same float. */
  static String fmt(float f) {
    return Float.toString(f);
  }

  static String fmt(float[] fs) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < fs.length; i++) {
      if (i > 0) sb.append(',');
      sb.append(fmt(fs[i]));
    }
    return sb.append(']').toString();
  }
}
