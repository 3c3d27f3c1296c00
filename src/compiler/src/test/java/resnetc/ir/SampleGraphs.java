package resnetc.ir;

import java.util.List;
import java.util.Random;

/** Small graphs for tests. */
public final class SampleGraphs {
  private SampleGraphs() {}

  /**
   * A graph using every op and attribute form: strided, grouped and biased convs, batchnorm of rank 4 and 2, both
   * avgpool flavours, option-A shortcut, fused convs with each residual form, dense with and without bias, softmax.
   * Input f32[N,3,9,9], output f32[N,10]. With {@code withData} the constants get random data from {@code seed}.
   */
  public static Graph allOps(boolean withData, long seed) {
    Random r = new Random(seed);
    Graph.Builder b = Graph.builder("all_ops");
    b.input("input", TensorType.batched(3, 9, 9));
    b.add("norm", new Op.Normalize(255f, new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f}), List.of("input"), "spec.rn:2");
    conv(b, r, withData, "stem", "norm", 8, 3, 3, 2, 1, 1, false);
    batchNorm(b, r, withData, "bn", "stem", 8, 1e-5f);
    b.add("relu", new Op.Relu(), List.of("bn"), "spec.rn:4");
    b.add("pool", new Op.MaxPool(3, 1, 1), List.of("relu"), "spec.rn:5");
    conv(b, r, withData, "dw", "pool", 8, 8, 3, 1, 1, 4, true);
    b.add("sum", new Op.Add(), List.of("dw", "pool"), "");
    b.add("avg", new Op.AvgPool(2, 2, 0, true, false), List.of("sum"), "");
    b.add("short", new Op.SubsamplePad(2, 4, 4), List.of("sum"), "");
    conv(b, r, withData, "proj", "avg", 16, 8, 1, 1, 0, 1, false);
    b.add("sum2", new Op.Add(), List.of("proj", "short"), "");
    b.add("avg2", new Op.AvgPool(3, 1, 1, false, true), List.of("sum2"), "");
    // the fused convs of the optimizer, one per residual form: none (with relu), add, subsample (grouped)
    fused(b, r, withData, "fa", List.of("avg2"), 16, 16, 3, new Op.FusedConv(3, 1, 1, 1, true, Op.FusedConv.Residual.NONE, 1, 0));
    fused(b, r, withData, "fb", List.of("fa", "avg2"), 16, 16, 1, new Op.FusedConv(1, 1, 0, 1, false, Op.FusedConv.Residual.ADD, 1, 0));
    fused(b, r, withData, "fc3", List.of("fb", "sum"), 16, 16, 3, new Op.FusedConv(3, 1, 1, 2, true, Op.FusedConv.Residual.SUBSAMPLE, 2, 4));
    b.add("gap", new Op.GlobalAvgPool(), List.of("fc3"), "");
    batchNorm(b, r, withData, "bn2", "gap", 16, 1e-3f);
    b.constant("fc.w", TensorType.of(10, 16), withData ? random(r, 160, 0.5f) : null, "");
    b.constant("fc.b", TensorType.of(10), withData ? random(r, 10, 0.5f) : null, "");
    b.add("fc", new Op.Dense(), List.of("bn2", "fc.w", "fc.b"), "");
    b.constant("fc2.w", TensorType.of(10, 10), withData ? random(r, 100, 0.5f) : null, "");
    b.add("fc2", new Op.Dense(), List.of("fc", "fc2.w"), "");
    b.add("prob", new Op.Softmax(), List.of("fc2"), "");
    return b.build("prob");
  }

  static void conv(Graph.Builder b, Random r, boolean withData, String name, String in, int out, int inC, int k, int stride, int pad, int groups, boolean bias) {
    int fanIn = inC / groups * k * k;
    b.constant(name + ".w", TensorType.of(out, inC / groups, k, k), withData ? random(r, out * fanIn, (float) Math.sqrt(2.0 / fanIn)) : null, "");
    if (bias) b.constant(name + ".b", TensorType.of(out), withData ? random(r, out, 0.1f) : null, "");
    List<String> ins = bias ? List.of(in, name + ".w", name + ".b") : List.of(in, name + ".w");
    b.add(name, new Op.Conv2d(k, stride, pad, groups), ins, "spec.rn:3");
  }

  /** A fused conv reading {@code ins} = (x [, residual]); weights {@code out x inC/groups x k x k} and a bias. */
  static void fused(Graph.Builder b, Random r, boolean withData, String name, List<String> ins, int out, int inC, int k, Op.FusedConv op) {
    int fanIn = inC / op.groups() * k * k;
    b.constant(name + ".w", TensorType.of(out, inC / op.groups(), k, k), withData ? random(r, out * fanIn, (float) Math.sqrt(2.0 / fanIn)) : null, "");
    b.constant(name + ".b", TensorType.of(out), withData ? random(r, out, 0.1f) : null, "");
    List<String> operands = new java.util.ArrayList<>(List.of(ins.get(0), name + ".w", name + ".b"));
    operands.addAll(ins.subList(1, ins.size()));
    b.add(name, op, operands, "spec.rn:6");
  }

  static void batchNorm(Graph.Builder b, Random r, boolean withData, String name, String in, int c, float eps) {
    TensorType t = TensorType.of(c);
    b.constant(name + ".gamma", t, withData ? shifted(random(r, c, 0.2f), 1f) : null, "");
    b.constant(name + ".beta", t, withData ? random(r, c, 0.2f) : null, "");
    b.constant(name + ".mean", t, withData ? random(r, c, 0.2f) : null, "");
    b.constant(name + ".var", t, withData ? shifted(random(r, c, 0.2f), 1f) : null, "");
    b.add(name, new Op.BatchNorm(eps), List.of(in, name + ".gamma", name + ".beta", name + ".mean", name + ".var"), "");
  }

  /**
   * The ops that stand alone in pre-activation nets and heads, unfused, on a plane wide enough for vector pooling:
   * max and average pooling (both padding rules), option-A padding (stride 1 and 2), batch norm, ReLU, add, global
   * pooling, dense and softmax.
   */
  public static Graph unfusedOps(long seed) {
    Random r = new Random(seed);
    Graph.Builder b = Graph.builder("unfused");
    b.input("x", TensorType.batched(5, 37, 37));
    b.add("mp", new Op.MaxPool(3, 2, 1), List.of("x"), "");
    b.add("sp", new Op.SubsamplePad(1, 1, 2), List.of("mp"), "");
    for (String p : new String[] {"gamma", "beta", "mean", "var"}) {
      float[] v = SampleGraphs.random(r, 8, 0.5f);
      if (!p.equals("beta") && !p.equals("mean")) for (int i = 0; i < 8; i++) v[i] += 1;
      b.constant("bn." + p, TensorType.of(8), v, "");
    }
    b.add("bn", new Op.BatchNorm(1e-5f), List.of("sp", "bn.gamma", "bn.beta", "bn.mean", "bn.var"), "");
    b.add("relu", new Op.Relu(), List.of("bn"), "");
    b.add("sum", new Op.Add(), List.of("relu", "sp"), "");
    b.add("sub", new Op.SubsamplePad(2, 0, 0), List.of("sum"), "");
    b.add("ap", new Op.AvgPool(3, 2, 1, true, true), List.of("sum"), "");
    b.add("sum2", new Op.Add(), List.of("ap", "sub"), "");
    b.add("ap2", new Op.AvgPool(2, 2, 0, true, false), List.of("sum2"), "");
    b.add("mp2", new Op.MaxPool(3, 1, 1), List.of("ap2"), "");
    b.add("gap", new Op.GlobalAvgPool(), List.of("mp2"), "");
    b.constant("fc.w", TensorType.of(21, 8), SampleGraphs.random(r, 21 * 8, 0.5f), "");
    b.add("fc", new Op.Dense(), List.of("gap", "fc.w"), "");
    b.add("prob", new Op.Softmax(), List.of("fc"), "");
    return b.build("prob");
  }

  /** Uniform in [-scale, scale]. */
  public static float[] random(Random r, int n, float scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (r.nextFloat() * 2 - 1) * scale;
    return a;
  }

  static float[] shifted(float[] a, float by) {
    for (int i = 0; i < a.length; i++) a[i] += by;
    return a;
  }
}
