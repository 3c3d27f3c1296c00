package resnetc.passes;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;

/** Removes nodes and constants the output does not depend on (folds leave their old constants behind). */
public final class DeadCodeElimination implements Pass {
  public String name() {
    return "dce";
  }

  public Graph run(Graph g) {
    Set<String> live = new HashSet<>();
    live.add(g.output());
    List<Node> nodes = g.nodes();
    for (int i = nodes.size() - 1; i >= 0; i--) {
      Node n = nodes.get(i);
      if (live.contains(n.name())) live.addAll(n.inputs());
    }
    List<Node> kept = new ArrayList<>();
    for (Node n : nodes) if (live.contains(n.name()) || n.op() instanceof Op.Input) kept.add(n);
    Rewriter r = new Rewriter(g);
    r.nodes.clear();
    r.nodes.addAll(kept);
    return r.build();
  }
}
