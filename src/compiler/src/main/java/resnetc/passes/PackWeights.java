package resnetc.passes;

import java.util.LinkedHashMap;
import java.util.Map;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;

/**
 * The compile-time weight pre-packing a backend asks for: every conv weight of an optimized graph in the
 * backend's layout, keyed by constant name. The graph itself keeps PyTorch's layout, so the reference
 * interpreter and every pass keep reading one layout; packing is the last step before code generation.
 */
public final class PackWeights {
  private PackWeights() {}

  public static Map<String, Tensor> pack(Graph g, WeightLayout layout) {
    if (!g.hasWeights()) throw new IllegalArgumentException("graph " + g.name() + " has no weights to pack");
    Map<String, Tensor> packed = new LinkedHashMap<>();
    for (Node n : g.nodes()) {
      if (n.op() instanceof Op.Conv2d || n.op() instanceof Op.FusedConv) {
        packed.computeIfAbsent(n.input(1), w -> layout.pack(g.constants().get(w)));
      }
    }
    return packed;
  }
}
