package resnetc;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import resnetc.check.Checker;
import resnetc.check.Model;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.TensorType;
import resnetc.lower.LowerToIr;
import resnetc.onnx.OnnxImport;
import resnetc.onnx.OnnxImportException;
import resnetc.parse.SpecParser;
import resnetc.weights.WeightBinder;
import resnetc.weights.WeightFile;

/** The front half of the pipeline: spec file (or ONNX file) to checked model to IR, and weights bound to the IR. */
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

  /**
   * A spec (parse, check, lower; throws {@link resnetc.diag.SpecException} with every diagnostic), or an ONNX file
   * ({@code .onnx}: imported with its weights, see {@link #load(Path, String)}).
   */
  public static Loaded load(Path file) {
    return load(file, null);
  }

  /**
   * {@link #load(Path)}, with the preprocessing an ONNX file does not carry: {@code preprocess} is the body of a
   * spec's preprocess section ({@code "scale 1/255 mean [..] std [..]"}), or null. A spec states its own.
   */
  public static Loaded load(Path file, String preprocess) {
    if (isOnnx(file)) return loadOnnx(file, preprocess);
    if (preprocess != null) throw new IllegalArgumentException(file + " is a spec: state the preprocessing in its preprocess section");
    Model m = Checker.check(SpecParser.parse(file));
    return new Loaded(file, m, LowerToIr.lower(m));
  }

  public static boolean isOnnx(Path file) {
    return file.getFileName() != null && file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".onnx");
  }

  /**
   * An ONNX model as a loaded spec: the imported graph with its weights bound, and what the file says about the
   * model (name from the file name, input shape, classes; no labels). Its preprocessing is the input
   * normalization the graph starts with (a resnetc export's Div/Sub/Div), or {@code preprocess}, added to the
   * graph as a spec's would be; an ONNX file carries no resize or crop.
   */
  private static Loaded loadOnnx(Path file, String preprocess) {
    String base = file.getFileName().toString();
    String name = base.substring(0, base.length() - ".onnx".length());
    Graph g = OnnxImport.read(file, name.isEmpty() ? "model" : name);
    TensorType in = g.input().type();
    if (in.rank() != 4) {
      throw new OnnxImportException(base + ": input " + in + " is not a batch of images [N, C, H, W]; the CLI compiles image models");
    }
    Model.Input input = new Model.Input(in.dim(1), in.dim(2), in.dim(3));
    Node norm = g.nodes().stream().filter(n -> n.op() instanceof Op.Normalize).findFirst().orElse(null);
    Model.Preprocess pre = null;
    if (norm != null) {
      if (preprocess != null) {
        throw new IllegalArgumentException(base + " normalizes its input itself (Div/Sub/Div at the input); --preprocess would normalize twice");
      }
      Op.Normalize o = (Op.Normalize) norm.op();
      pre = new Model.Preprocess(1.0 / o.div(), doubles(o.mean()), doubles(o.std()), 0, 0);
    } else if (preprocess != null) {
      String origin = "--preprocess";
      pre = Checker.preprocess(origin, SpecParser.preprocessSource(preprocess), SpecParser.parsePreprocess(origin, preprocess), input);
      g = withPreprocess(g, pre);
    }
    Model m = new Model(g.name(), file.toString(), null, input, pre, (int) g.outputType().elementsPerItem(), 1e-5, null,
        List.of(), List.of(), List.of(), new Model.Weights(Model.Convention.TORCHVISION, "", java.util.Map.of(), null), false);
    return new Loaded(file, m, g);
  }

  private static double[] doubles(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }

  /** The graph with an input normalization first, as {@link LowerToIr} builds a spec's. */
  private static Graph withPreprocess(Graph g, Model.Preprocess p) {
    Node input = g.input();
    String norm = "normalize";
    for (int i = 2; g.find(norm).isPresent(); i++) norm = "normalize_" + i;
    float[] mean = new float[p.mean().length], std = new float[p.std().length];
    for (int i = 0; i < mean.length; i++) {
      mean[i] = (float) p.mean()[i];
      std[i] = (float) p.std()[i];
    }
    String normalized = norm;
    List<Node> nodes = new ArrayList<>();
    for (Node n : g.nodes()) {
      if (n == input) {
        nodes.add(n);
        nodes.add(new Node(norm, new Op.Normalize((float) (1 / p.scale()), mean, std), List.of(input.name()), input.type(), "--preprocess"));
      } else {
        nodes.add(n.withInputs(n.inputs().stream().map(s -> s.equals(input.name()) ? normalized : s).toList()));
      }
    }
    return g.withNodes(nodes, g.output().equals(input.name()) ? norm : g.output());
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
