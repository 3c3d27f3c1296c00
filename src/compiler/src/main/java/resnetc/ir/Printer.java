package resnetc.ir;

import java.util.Map;

/**
 * The stable text form of a graph:
 *
 * <pre>
 * graph resnet20 {
 *   %input = input : f32[N,3,32,32]
 *   %conv1.weight = const : f32[16,3,3,3]
 *   %conv1 = conv2d %input, %conv1.weight kernel=3x3 stride=1 pad=1 groups=1 : f32[N,16,32,32]
 *   return %linear
 * }
 * </pre>
 *
 * One node per line in execution order, operands first, then attributes in a fixed order, then the type.
 * Constant data is never printed. {@code origin} is printed as a trailing comment when asked for.
 */
public final class Printer {
  private Printer() {}

  public static String print(Graph g) {
    return print(g, false);
  }

  public static String print(Graph g, boolean withOrigins) {
    StringBuilder sb = new StringBuilder();
    sb.append("graph ").append(g.name()).append(" {\n");
    for (Node n : g.nodes()) {
      sb.append("  ").append(line(n));
      if (withOrigins && !n.origin().isEmpty()) sb.append("  // ").append(n.origin());
      sb.append('\n');
    }
    sb.append("  return %").append(g.output()).append('\n');
    sb.append("}\n");
    return sb.toString();
  }

  /** One node without indentation. */
  public static String line(Node n) {
    StringBuilder sb = new StringBuilder();
    sb.append('%').append(n.name()).append(" = ").append(n.op().mnemonic());
    for (int i = 0; i < n.inputs().size(); i++) {
      sb.append(i == 0 ? " " : ", ").append('%').append(n.inputs().get(i));
    }
    for (Map.Entry<String, String> a : n.op().attrs().entrySet()) {
      sb.append(' ').append(a.getKey()).append('=').append(a.getValue());
    }
    sb.append(" : ").append(n.type());
    return sb.toString();
  }
}
