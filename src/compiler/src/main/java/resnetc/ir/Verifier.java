package resnetc.ir;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks the structural invariants every pass and backend relies on: one input, single definitions in execution
 * order, operand counts, recorded types equal to inferred types, batched activations and unbatched constants, an
 * existing output, and (when weights are bound) constant data matching the const types. Reports every problem, not
 * just the first, one per line, each naming the offending node.
 */
public final class Verifier {
  private Verifier() {}

  /** Throws {@link IrException} listing all problems, one per line, when the graph is malformed. */
  public static void verify(Graph g) {
    List<String> problems = problems(g);
    if (!problems.isEmpty()) throw new IrException(String.join("\n", problems));
  }

  /** All problems found, in node order; empty for a well-formed graph. */
  public static List<String> problems(Graph g) {
    List<String> out = new ArrayList<>();
    Set<String> allNames = new HashSet<>();
    for (Node n : g.nodes()) allNames.add(n.name());

    Map<String, TensorType> defined = new HashMap<>();
    String firstInput = null;
    for (Node n : g.nodes()) {
      String at = "%" + n.name() + ": ";
      Op op = n.op();
      boolean isConst = op instanceof Op.Const;
      if (op instanceof Op.Input) {
        if (firstInput == null) firstInput = n.name();
        else out.add(at + "second input node (the input is %" + firstInput + "); a graph has exactly one");
      }

      // Operands must be defined by an earlier node; only then can the type be inferred.
      boolean inferable = true;
      List<TensorType> types = new ArrayList<>();
      for (String in : n.inputs()) {
        TensorType t = defined.get(in);
        if (t == null) {
          inferable = false;
          out.add(at + (allNames.contains(in) ? "uses %" + in + " before its definition" : "uses undefined %" + in));
        } else {
          types.add(t);
        }
      }
      int count = n.inputs().size();
      if (count < op.minInputs() || count > op.maxInputs()) {
        inferable = false;
        out.add(at + op.mnemonic() + " takes " + range(op) + " operands, got " + count);
      }
      if (inferable && !(op instanceof Op.Input) && !isConst) {
        try {
          TensorType inferred = op.infer(types);
          if (!inferred.equals(n.type())) {
            out.add(at + "recorded type " + n.type() + " but the operands give " + inferred);
          }
        } catch (RuntimeException e) { // IrException, or a malformed op failing in infer
          out.add(at + "type inference failed: " + e.getMessage());
        }
      }

      if (isConst && n.type().isBatched()) out.add(at + "constant type " + n.type() + " must not have the batch dimension N");
      if (!isConst && !n.type().isBatched()) out.add(at + "activation type " + n.type() + " lacks the batch dimension N");

      if (defined.containsKey(n.name())) out.add(at + "defined more than once (single definition)");
      else defined.put(n.name(), n.type());
    }
    if (firstInput == null) out.add("graph " + g.name() + " has no input node");
    if (g.output() == null || !allNames.contains(g.output())) out.add("%" + g.output() + ": returned but not defined");

    checkConstants(g, out);
    return out;
  }

  private static void checkConstants(Graph g, List<String> out) {
    Map<String, Tensor> data = g.constants();
    Map<String, Node> first = new HashMap<>();
    for (Node n : g.nodes()) first.putIfAbsent(n.name(), n);
    // Without any data the weights are simply not bound yet; with some, all must be there.
    if (!data.isEmpty()) {
      for (Node n : g.constNodes()) {
        if (first.get(n.name()) != n) continue; // a duplicate, reported above
        Tensor t = data.get(n.name());
        if (t == null) out.add("%" + n.name() + ": constant has no data");
        else if (!t.type().equals(n.type())) out.add("%" + n.name() + ": constant data is " + t.type() + " but the node is " + n.type());
      }
    }
    for (String name : data.keySet()) {
      Node n = first.get(name);
      if (n == null || !(n.op() instanceof Op.Const)) out.add("%" + name + ": has constant data but is not a const node");
    }
  }

  private static String range(Op op) {
    return op.minInputs() == op.maxInputs() ? "" + op.minInputs() : op.minInputs() + ".." + op.maxInputs();
  }
}
