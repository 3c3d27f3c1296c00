package resnetc.ir;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Per-layer parameters and multiply-accumulates (per image), counted as torchvision and the papers count them. */
public record Summary(List<Row> rows, long params, long macs) {

  public record Row(String name, String op, String shape, long params, long macs) {}

  public static Summary of(Graph g) {
    List<Row> rows = new ArrayList<>();
    long params = 0, macs = 0;
    for (Node n : g.nodes()) {
      if (n.op() instanceof Op.Const || n.op() instanceof Op.Input) continue;
      long p = params(g, n), m = macs(g, n);
      rows.add(new Row(n.name(), n.op().mnemonic(), n.type().itemShape(), p, m));
      params += p;
      macs += m;
    }
    return new Summary(rows, params, macs);
  }

  /** Trainable parameters read by a node: batch-norm running statistics are buffers, not parameters. */
  static long params(Graph g, Node n) {
    List<String> ins = n.op() instanceof Op.BatchNorm ? n.inputs().subList(1, 3) : n.inputs();
    long p = 0;
    for (String in : ins) {
      Node def = g.node(in);
      if (def.op() instanceof Op.Const) p += def.type().elementsPerItem();
    }
    return p;
  }

  /** Multiply-accumulates of convolutions and dense layers for one image. */
  public static long macs(Graph g, Node n) {
    return switch (n.op()) {
      case Op.Conv2d c -> {
        TensorType w = g.node(n.input(1)).type();
        yield n.type().elementsPerItem() * w.dim(1) * w.dim(2) * w.dim(3);
      }
      case Op.FusedConv c -> {
        TensorType w = g.node(n.input(1)).type();
        yield n.type().elementsPerItem() * w.dim(1) * w.dim(2) * w.dim(3);
      }
      case Op.Dense d -> g.node(n.input(1)).type().elementsPerItem();
      default -> 0;
    };
  }

  /**
   * What a layer computes, for profiles: {@code conv KxK} with {@code sS} for a stride and {@code gG} for groups
   * (e.g. {@code conv 3x3 s2}), {@code fc}, {@code maxpool 3x3 s2}, {@code avgpool 2x2 s2}, {@code global avgpool},
   * else the op's mnemonic. Layers of one kind run the same kernel shape.
   */
  public static String kind(Node n) {
    return switch (n.op()) {
      case Op.Conv2d c -> window("conv", c.kernel(), c.stride()) + (c.groups() > 1 ? " g" + c.groups() : "");
      case Op.FusedConv c -> window("conv", c.kernel(), c.stride()) + (c.groups() > 1 ? " g" + c.groups() : "");
      case Op.Dense d -> "fc";
      case Op.MaxPool p -> window("maxpool", p.kernel(), p.stride());
      case Op.AvgPool p -> window("avgpool", p.kernel(), p.stride());
      case Op.GlobalAvgPool p -> "global avgpool";
      default -> n.op().mnemonic();
    };
  }

  private static String window(String op, int kernel, int stride) {
    return op + " " + kernel + "x" + kernel + (stride > 1 ? " s" + stride : "");
  }

  public String table() {
    int w = Math.max(4, rows.stream().mapToInt(r -> r.name().length()).max().orElse(4));
    String fmt = "%-" + w + "s  %-14s  %-14s  %12s  %15s%n";
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, fmt, "name", "op", "output", "params", "macs"));
    for (Row r : rows) {
      sb.append(String.format(Locale.ROOT, fmt, r.name(), r.op(), r.shape(), group(r.params()), group(r.macs())));
    }
    sb.append(String.format(Locale.ROOT, "params: %d%n", params));
    sb.append(String.format(Locale.ROOT, "macs: %d%n", macs));
    return sb.toString();
  }

  private static String group(long v) {
    return v == 0 ? "-" : String.format(Locale.ROOT, "%,d", v);
  }
}
