package resnetc.passes;

import java.util.List;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.TensorType;

/**
 * Folds input normalization {@code (x / div - mean) / std} into the first conv when that is exact: the conv must
 * be its only user and have no padding. With padding the conv reads zeros at the border where the normalized
 * input would have had {@code -mean/std}, so the pass does not fire (every shipped example pads its stem conv;
 * the normalization then stays a separate, cheap elementwise op).
 */
public final class FoldPreprocess implements Pass {
  public String name() {
    return "fold-preprocess";
  }

  public Graph run(Graph g) {
    Rewriter r = new Rewriter(g);
    for (Node norm : List.copyOf(r.nodes)) {
      if (!(norm.op() instanceof Op.Normalize n)) continue;
      List<Node> users = r.users(norm.name());
      if (users.size() != 1 || r.uses(norm.name()) != 1) continue;
      Node conv = users.get(0);
      if (!(conv.op() instanceof Op.Conv2d c) || c.pad() != 0 || !conv.input(0).equals(norm.name())) continue;
      TensorType wt = r.node(conv.input(1)).type();
      int out = wt.dim(0), cin = wt.dim(1), kk = wt.dim(2) * wt.dim(3), outPerGroup = out / c.groups();
      float[] w = null, b = null;
      float[] w0 = r.data(conv.input(1));
      if (w0 != null) {
        float[] b0 = conv.inputs().size() > 2 ? r.data(conv.input(2)) : new float[out];
        w = new float[w0.length];
        b = new float[out];
        for (int o = 0; o < out; o++) {
          double acc = b0[o];
          for (int i = 0; i < cin; i++) {
            int ch = (o / outPerGroup) * cin + i;
            double s = 1.0 / ((double) n.div() * n.std()[ch]), t = -(double) n.mean()[ch] / n.std()[ch];
            for (int k = 0; k < kk; k++) {
              int idx = (o * cin + i) * kk + k;
              w[idx] = (float) (w0[idx] * s);
              acc += w0[idx] * t;
            }
          }
          b[o] = (float) acc;
        }
      }
      String wName = r.addConst(conv.name() + ".prep_weight", wt, w, conv.name(), norm.origin());
      String bName = r.addConst(conv.name() + ".prep_bias", TensorType.of(out), b, conv.name(), norm.origin());
      r.replaceNode(conv, conv.withInputs(List.of(norm.input(0), wName, bName)));
      r.remove(norm.name());
    }
    return r.build();
  }
}
