package resnetc.passes;

import resnetc.ir.Graph;

/**
 * One graph-to-graph transformation. A pass must be exact up to float rounding, or not fire. It works on graphs
 * with or without weights: it declares the constants it creates and computes their data only when bound.
 */
public interface Pass {
  /** The name used in {@code --passes=...} and {@code --dump-ir-after=...}. */
  String name();

  Graph run(Graph g);
}
