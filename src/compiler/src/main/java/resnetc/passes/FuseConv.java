package resnetc.passes;

import java.util.List;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Op.FusedConv.Residual;
import resnetc.ir.TensorType;

/**
 * Turns every conv into a {@code fused_conv} and pulls what follows it into its epilogue:
 *
 * <ol>
 *   <li>the bias (a zero bias is made explicit so every fused conv has one);
 *   <li>the residual add of a block ("shortcut elimination"): an identity shortcut becomes a plain residual
 *       operand, an option-A {@code subsample_pad} becomes a strided, channel-offset read of the block input, and a
 *       projection shortcut is a conv whose output is the residual operand;
 *   <li>a following ReLU.
 * </ol>
 * A value is absorbed only when the fused conv is its only user, so nothing else needs the unfused form.
 */
public final class FuseConv implements Pass {
  public String name() {
    return "fuse-conv";
  }

  public Graph run(Graph g) {
    Rewriter r = new Rewriter(g);
    for (Node n : List.copyOf(r.nodes)) {
      if (n.op() instanceof Op.Conv2d c) {
        String bias = n.inputs().size() > 2 ? n.input(2) : zeroBias(r, n);
        r.replaceNode(n, new Node(n.name(), Op.FusedConv.of(c, false, Residual.NONE, 1, 0), List.of(n.input(0), n.input(1), bias), n.type(), n.origin()));
      }
    }
    // Earlier fusions rename values (an add becomes its conv), so read each node as it is now, not as copied.
    for (String name : names(r)) {
      Node add = r.find(name);
      if (add != null && add.op() instanceof Op.Add) fuseAdd(r, add);
    }
    for (String name : names(r)) {
      Node relu = r.find(name);
      if (relu == null || !(relu.op() instanceof Op.Relu)) continue;
      Node conv = r.node(relu.input(0));
      if (conv.op() instanceof Op.FusedConv f && !f.relu() && r.uses(conv.name()) == 1) {
        r.replaceNode(conv, conv.withOp(f.withRelu()));
        r.replaceAllUses(relu.name(), conv.name());
      }
    }
    return r.build();
  }

  private static List<String> names(Rewriter r) {
    return r.nodes.stream().map(Node::name).toList();
  }

  private static List<String> names(Rewriter r, Class<? extends Op> op) {
    return r.nodes.stream().filter(n -> op.isInstance(n.op())).map(Node::name).toList();
  }

  private static String zeroBias(Rewriter r, Node conv) {
    int out = conv.type().dim(1);
    return r.addConst(conv.name() + ".bias", TensorType.of(out), r.hasWeights() ? new float[out] : null, conv.name(), conv.origin());
  }

  /**
   * Replaces {@code add(conv, shortcut)} by the conv with the shortcut as its residual, placed where the add was
   * (both operands are computed by then). LowerToIr emits a block's residual branch before its shortcut, so when
   * both operands are convs the earlier one, the block's last conv, takes the add; a projection conv then feeds it.
   */
  private static void fuseAdd(Rewriter r, Node add) {
    boolean swap = r.indexOf(add.input(1)) < r.indexOf(add.input(0));
    for (int k : swap ? new int[] {1, 0} : new int[] {0, 1}) {
      Node conv = r.node(add.input(k));
      String other = add.input(1 - k);
      if (!fusable(r, conv)) continue;
      Op.FusedConv f = (Op.FusedConv) conv.op();
      Node sc = r.node(other);
      Node fused;
      if (sc.op() instanceof Op.SubsamplePad p && r.uses(sc.name()) == 1) {
        fused = new Node(conv.name(), Op.FusedConv.of(f.conv(), false, Residual.SUBSAMPLE, p.stride(), p.before()),
            List.of(conv.input(0), conv.input(1), conv.input(2), sc.input(0)), add.type(), conv.origin());
        r.remove(sc.name());
      } else {
        fused = new Node(conv.name(), Op.FusedConv.of(f.conv(), false, Residual.ADD, 1, 0),
            List.of(conv.input(0), conv.input(1), conv.input(2), other), add.type(), conv.origin());
      }
      r.remove(conv.name());
      r.nodes.set(r.indexOf(add.name()), fused);
      r.replaceAllUses(add.name(), conv.name());
      return;
    }
  }

  private static boolean fusable(Rewriter r, Node n) {
    return n.op() instanceof Op.FusedConv f && f.residual() == Residual.NONE && !f.relu() && r.uses(n.name()) == 1;
  }
}
