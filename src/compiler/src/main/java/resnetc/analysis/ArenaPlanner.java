package resnetc.analysis;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.TensorType;

/**
 * Static memory planning over the scheduled graph: every activation gets a fixed slice of one arena, and values
 * whose lifetimes do not overlap reuse the same bytes.
 *
 * <p>The graph input and output are activations like any other, so a whole run needs exactly one buffer: the caller
 * writes the input into its slice and reads the output from its slice. Constants are not planned; they stay where
 * the weights are.
 *
 * <p>Lifetimes are node-index intervals {@code [def, lastUse]} in the graph's execution order; two values conflict
 * when the intervals intersect (a node's output conflicts with the operands it reads). The one exception is in
 * place: an elementwise node may write its output over an operand that dies at that node, as each output element
 * depends only on the operand element at the same index. Chained in-place values form one buffer live over the union
 * of their lifetimes.
 *
 * <p>Offsets come from greedy-by-size best fit, as TFLite's arena planner does: buffers are placed largest first,
 * each in the smallest gap between already placed buffers it conflicts with (else above them all). Large buffers
 * dominate the arena, and placing them first lets the many small ones fill the holes they leave; best fit rather
 * than first fit keeps the big holes for the big buffers still to come.
 */
public final class ArenaPlanner {
  /** Offsets are multiples of a cache line: no two values share a line, and vector loads start aligned. */
  public static final int ALIGN = 64;

  private ArenaPlanner() {}

  public static MemoryPlan plan(Graph g, int batch) {
    if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
    Map<String, int[]> live = liveness(g);
    // In place: each value's buffer (named after the first value of its chain) and the operand it overwrote.
    Map<String, String> sharesWith = new HashMap<>();
    Map<String, Buffer> bufferOf = new LinkedHashMap<>();
    List<Node> nodes = g.nodes();
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      int[] r = live.get(n.name());
      if (r == null) continue;
      final int index = i;
      String over = n.inputs().stream().filter(in -> mayOverwrite(g, n, index, in, live, batch)).findFirst().orElse(null);
      Buffer b = over == null ? new Buffer(bytes(n.type(), batch), r[0]) : bufferOf.get(over);
      b.last = Math.max(b.last, r[1]);
      sharesWith.put(n.name(), over);
      bufferOf.put(n.name(), b);
    }

    List<Buffer> bySize = bufferOf.values().stream().distinct()
        .sorted(Comparator.comparingLong((Buffer b) -> -b.bytes).thenComparingInt(b -> b.first)).toList();
    List<Buffer> placed = new ArrayList<>();
    for (Buffer b : bySize) {
      List<Buffer> conflicts = placed.stream().filter(p -> p.first <= b.last && b.first <= p.last)
          .sorted(Comparator.comparingLong(p -> p.offset)).toList();
      long cursor = 0, best = -1, bestGap = Long.MAX_VALUE;
      for (Buffer p : conflicts) {
        long gap = p.offset - cursor;
        if (gap >= b.bytes && gap < bestGap) {
          best = cursor;
          bestGap = gap;
        }
        cursor = Math.max(cursor, align(p.offset + p.bytes));
      }
      b.offset = best >= 0 ? best : cursor;
      placed.add(b);
    }

    List<MemoryPlan.Slot> slots = new ArrayList<>();
    bufferOf.forEach((v, b) -> {
      int[] r = live.get(v);
      slots.add(new MemoryPlan.Slot(v, b.offset, bytes(g.node(v).type(), batch), r[0], r[1], sharesWith.get(v)));
    });
    return new MemoryPlan(batch, slots);
  }

  /** One arena region: a value, or a chain of values computed in place over each other. */
  private static final class Buffer {
    final long bytes;
    final int first;
    int last;
    long offset;

    Buffer(long bytes, int first) {
      this.bytes = bytes;
      this.first = first;
      this.last = first;
    }
  }

  static long align(long offset) {
    return (offset + ALIGN - 1) / ALIGN * ALIGN;
  }

  static long bytes(TensorType t, int batch) {
    return t.elements(batch) * Float.BYTES;
  }

  /**
   * {@code [def, lastUse]} of every activation (non-const node) in execution order. A value nobody reads dies where
   * it is defined; the output lives past the last node, as the caller reads it after the run.
   */
  static Map<String, int[]> liveness(Graph g) {
    Map<String, int[]> live = new LinkedHashMap<>();
    List<Node> nodes = g.nodes();
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      for (String in : n.inputs()) {
        int[] r = live.get(in);
        if (r != null) r[1] = i;
      }
      if (!(n.op() instanceof Op.Const)) live.put(n.name(), new int[] {i, i});
    }
    int[] out = live.get(g.output());
    if (out != null) out[1] = nodes.size();
    return live;
  }

  /**
   * Whether node {@code n} (at {@code index}) may write its output over {@code operand}: the operand dies here, is
   * not the graph input (the caller's data), has the output's size, and every position it is read at is elementwise.
   */
  static boolean mayOverwrite(Graph g, Node n, int index, String operand, Map<String, int[]> live, int batch) {
    int[] r = live.get(operand);
    Node def = g.find(operand).orElse(null);
    if (r == null || r[1] != index || def == null || def.op() instanceof Op.Input || !n.inputs().contains(operand)) return false;
    if (bytes(def.type(), batch) != bytes(n.type(), batch)) return false;
    Set<Integer> elementwise = elementwiseOperands(n.op());
    for (int k = 0; k < n.inputs().size(); k++) {
      if (n.input(k).equals(operand) && !elementwise.contains(k)) return false; // e.g. also read as a conv input
    }
    return true;
  }

  /** Operand positions whose element i is read only to produce output element i. */
  static Set<Integer> elementwiseOperands(Op op) {
    return switch (op) {
      case Op.Relu o -> Set.of(0);
      case Op.BatchNorm o -> Set.of(0);
      case Op.Normalize o -> Set.of(0);
      case Op.Add o -> Set.of(0, 1);
      // The epilogue adds a plain residual (operand 3) element for element, so a backend must read r[i] before it
      // stores y[i] (or accumulate the conv onto it); the option-A residual is read strided, so never in place.
      case Op.FusedConv o -> o.residual() == Op.FusedConv.Residual.ADD ? Set.of(3) : Set.of();
      default -> Set.of();
    };
  }
}
