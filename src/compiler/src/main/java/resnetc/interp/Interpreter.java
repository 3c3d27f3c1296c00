package resnetc.interp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.TensorType;
import resnetc.ir.Verifier;

/**
 * The reference interpreter: plain float32 Java with PyTorch semantics, the oracle every pass and backend is
 * checked against. Values are row-major (NCHW) float arrays. {@link #run} evaluates the graph node by node over the
 * whole batch and drops values after their last use; within an op the batch items are independent and computed in
 * parallel by simple single-item loops (convolution works on small chunks of items, see {@code conv2d}).
 *
 * <p>Precision: activations are float32 and convolutions accumulate in float32 as the backends do, starting from
 * the bias, taps in (input channel, ky, kx) order. The ops that reduce to one rounded result use double inside and
 * round once: batchnorm (per-channel scale in double), average pools, dense and softmax. They are then at least as
 * accurate as PyTorch's float kernels, so differences from a backend measure the backend's error. Results do not
 * depend on the batch size or on the number of threads.
 */
public final class Interpreter {
  private final Graph graph;
  /** Index of the last node reading each value; values are dropped after it unless all are kept. */
  private final Map<String, Integer> lastUse = new HashMap<>();

  /** Needs the weights bound; verifies the graph. */
  public Interpreter(Graph g) {
    List<String> missing = g.constNodes().stream().map(Node::name).filter(name -> !g.constants().containsKey(name)).toList();
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException("graph " + g.name() + " has no data for constants %" + String.join(", %", missing));
    }
    Verifier.verify(g);
    this.graph = g;
    for (int i = 0; i < g.nodes().size(); i++) {
      for (String in : g.nodes().get(i).inputs()) lastUse.put(in, i);
    }
    lastUse.put(g.output(), Integer.MAX_VALUE);
  }

  public Graph graph() {
    return graph;
  }

  /** Runs {@code batch} items, {@code input} NCHW of the graph's input type; returns the output value. */
  public float[] run(float[] input, int batch) {
    return run(input, batch, null);
  }

  /**
   * {@link #run(float[], int)} that also adds the nanoseconds each node takes to {@code nanos[i]}, {@code i} the
   * node's index in {@code graph().nodes()} (profiles; null for none).
   */
  public float[] run(float[] input, int batch, long[] nanos) {
    if (nanos != null && nanos.length != graph.nodes().size()) {
      throw new IllegalArgumentException("nanos has " + nanos.length + " entries for " + graph.nodes().size() + " nodes");
    }
    Map<String, float[]> values = execute(input, batch, false, nanos);
    return graph.node(graph.output()).op() instanceof Op.Const ? graph.constants().get(graph.output()).data().clone() : values.get(graph.output());
  }

  /** Every activation (input included, constants not) by node name, in execution order. */
  public Map<String, float[]> runAll(float[] input, int batch) {
    return execute(input, batch, true, null);
  }

  private Map<String, float[]> execute(float[] input, int batch, boolean keepAll, long[] nanos) {
    TensorType inType = graph.input().type();
    if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
    if (input.length != inType.elements(batch)) {
      throw new IllegalArgumentException("input has " + input.length + " values; " + inType + " with N=" + batch + " needs " + inType.elements(batch));
    }
    Map<String, float[]> values = new LinkedHashMap<>();
    List<Node> nodes = graph.nodes();
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      if (n.op() instanceof Op.Input) {
        values.put(n.name(), input.clone());
      } else if (!(n.op() instanceof Op.Const)) { // constants are read from the graph where used
        List<float[]> operands = new ArrayList<>();
        List<TensorType> types = new ArrayList<>();
        for (String in : n.inputs()) {
          Node def = graph.node(in);
          types.add(def.type());
          operands.add(def.op() instanceof Op.Const ? graph.constants().get(in).data() : values.get(in));
        }
        long t0 = nanos != null ? System.nanoTime() : 0;
        values.put(n.name(), eval(n, operands, types, batch));
        if (nanos != null) nanos[i] += System.nanoTime() - t0;
      }
      if (!keepAll) {
        for (String in : n.inputs()) {
          if (lastUse.get(in) == i) values.remove(in);
        }
      }
    }
    return values;
  }

  /**
   * Evaluates one node from its operand values; constant operands are their (unbatched) data. {@code batch} is the
   * value of N in the batched types. Self-contained, so it can drive a graph node by node (e.g. to calibrate
   * batchnorm statistics). Operand arrays are not modified.
   */
  public static float[] eval(Node n, List<float[]> operands, List<TensorType> operandTypes, int batch) {
    Op op = n.op();
    if (op instanceof Op.Input || op instanceof Op.Const) {
      throw new IllegalArgumentException("%" + n.name() + ": " + op.mnemonic() + " values are given, not evaluated");
    }
    if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
    int count = operands.size();
    if (count != operandTypes.size() || count < op.minInputs() || count > op.maxInputs()) {
      throw new IllegalArgumentException("%" + n.name() + ": " + count + " operands with " + operandTypes.size() + " types for " + op.mnemonic());
    }
    for (int i = 0; i < count; i++) {
      if (operands.get(i).length != operandTypes.get(i).elements(batch)) {
        throw new IllegalArgumentException("%" + n.name() + ": operand " + i + " has " + operands.get(i).length + " values, "
            + operandTypes.get(i) + " with N=" + batch + " needs " + operandTypes.get(i).elements(batch));
      }
    }
    TensorType yt = op.infer(operandTypes);
    if (!yt.equals(n.type())) throw new IllegalArgumentException("%" + n.name() + " is " + n.type() + " but its operands give " + yt);

    TensorType xt = operandTypes.get(0);
    float[] x = operands.get(0);
    float[] y = new float[Math.toIntExact(yt.elements(batch))];
    int items = xt.isBatched() ? batch : xt.dim(0);
    switch (op) {
      case Op.Normalize o -> normalize(o, x, xt, y, items);
      case Op.Conv2d o -> conv2d(o, x, xt, operands.get(1), count > 2 ? operands.get(2) : null, y, yt, items);
      case Op.FusedConv o -> {
        conv2d(o.conv(), x, xt, operands.get(1), operands.get(2), y, yt, items);
        epilogue(o, y, yt, count > 3 ? operands.get(3) : null, count > 3 ? operandTypes.get(3) : null, items);
      }
      case Op.BatchNorm o -> batchNorm(o, x, xt, operands, y, items);
      case Op.Relu o -> {
        for (int i = 0; i < y.length; i++) y[i] = Math.max(x[i], 0f); // NaN stays NaN, as in PyTorch
      }
      case Op.Add o -> {
        float[] z = operands.get(1);
        for (int i = 0; i < y.length; i++) y[i] = x[i] + z[i];
      }
      case Op.MaxPool o -> maxPool(o, x, xt, y, yt, items);
      case Op.AvgPool o -> avgPool(o, x, xt, y, yt, items);
      case Op.GlobalAvgPool o -> globalAvgPool(x, xt, y, items);
      case Op.Dense o -> dense(x, xt, operands.get(1), operandTypes.get(1), count > 2 ? operands.get(2) : null, y, items);
      case Op.Softmax o -> softmax(x, xt, y, items);
      case Op.SubsamplePad o -> subsamplePad(o, x, xt, y, yt, items);
      case Op.Input o -> throw new AssertionError();
      case Op.Const o -> throw new AssertionError();
    }
    return y;
  }

  /** The fused epilogue after conv + bias: the residual (plain or option-A strided read), then ReLU. */
  private static void epilogue(Op.FusedConv op, float[] y, TensorType yt, float[] r, TensorType rt, int items) {
    int c = yt.dim(1), h = yt.dim(2), w = yt.dim(3);
    forEachItem(items, b -> {
      for (int ch = 0; ch < c; ch++) {
        int base = (b * c + ch) * h * w;
        switch (op.residual()) {
          case ADD -> {
            for (int i = base; i < base + h * w; i++) y[i] += r[i];
          }
          case SUBSAMPLE -> {
            int rc = ch - op.resOffset(), s = op.resStride();
            if (rc >= 0 && rc < rt.dim(1)) {
              int rbase = (b * rt.dim(1) + rc) * rt.dim(2) * rt.dim(3);
              for (int oy = 0; oy < h; oy++) {
                for (int ox = 0; ox < w; ox++) y[base + oy * w + ox] += r[rbase + oy * s * rt.dim(3) + ox * s];
              }
            }
          }
          case NONE -> { }
        }
        if (op.relu()) {
          for (int i = base; i < base + h * w; i++) y[i] = Math.max(y[i], 0f);
        }
      }
    });
  }

  /** Batch items are independent: compute them in parallel, each with single-item code. */
  private static void forEachItem(int items, IntConsumer body) {
    IntStream.range(0, items).parallel().forEach(body);
  }

  /** {@code (x / div - mean[c]) / std[c]} in float, as torchvision's ToTensor and Normalize compute it. */
  private static void normalize(Op.Normalize op, float[] x, TensorType xt, float[] y, int items) {
    int channels = xt.dim(1), plane = xt.dim(2) * xt.dim(3);
    float div = op.div();
    forEachItem(items, b -> {
      for (int c = 0; c < channels; c++) {
        float mean = op.mean()[c], std = op.std()[c];
        int base = (b * channels + c) * plane;
        for (int i = base; i < base + plane; i++) y[i] = (x[i] / div - mean) / std;
      }
    });
  }

  /**
   * Convolution as a matrix product (im2col): for a chunk of items and one group, the input is unrolled into one
   * row per tap (input channel, ky, kx) holding that tap's input value for every output position of every item in
   * the chunk, 0 in the padding; each output plane is then the weighted sum of those rows. The sums run over whole
   * rows at the same index in both arrays, which the JIT vectorizes (it does not when the arrays are read at
   * different offsets); small planes are chunked so the rows are long enough for that to pay. Every output element
   * is the same float sum, in the same order, whatever the chunking. Each step is a fused multiply-add (one
   * rounding), as the compiled backends do, so a backend that keeps this order (bias, then input channels, then
   * taps row by row) reproduces a convolution bit for bit and differences point at real bugs.
   */
  private static void conv2d(Op.Conv2d op, float[] x, TensorType xt, float[] w, float[] bias, float[] y, TensorType yt, int items) {
    int inC = xt.dim(1), inH = xt.dim(2), inW = xt.dim(3), outC = yt.dim(1), outH = yt.dim(2), outW = yt.dim(3);
    int groupIn = inC / op.groups(), groupOut = outC / op.groups(), taps = groupIn * op.kernel() * op.kernel(), plane = outH * outW;
    int chunk = Math.clamp(1024 / plane, 1, items);
    IntStream.range(0, Math.ceilDiv(items, chunk)).parallel().forEach(ch -> {
      int first = ch * chunk, count = Math.min(chunk, items - first);
      float[] acc = new float[count * plane];
      for (int g = 0; g < op.groups(); g++) {
        float[][] rows = new float[taps][count * plane];
        for (int i = 0; i < count; i++) im2col(op, x, ((first + i) * inC + g * groupIn) * inH * inW, groupIn, inH, inW, outH, outW, rows, i * plane);
        for (int o = g * groupOut; o < (g + 1) * groupOut; o++) {
          Arrays.fill(acc, bias == null ? 0f : bias[o]);
          for (int t = 0; t < taps; t++) {
            float wt = w[o * taps + t];
            float[] row = rows[t];
            for (int j = 0; j < acc.length; j++) acc[j] = Math.fma(wt, row[j], acc[j]);
          }
          for (int i = 0; i < count; i++) System.arraycopy(acc, i * plane, y, ((first + i) * outC + o) * plane, plane);
        }
      }
    });
  }

  /** Sets {@code rows[(c*k + ky)*k + kx][at + oy*outW + ox] = x[c][oy*s - p + ky][ox*s - p + kx]}, leaving padding 0. */
  private static void im2col(Op.Conv2d op, float[] x, int xBase, int channels, int inH, int inW, int outH, int outW, float[][] rows, int at) {
    int k = op.kernel(), s = op.stride(), p = op.pad();
    for (int c = 0; c < channels; c++) {
      for (int ky = 0; ky < k; ky++) {
        for (int kx = 0; kx < k; kx++) {
          float[] row = rows[(c * k + ky) * k + kx];
          // the output columns whose input column ox*s - p + kx lies inside the image
          int ox0 = Math.max(0, Math.ceilDiv(p - kx, s)), ox1 = Math.min(outW, Math.floorDiv(inW - 1 + p - kx, s) + 1);
          for (int oy = 0; oy < outH; oy++) {
            int iy = oy * s - p + ky;
            if (iy < 0 || iy >= inH || ox1 <= ox0) continue;
            int xRow = xBase + (c * inH + iy) * inW - p + kx, rowAt = at + oy * outW;
            if (s == 1) {
              System.arraycopy(x, xRow + ox0, row, rowAt + ox0, ox1 - ox0);
            } else {
              for (int ox = ox0; ox < ox1; ox++) row[rowAt + ox] = x[xRow + ox * s];
            }
          }
        }
      }
    }
  }

  /** {@code (x - mean) / sqrt(var + eps) * gamma + beta}, per channel in double, one rounding per element. */
  private static void batchNorm(Op.BatchNorm op, float[] x, TensorType xt, List<float[]> operands, float[] y, int items) {
    float[] gamma = operands.get(1), beta = operands.get(2), mean = operands.get(3), var = operands.get(4);
    int channels = xt.dim(1), plane = xt.rank() == 4 ? xt.dim(2) * xt.dim(3) : 1;
    double[] scale = new double[channels];
    for (int c = 0; c < channels; c++) scale[c] = gamma[c] / Math.sqrt((double) var[c] + op.eps());
    forEachItem(items, b -> {
      for (int c = 0; c < channels; c++) {
        int base = (b * channels + c) * plane;
        for (int i = base; i < base + plane; i++) y[i] = (float) ((x[i] - (double) mean[c]) * scale[c] + beta[c]);
      }
    });
  }

  /** Padded positions never win: the window maximum over in-bounds elements only. */
  private static void maxPool(Op.MaxPool op, float[] x, TensorType xt, float[] y, TensorType yt, int items) {
    int channels = xt.dim(1), inH = xt.dim(2), inW = xt.dim(3), outH = yt.dim(2), outW = yt.dim(3);
    int k = op.kernel(), s = op.stride(), p = op.pad();
    forEachItem(items, b -> {
      for (int c = 0; c < channels; c++) {
        int xBase = (b * channels + c) * inH * inW, yBase = (b * channels + c) * outH * outW;
        for (int oy = 0; oy < outH; oy++) {
          int y0 = Math.max(oy * s - p, 0), y1 = Math.min(oy * s - p + k, inH);
          for (int ox = 0; ox < outW; ox++) {
            int x0 = Math.max(ox * s - p, 0), x1 = Math.min(ox * s - p + k, inW);
            float m = Float.NEGATIVE_INFINITY;
            for (int iy = y0; iy < y1; iy++) {
              for (int ix = x0; ix < x1; ix++) {
                float v = x[xBase + iy * inW + ix];
                if (v > m || Float.isNaN(v)) m = v; // NaN propagates, as in PyTorch
              }
            }
            y[yBase + oy * outW + ox] = m;
          }
        }
      }
    });
  }

  /**
   * PyTorch's avg_pool2d: with count_pad the divisor is the window clipped to the padded input (so ceil-mode
   * windows hanging past the padding count only what is left), without it the number of in-bounds elements.
   */
  private static void avgPool(Op.AvgPool op, float[] x, TensorType xt, float[] y, TensorType yt, int items) {
    int channels = xt.dim(1), inH = xt.dim(2), inW = xt.dim(3), outH = yt.dim(2), outW = yt.dim(3);
    int k = op.kernel(), s = op.stride(), p = op.pad();
    forEachItem(items, b -> {
      for (int c = 0; c < channels; c++) {
        int xBase = (b * channels + c) * inH * inW, yBase = (b * channels + c) * outH * outW;
        for (int oy = 0; oy < outH; oy++) {
          int py0 = oy * s - p, py1 = Math.min(py0 + k, inH + p); // window within the padded input
          int y0 = Math.max(py0, 0), y1 = Math.min(py1, inH);     // and within the input
          for (int ox = 0; ox < outW; ox++) {
            int px0 = ox * s - p, px1 = Math.min(px0 + k, inW + p);
            int x0 = Math.max(px0, 0), x1 = Math.min(px1, inW);
            if (y0 >= y1 || x0 >= x1) continue; // no input under the window: 0, as in PyTorch
            double sum = 0;
            for (int iy = y0; iy < y1; iy++) {
              for (int ix = x0; ix < x1; ix++) sum += x[xBase + iy * inW + ix];
            }
            int divisor = op.countPad() ? (py1 - py0) * (px1 - px0) : (y1 - y0) * (x1 - x0);
            y[yBase + oy * outW + ox] = (float) (sum / divisor);
          }
        }
      }
    });
  }

  private static void globalAvgPool(float[] x, TensorType xt, float[] y, int items) {
    int channels = xt.dim(1), plane = xt.dim(2) * xt.dim(3);
    forEachItem(items, b -> {
      for (int c = 0; c < channels; c++) {
        int base = (b * channels + c) * plane;
        double sum = 0;
        for (int i = base; i < base + plane; i++) sum += x[i];
        y[b * channels + c] = (float) (sum / plane);
      }
    });
  }

  /** {@code x · wᵀ + b}, dot products in double. */
  private static void dense(float[] x, TensorType xt, float[] w, TensorType wt, float[] bias, float[] y, int items) {
    int in = xt.dim(1), out = wt.dim(0);
    forEachItem(items, b -> {
      for (int m = 0; m < out; m++) {
        double sum = bias == null ? 0 : bias[m];
        for (int i = 0; i < in; i++) sum += (double) x[b * in + i] * w[m * in + i];
        y[b * out + m] = (float) sum;
      }
    });
  }

  /** Over the last dimension; subtracting the row maximum keeps exp from overflowing. */
  private static void softmax(float[] x, TensorType xt, float[] y, int items) {
    int len = xt.dim(1);
    forEachItem(items, b -> {
      int base = b * len;
      float max = Float.NEGATIVE_INFINITY;
      for (int i = base; i < base + len; i++) max = Math.max(max, x[i]);
      double[] e = new double[len];
      double sum = 0;
      for (int i = 0; i < len; i++) sum += e[i] = Math.exp((double) x[base + i] - max);
      for (int i = 0; i < len; i++) y[base + i] = (float) (e[i] / sum);
    });
  }

  /** {@code x[:, :, ::s, ::s]} between {@code before} and {@code after} zero channels (already zero in y). */
  private static void subsamplePad(Op.SubsamplePad op, float[] x, TensorType xt, float[] y, TensorType yt, int items) {
    int inC = xt.dim(1), inH = xt.dim(2), inW = xt.dim(3), outC = yt.dim(1), outH = yt.dim(2), outW = yt.dim(3);
    int s = op.stride();
    forEachItem(items, b -> {
      for (int c = 0; c < inC; c++) {
        int xBase = (b * inC + c) * inH * inW, yBase = (b * outC + op.before() + c) * outH * outW;
        for (int oy = 0; oy < outH; oy++) {
          for (int ox = 0; ox < outW; ox++) y[yBase + oy * outW + ox] = x[xBase + oy * s * inW + ox * s];
        }
      }
    });
  }
}
