package resnetc.ir;

import java.util.Map;

/** Graphviz DOT of a graph: one box per op (constants folded into their users' labels), edges with shapes. */
public final class Dot {
  private Dot() {}

  public static String of(Graph g) {
    StringBuilder sb = new StringBuilder();
    sb.append("digraph \"").append(esc(g.name())).append("\" {\n");
    sb.append("  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f4f4\", fontname=\"Helvetica\", fontsize=10];\n");
    sb.append("  edge [fontname=\"Helvetica\", fontsize=8];\n");
    for (Node n : g.nodes()) {
      if (n.op() instanceof Op.Const) continue;
      StringBuilder label = new StringBuilder(n.name()).append("\\n").append(n.op().mnemonic());
      for (Map.Entry<String, String> a : n.op().attrs().entrySet()) {
        if (a.getValue().length() > 24) continue;
        if (a.getKey().startsWith("res_") && n.op() instanceof Op.FusedConv f && f.residual() != Op.FusedConv.Residual.SUBSAMPLE) continue;
        label.append(' ').append(a.getKey()).append('=').append(a.getValue());
      }
      String color = switch (n.op()) {
        case Op.Conv2d c -> "#cfe2ff";
        case Op.FusedConv c -> "#b6d7a8";
        case Op.BatchNorm b -> "#ffe599";
        case Op.Add a -> "#f4cccc";
        case Op.Input i -> "#ffffff";
        default -> "#f4f4f4";
      };
      sb.append("  \"").append(esc(n.name())).append("\" [label=\"").append(esc(label.toString()).replace("\\\\n", "\\n"))
          .append("\", fillcolor=\"").append(color).append("\"];\n");
    }
    for (Node n : g.nodes()) {
      for (String in : n.inputs()) {
        Node def = g.node(in);
        if (def.op() instanceof Op.Const) continue;
        sb.append("  \"").append(esc(in)).append("\" -> \"").append(esc(n.name())).append("\" [label=\"")
            .append(def.type().itemShape()).append("\"];\n");
      }
    }
    return sb.append("}\n").toString();
  }

  private static String esc(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
