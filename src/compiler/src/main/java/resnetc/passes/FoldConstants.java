package resnetc.passes;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;

/**
 * Folds what the constants make known at compile time. Every activation in this IR depends on the input, so
 * there is no op to evaluate outright; what constants do decide is:
 *
 * <ul>
 *   <li>identical constants (same type, same bits) are one constant: e.g. the zero biases of fused convs;
 *   <li>a batch norm whose scale is exactly 1 and shift exactly 0 in float, and a normalize with div 1, mean 0,
 *       std 1, are identities and disappear.
 * </ul>
 * Needs weights; on a weightless graph it does nothing.
 */
public final class FoldConstants implements Pass {
  public String name() {
    return "fold-constants";
  }

  public Graph run(Graph g) {
    if (!g.hasWeights()) return g;
    Rewriter r = new Rewriter(g);
    Map<Key, String> seen = new HashMap<>();
    for (Node c : List.copyOf(r.nodes)) {
      if (!(c.op() instanceof Op.Const)) continue;
      Tensor t = r.constants.get(c.name());
      String first = seen.putIfAbsent(new Key(t), c.name());
      if (first != null && !c.name().equals(r.output())) r.replaceAllUses(c.name(), first);
    }
    // Removing an identity renames its users' operands, so read each node as it is now, not as copied.
    for (String name : r.nodes.stream().map(Node::name).toList()) {
      Node n = r.find(name);
      if (n == null) continue;
      if (n.op() instanceof Op.BatchNorm && n.inputs().subList(1, 5).stream().allMatch(r::isConst) && isIdentity(r, n)) {
        r.replaceAllUses(n.name(), n.input(0));
      } else if (n.op() instanceof Op.Normalize z && z.div() == 1 && allEqual(z.mean(), 0) && allEqual(z.std(), 1)) {
        r.replaceAllUses(n.name(), n.input(0));
      }
    }
    return r.build();
  }

  /** The batch norm computes exactly x in float: (x - 0) / sqrt(var + eps) * 1 + 0 with sqrt(var + eps) == 1. */
  private static boolean isIdentity(Rewriter r, Node bn) {
    float eps = ((Op.BatchNorm) bn.op()).eps();
    float[] gamma = r.data(bn.input(1)), beta = r.data(bn.input(2)), mean = r.data(bn.input(3)), var = r.data(bn.input(4));
    for (int c = 0; c < gamma.length; c++) {
      if (gamma[c] != 1 || beta[c] != 0 || mean[c] != 0 || (float) Math.sqrt(var[c] + eps) != 1) return false;
    }
    return true;
  }

  private static boolean allEqual(float[] v, float x) {
    for (float f : v) if (f != x) return false;
    return true;
  }

  /** Constant identity by type and exact bits (so -0.0 and 0.0 stay apart, NaNs with the same bits match). */
  private record Key(String type, int hash, float[] data) {
    Key(Tensor t) {
      this(t.type().toString(), Arrays.hashCode(t.data()), t.data());
    }

    @Override
    public boolean equals(Object o) {
      if (!(o instanceof Key k) || hash != k.hash || !type.equals(k.type)) return false;
      for (int i = 0; i < data.length; i++) if (Float.floatToRawIntBits(data[i]) != Float.floatToRawIntBits(k.data[i])) return false;
      return true;
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }
}
