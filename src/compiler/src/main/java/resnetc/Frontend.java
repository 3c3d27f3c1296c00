package resnetc;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import resnetc.check.Checker;
import resnetc.check.Model;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.lower.LowerToIr;
import resnetc.parse.SpecParser;
import resnetc.weights.WeightBinder;
import resnetc.weights.WeightFile;

/** The front half of the pipeline: spec file to checked model to IR, and weights bound to the IR. */
public final class Frontend {
  private Frontend() {}

  /** A spec that parsed, checked and lowered: its model and its (weightless) graph. */
  public record Loaded(Path spec, Model model, Graph graph) {
    /** The weights file the spec names, resolved against the spec's directory, or null. */
    public Path specWeights() {
      String f = model.weights().file();
      if (f == null) return null;
      Path dir = spec.toAbsolutePath().getParent();
      return dir == null ? Path.of(f) : dir.resolve(f);
    }
  }

  /** Parse, check, lower; throws {@link resnetc.diag.SpecException} with every diagnostic. */
  public static Loaded load(Path spec) {
    Model m = Checker.check(SpecParser.parse(spec));
    return new Loaded(spec, m, LowerToIr.lower(m));
  }

  public static Loaded load(String file, String source) {
    Model m = Checker.check(SpecParser.parse(file, source));
    return new Loaded(Path.of(file), m, LowerToIr.lower(m));
  }

  /**
   * The graph with the weights of a safetensors file or a PyTorch checkpoint ({@code model.pth}, or
   * {@code model.pth#key} for the state dict under {@code key}), told apart by content; every mismatch is reported
   * at once, non-finite values too.
   */
  public static Graph bind(Loaded l, Path weights) {
    return bind(l, weights, false);
  }

  /** {@link #bind(Loaded, Path)}, loading tensors with NaN or infinite values when {@code allowNonFinite}. */
  public static Graph bind(Loaded l, Path weights, boolean allowNonFinite) {
    try (WeightFile file = WeightFile.open(weights)) {
      return l.graph().withConstants(WeightBinder.bind(LowerToIr.parameters(l.graph()), file, l.model().weights().prefix(), allowNonFinite));
    }
  }

  /** The graph without its input normalization, for inputs that are already preprocessed. */
  public static Graph withoutPreprocess(Graph g) {
    Node norm = g.nodes().stream().filter(n -> n.op() instanceof Op.Normalize).findFirst().orElse(null);
    if (norm == null) return g;
    String in = norm.input(0);
    List<Node> nodes = new ArrayList<>();
    for (Node n : g.nodes()) {
      if (n == norm) continue;
      nodes.add(n.withInputs(n.inputs().stream().map(s -> s.equals(norm.name()) ? in : s).toList()));
    }
    return g.withNodes(nodes, g.output().equals(norm.name()) ? in : g.output());
  }
}
