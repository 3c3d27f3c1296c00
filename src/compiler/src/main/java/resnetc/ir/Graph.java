package resnetc.ir;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model as a typed dataflow graph: nodes in a valid execution order, one {@code input} node, one output value,
 * and the data of its constants (absent until weights are bound). Immutable; passes build a new graph.
 */
public final class Graph {
  private final String name;
  private final List<Node> nodes;
  private final String output;
  private final Map<String, Tensor> constants;
  private final Map<String, Node> byName;

  public Graph(String name, List<Node> nodes, String output, Map<String, Tensor> constants) {
    this.name = name;
    this.nodes = List.copyOf(nodes);
    this.output = output;
    this.constants = Collections.unmodifiableMap(new LinkedHashMap<>(constants));
    Map<String, Node> m = new HashMap<>();
    for (Node n : this.nodes) m.putIfAbsent(n.name(), n);
    this.byName = m;
  }

  public String name() {
    return name;
  }

  public List<Node> nodes() {
    return nodes;
  }

  public String output() {
    return output;
  }

  /** Constant data by const node name; empty when weights are not bound. */
  public Map<String, Tensor> constants() {
    return constants;
  }

  public boolean hasWeights() {
    return nodes.stream().filter(n -> n.op() instanceof Op.Const).allMatch(n -> constants.containsKey(n.name()));
  }

  public Node node(String name) {
    Node n = byName.get(name);
    if (n == null) throw new IrException("no value %" + name);
    return n;
  }

  public Optional<Node> find(String name) {
    return Optional.ofNullable(byName.get(name));
  }

  public Node input() {
    return nodes.stream().filter(n -> n.op() instanceof Op.Input).findFirst().orElseThrow(() -> new IrException("graph has no input"));
  }

  public TensorType outputType() {
    return node(output).type();
  }

  public List<Node> constNodes() {
    return nodes.stream().filter(n -> n.op() instanceof Op.Const).toList();
  }

  /** Nodes that read {@code value}. */
  public List<Node> users(String value) {
    return nodes.stream().filter(n -> n.inputs().contains(value)).toList();
  }

  public Graph withConstants(Map<String, Tensor> newConstants) {
    return new Graph(name, nodes, output, newConstants);
  }

  public Graph withNodes(List<Node> newNodes, String newOutput) {
    return new Graph(name, newNodes, newOutput, constants);
  }

  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** Appends nodes in execution order, inferring each result type from its operands. */
  public static final class Builder {
    private final String name;
    private final List<Node> nodes = new ArrayList<>();
    private final Map<String, Node> byName = new HashMap<>();
    private final Map<String, Tensor> constants = new LinkedHashMap<>();

    private Builder(String name) {
      this.name = name;
    }

    public String input(String value, TensorType type) {
      return put(new Node(value, new Op.Input(), List.of(), type));
    }

    /** Declares a constant; {@code data} may be null when weights are bound later. */
    public String constant(String value, TensorType type, float[] data, String origin) {
      put(new Node(value, new Op.Const(), List.of(), type, origin));
      if (data != null) constants.put(value, new Tensor(type, data));
      return value;
    }

    public String add(String value, Op op, List<String> inputs, String origin) {
      List<TensorType> types = new ArrayList<>();
      for (String in : inputs) {
        Node def = byName.get(in);
        if (def == null) throw new IrException("%" + value + " uses undefined %" + in);
        types.add(def.type());
      }
      if (inputs.size() < op.minInputs() || inputs.size() > op.maxInputs()) {
        throw new IrException(op.mnemonic() + " takes " + op.minInputs() + ".." + op.maxInputs() + " operands, got " + inputs.size());
      }
      return put(new Node(value, op, inputs, op.infer(types), origin));
    }

    public TensorType type(String value) {
      return byName.get(value).type();
    }

    public boolean has(String value) {
      return byName.containsKey(value);
    }

    private String put(Node n) {
      if (byName.containsKey(n.name())) throw new IrException("%" + n.name() + " is defined twice");
      nodes.add(n);
      byName.put(n.name(), n);
      return n.name();
    }

    public Graph build(String output) {
      return new Graph(name, nodes, output, constants);
    }
  }
}
