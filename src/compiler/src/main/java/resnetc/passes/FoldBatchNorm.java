package resnetc.passes;

import java.util.List;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.TensorType;

/**
 * Folds inference batch norm into the adjacent linear layer:
 *
 * <ul>
 *   <li>conv → bn and dense → bn: scale the weights per output channel, shift the bias (always exact);
 *   <li>bn → conv: scale the weights per input channel and move the shift into the bias, only when the conv has
 *       no padding: a padded border reads zeros, which are not the batch norm of anything, so with padding the
 *       fold would be wrong at the border and the pass leaves it alone.
 * </ul>
 * The producer must have the batch norm as its only user. Arithmetic is in double, rounded once.
 */
public final class FoldBatchNorm implements Pass {
  public String name() {
    return "fold-bn";
  }

  public Graph run(Graph g) {
    Rewriter r = new Rewriter(g);
    boolean changed = true;
    while (changed) {
      changed = false;
      for (Node bn : List.copyOf(r.nodes)) {
        if (!(bn.op() instanceof Op.BatchNorm) || !params(r, bn)) continue;
        Node producer = r.node(bn.input(0));
        if ((producer.op() instanceof Op.Conv2d || producer.op() instanceof Op.Dense) && r.uses(producer.name()) == 1) {
          foldAfter(r, producer, bn);
          changed = true;
          break;
        }
        List<Node> users = r.users(bn.name());
        if (users.size() == 1 && r.uses(bn.name()) == 1 && users.get(0).op() instanceof Op.Conv2d c
            && c.pad() == 0 && users.get(0).input(0).equals(bn.name())) {
          foldBefore(r, bn, users.get(0), c);
          changed = true;
          break;
        }
      }
    }
    return r.build();
  }

  /** All four statistics are constants (always true for lowered graphs, not for hand-written IR). */
  private static boolean params(Rewriter r, Node bn) {
    return bn.inputs().subList(1, 5).stream().allMatch(r::isConst);
  }

  /** Per-channel scale and shift of a batch norm, or null without weights. */
  static double[][] affine(Rewriter r, Node bn) {
    float[] gamma = r.data(bn.input(1)), beta = r.data(bn.input(2)), mean = r.data(bn.input(3)), var = r.data(bn.input(4));
    if (gamma == null || beta == null || mean == null || var == null) return null;
    double eps = ((Op.BatchNorm) bn.op()).eps();
    double[] s = new double[gamma.length], t = new double[gamma.length];
    for (int c = 0; c < s.length; c++) {
      s[c] = gamma[c] / Math.sqrt((double) var[c] + eps);
      t[c] = beta[c] - mean[c] * s[c];
    }
    return new double[][] {s, t};
  }

  /** y = bn(W x + b)  ==>  y = (s W) x + (s b + t). */
  private static void foldAfter(Rewriter r, Node lin, Node bn) {
    TensorType wt = r.node(lin.input(1)).type();
    int out = wt.dim(0);
    int per = (int) (wt.elementsPerItem() / out);
    double[][] st = affine(r, bn);
    float[] w = null, b = null;
    if (st != null) {
      float[] w0 = r.data(lin.input(1));
      float[] b0 = lin.inputs().size() > 2 ? r.data(lin.input(2)) : new float[out];
      w = new float[w0.length];
      b = new float[out];
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < per; i++) w[o * per + i] = (float) (w0[o * per + i] * st[0][o]);
        b[o] = (float) (b0[o] * st[0][o] + st[1][o]);
      }
    }
    String wName = r.addConst(lin.name() + ".folded_weight", wt, w, lin.name(), bn.origin());
    String bName = r.addConst(lin.name() + ".folded_bias", TensorType.of(out), b, lin.name(), bn.origin());
    Node folded = lin.withInputs(List.of(lin.input(0), wName, bName));
    r.replaceNode(lin, folded);
    r.replaceAllUses(bn.name(), lin.name());
  }

  /** y = W bn(x) + b = (W diag(s)) x + (W t + b), exact only without padding. */
  private static void foldBefore(Rewriter r, Node bn, Node conv, Op.Conv2d c) {
    TensorType wt = r.node(conv.input(1)).type();
    int out = wt.dim(0), cin = wt.dim(1), kk = wt.dim(2) * wt.dim(3);
    int outPerGroup = out / c.groups();
    double[][] st = affine(r, bn);
    float[] w = null, b = null;
    if (st != null) {
      float[] w0 = r.data(conv.input(1));
      float[] b0 = conv.inputs().size() > 2 ? r.data(conv.input(2)) : new float[out];
      w = new float[w0.length];
      b = new float[out];
      for (int o = 0; o < out; o++) {
        int group = o / outPerGroup;
        double acc = b0[o];
        for (int i = 0; i < cin; i++) {
          int ch = group * cin + i;
          for (int k = 0; k < kk; k++) {
            int idx = (o * cin + i) * kk + k;
            w[idx] = (float) (w0[idx] * st[0][ch]);
            acc += w0[idx] * st[1][ch];
          }
        }
        b[o] = (float) acc;
      }
    }
    String wName = r.addConst(conv.name() + ".folded_weight", wt, w, conv.name(), bn.origin());
    String bName = r.addConst(conv.name() + ".folded_bias", TensorType.of(out), b, conv.name(), bn.origin());
    r.replaceNode(conv, conv.withInputs(List.of(bn.input(0), wName, bName)));
    r.remove(bn.name());
  }
}
