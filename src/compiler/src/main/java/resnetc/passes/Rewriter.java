package resnetc.passes;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/**
 * Mutable working copy of a graph for a pass: nodes in order, constants, and value replacement. Passes collect
 * their edits here and {@link #build()} a new immutable graph.
 */
final class Rewriter {
  private final Graph original;
  final List<Node> nodes;
  final Map<String, Tensor> constants;
  private final Map<String, String> replaced = new HashMap<>();
  private String output;

  Rewriter(Graph g) {
    this.original = g;
    this.nodes = new ArrayList<>(g.nodes());
    this.constants = new LinkedHashMap<>(g.constants());
    this.output = g.output();
  }

  boolean hasWeights() {
    return original.hasWeights() && !original.constNodes().isEmpty();
  }

  /** The current node of that name, or null when it is gone. */
  Node find(String name) {
    for (Node n : nodes) if (n.name().equals(name)) return n;
    return null;
  }

  Node node(String name) {
    for (Node n : nodes) if (n.name().equals(name)) return n;
    throw new IllegalStateException("no node " + name);
  }

  /** Users of a value, counting the graph output as one. */
  int uses(String value) {
    int u = value.equals(output) ? 1 : 0;
    for (Node n : nodes) for (String in : n.inputs()) if (in.equals(value)) u++;
    return u;
  }

  List<Node> users(String value) {
    return nodes.stream().filter(n -> n.inputs().contains(value)).toList();
  }

  float[] data(String constName) {
    Tensor t = constants.get(constName);
    return t == null ? null : t.data();
  }

  boolean isConst(String value) {
    return node(value).op() instanceof Op.Const;
  }

  /** Declares a constant just before node {@code before}; data may be null on weightless graphs. */
  String addConst(String name, TensorType type, float[] data, String before, String origin) {
    String unique = name;
    for (int i = 2; exists(unique); i++) unique = name + "." + i;
    nodes.add(indexOf(before), new Node(unique, new Op.Const(), List.of(), type, origin));
    if (data != null) constants.put(unique, new Tensor(type, data));
    return unique;
  }

  private boolean exists(String name) {
    return nodes.stream().anyMatch(n -> n.name().equals(name));
  }

  int indexOf(String name) {
    for (int i = 0; i < nodes.size(); i++) if (nodes.get(i).name().equals(name)) return i;
    throw new IllegalStateException("no node " + name);
  }

  void replaceNode(Node old, Node updated) {
    nodes.set(indexOf(old.name()), updated);
  }

  /** Removes {@code dead} and makes every user of it read {@code by} instead. */
  void replaceAllUses(String dead, String by) {
    nodes.removeIf(n -> n.name().equals(dead));
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      if (n.inputs().contains(dead)) nodes.set(i, n.withInputs(n.inputs().stream().map(s -> s.equals(dead) ? by : s).toList()));
    }
    if (output.equals(dead)) output = by;
    replaced.put(dead, by);
  }

  void remove(String name) {
    nodes.removeIf(n -> n.name().equals(name));
    constants.remove(name);
  }

  Graph build() {
    constants.keySet().retainAll(nodes.stream().filter(n -> n.op() instanceof Op.Const).map(Node::name).toList());
    return new Graph(original.name(), nodes, output, constants);
  }

  String output() {
    return output;
  }
}
