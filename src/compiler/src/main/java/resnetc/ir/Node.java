package resnetc.ir;

import java.util.List;

/**
 * One value of the dataflow graph: {@code %name = op operands attrs : type}.
 *
 * @param origin where the node came from in the spec ({@code file:line}), or empty; carried into generated code
 */
public record Node(String name, Op op, List<String> inputs, TensorType type, String origin) {
  public Node {
    inputs = List.copyOf(inputs);
    origin = origin == null ? "" : origin;
  }

  public Node(String name, Op op, List<String> inputs, TensorType type) {
    this(name, op, inputs, type, "");
  }

  public String input(int i) {
    return inputs.get(i);
  }

  public Node withInputs(List<String> newInputs) {
    return new Node(name, op, newInputs, type, origin);
  }

  public Node withOp(Op newOp) {
    return new Node(name, newOp, inputs, type, origin);
  }
}
