package resnetc.weights;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/**
 * Deterministic weights for models that have no checkpoint: He-normal convolutions, and batch-norm running
 * statistics measured on the activations of a seeded random batch (node by node, each BN calibrated on inputs
 * produced by the already calibrated layers before it). Purely random statistics let activations grow with
 * depth until ResNet-50 logits reach ~1e4 and hide numerical errors; calibrated ones keep them of order 1.
 */
public final class RandomWeights {
  private RandomWeights() {}

  public static Graph generate(Graph g, long seed) {
    Map<String, String> role = roles(g);
    // Each constant draws from its own generator, seeded by its name, so the constants can be drawn in parallel
    // (the values are the same in any order); drawing is most of the time for the ImageNet-size models.
    List<Node> consts = g.constNodes();
    List<Tensor> drawn = consts.parallelStream().map(c -> draw(c, role.getOrDefault(c.name(), ""), seed)).toList();
    Map<String, Tensor> constants = new LinkedHashMap<>();
    for (int i = 0; i < consts.size(); i++) constants.put(consts.get(i).name(), drawn.get(i));
    return calibrate(g.withConstants(constants), seed);
  }

  private static Tensor draw(Node c, String role, long seed) {
    TensorType t = c.type();
    Random r = new Random(seed * 1_000_003L + c.name().hashCode());
    float[] data = new float[(int) t.elementsPerItem()];
    switch (role) {
      case "conv.weight" -> fill(data, r, Math.sqrt(2.0 / (t.dim(1) * t.dim(2) * t.dim(3))), 0);
      case "dense.weight" -> fill(data, r, 1 / Math.sqrt(t.dim(1)), 0);
      case "bn.gamma" -> fill(data, r, 0.1, 1);
      case "bn.gamma.residual" -> fill(data, r, 0.02, 0.2);
      case "bn.beta" -> fill(data, r, 0.1, 0);
      case "bn.var" -> java.util.Arrays.fill(data, 1); // replaced by calibration
      default -> { } // biases and running means start at zero
    }
    return new Tensor(t, data);
  }

  private static void fill(float[] data, Random r, double std, double mean) {
    for (int i = 0; i < data.length; i++) data[i] = (float) (mean + std * r.nextGaussian());
  }

  /** What each constant is, from the op that reads it. */
  private static Map<String, String> roles(Graph g) {
    Map<String, String> role = new HashMap<>();
    for (Node n : g.nodes()) {
      switch (n.op()) {
        case Op.Conv2d c -> role.put(n.input(1), "conv.weight");
        case Op.Dense d -> role.put(n.input(1), "dense.weight");
        case Op.BatchNorm b -> {
          // The last batch norm of a residual branch starts small, as trained ResNets' do (and as Goyal et al.
          // initialize it): a branch at full strength makes a deep random net chaotic, so that float rounding
          // differences between correct implementations grow to 1e-3 by ResNet-152.
          boolean residual = g.users(n.name()).stream().anyMatch(u -> u.op() instanceof Op.Add);
          role.put(n.input(1), residual ? "bn.gamma.residual" : "bn.gamma");
          role.put(n.input(2), "bn.beta");
          role.put(n.input(3), "bn.mean");
          role.put(n.input(4), "bn.var");
        }
        default -> { }
      }
    }
    return role;
  }

  /** Sets every batch norm's running statistics to the batch statistics of its input on a seeded batch. */
  static Graph calibrate(Graph g, long seed) {
    TensorType in = g.input().type();
    long perItem = in.elementsPerItem();
    int batch = (int) Math.max(2, Math.min(32, 400_000 / perItem));
    boolean raw = g.nodes().stream().anyMatch(n -> n.op() instanceof Op.Normalize);
    Random r = new Random(seed);
    float[] x = new float[(int) (perItem * batch)];
    // Pixels 0..255 when the graph normalizes its input itself, standard normal values otherwise.
    for (int i = 0; i < x.length; i++) x[i] = raw ? r.nextInt(256) : (float) r.nextGaussian();

    Map<String, Tensor> constants = new LinkedHashMap<>(g.constants());
    Map<String, float[]> values = new HashMap<>();
    values.put(g.input().name(), x);
    for (Node n : g.nodes()) {
      if (n.op() instanceof Op.Input || n.op() instanceof Op.Const) continue;
      if (n.op() instanceof Op.BatchNorm) {
        float[][] stats = channelStats(values.get(n.input(0)), g.node(n.input(0)).type(), batch);
        constants.put(n.input(3), new Tensor(g.node(n.input(3)).type(), stats[0]));
        constants.put(n.input(4), new Tensor(g.node(n.input(4)).type(), stats[1]));
      }
      List<float[]> operands = new ArrayList<>();
      List<TensorType> types = new ArrayList<>();
      for (String name : n.inputs()) {
        Node def = g.node(name);
        types.add(def.type());
        operands.add(def.op() instanceof Op.Const ? constants.get(name).data() : values.get(name));
      }
      values.put(n.name(), Interpreter.eval(n, operands, types, batch));
    }
    return g.withConstants(constants);
  }

  /** Per-channel mean and (biased) variance over batch and space, in double. */
  static float[][] channelStats(float[] v, TensorType t, int batch) {
    int c = t.dim(1);
    int spatial = (int) (t.elementsPerItem() / c);
    double[] sum = new double[c], sq = new double[c];
    for (int b = 0; b < batch; b++) {
      for (int ch = 0; ch < c; ch++) {
        int base = (b * c + ch) * spatial;
        for (int i = 0; i < spatial; i++) {
          double d = v[base + i];
          sum[ch] += d;
          sq[ch] += d * d;
        }
      }
    }
    float[] mean = new float[c], var = new float[c];
    double n = (double) batch * spatial;
    for (int ch = 0; ch < c; ch++) {
      double m = sum[ch] / n;
      mean[ch] = (float) m;
      var[ch] = (float) Math.max(sq[ch] / n - m * m, 1e-6);
    }
    return new float[][] {mean, var};
  }
}
