package resnetc.interp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.TensorType;
import resnetc.analysis.MemoryPlan;

/**
 * Runs a graph inside one float arena laid out by a {@link MemoryPlan}: each node copies its operands out of their
 * slices, evaluates them with {@link Interpreter#eval} and writes the result into its own slice. The plan is not
 * verified here on purpose: a wrong plan clobbers live values, so equality with {@link Interpreter#run} (bitwise,
 * as the same eval is used) is an independent, numerical proof that the plan is sound.
 */
public final class ArenaInterpreter {
  private final Graph graph;
  private final MemoryPlan plan;
  private final Map<String, MemoryPlan.Slot> slots = new HashMap<>();

  /** Needs the weights bound. */
  public ArenaInterpreter(Graph g, MemoryPlan plan) {
    new Interpreter(g); // checks the weights are bound and verifies the graph
    this.graph = g;
    this.plan = plan;
    for (MemoryPlan.Slot s : plan.slots()) slots.put(s.value(), s);
  }

  public MemoryPlan plan() {
    return plan;
  }

  /** Runs {@code plan().batch()} items, {@code input} NCHW of the graph's input type; returns the output value. */
  public float[] run(float[] input) {
    int batch = plan.batch();
    TensorType inType = graph.input().type();
    if (input.length != inType.elements(batch)) {
      throw new IllegalArgumentException("input has " + input.length + " values; " + inType + " with N=" + batch + " needs " + inType.elements(batch));
    }
    float[] arena = new float[Math.toIntExact(plan.arenaBytes() / Float.BYTES)];
    for (Node n : graph.nodes()) {
      if (n.op() instanceof Op.Const) continue;
      if (n.op() instanceof Op.Input) {
        write(arena, n.name(), input);
        continue;
      }
      List<float[]> operands = new ArrayList<>();
      List<TensorType> types = new ArrayList<>();
      for (String in : n.inputs()) {
        Node def = graph.node(in);
        types.add(def.type());
        operands.add(def.op() instanceof Op.Const ? graph.constants().get(in).data() : read(arena, def, batch));
      }
      write(arena, n.name(), Interpreter.eval(n, operands, types, batch));
    }
    Node out = graph.node(graph.output());
    return out.op() instanceof Op.Const ? graph.constants().get(out.name()).data().clone() : read(arena, out, batch);
  }

  private float[] read(float[] arena, Node n, int batch) {
    int from = start(n.name());
    return Arrays.copyOfRange(arena, from, from + Math.toIntExact(n.type().elements(batch)));
  }

  private void write(float[] arena, String value, float[] data) {
    System.arraycopy(data, 0, arena, start(value), data.length);
  }

  private int start(String value) {
    MemoryPlan.Slot s = slots.get(value);
    if (s == null) throw new IllegalArgumentException("the plan has no slot for %" + value);
    return Math.toIntExact(s.offset() / Float.BYTES);
  }
}
