package resnetc.recover;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import resnetc.check.Checker;
import resnetc.check.Model;
import resnetc.diag.SpecException;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.lower.LowerToIr;
import resnetc.parse.SpecParser;

/**
 * A graph (typically an imported ONNX model, unoptimized, with its weights) back to a spec: when it is a
 * ResNet-family network, the spec that describes it (input normalization, stem, stages of basic or bottleneck
 * blocks, pre-activation or not, shortcut kinds, head, batch norms folded or not, bn epsilon) and the weights
 * named as that spec names them.
 *
 * <p>Exact by construction: the spec is lowered again and matched node for node against the graph (every op,
 * attribute and type, the operands of each add in either order), and the weights are the graph's constants
 * under the spec's names, so spec plus weights is the same graph and computes the same bits. A graph the
 * language cannot describe is a {@link NotAResNet} that says which part did not match; it still compiles as is.
 */
public final class SpecRecovery {
  private SpecRecovery() {}

  /** The spec text and its weights (spec names, in the spec's order). */
  public record Recovered(String spec, Map<String, Tensor> weights, Model model) {}

  /** The graph is not a network the spec language describes; the message names the part that did not match. */
  public static final class NotAResNet extends IllegalArgumentException {
    NotAResNet(String message) {
      super(message);
    }
  }

  /**
   * @param g the graph with its weights
   * @param specFile the name the spec will have (diagnostics, origins)
   * @param weightsFile written as the spec's {@code weights { file "..." }}, relative to the spec; null for none
   * @param header comment lines for the top of the spec (without '#'), e.g. where it came from
   */
  public static Recovered recover(Graph g, String specFile, String weightsFile, List<String> header) {
    if (!g.hasWeights() || g.constants().isEmpty()) throw new IllegalArgumentException("graph " + g.name() + " has no weights to recover");
    Structure s = new Analysis(g).run();
    String text = s.text(g, weightsFile, header);
    Model m;
    Graph lowered;
    try {
      m = Checker.check(SpecParser.parse(specFile, text));
      lowered = LowerToIr.lower(m);
    } catch (SpecException e) {
      throw new IllegalStateException("the recovered spec does not check:\n" + e.render() + "\n" + text, e);
    }
    Map<String, String> map = new Matcher(lowered, g).run();
    Map<String, Tensor> weights = new LinkedHashMap<>();
    for (Node c : lowered.constNodes()) weights.put(c.name(), g.constants().get(map.get(c.name())));
    return new Recovered(text, weights, m);
  }

  // ---- what the analysis finds ----

  private record Conv(Op.Conv2d op, int out, boolean bias, String name) {}

  private sealed interface Layer permits StemConv, Bn, Relu, MaxPool, AvgPool {}

  private record StemConv(Conv c) implements Layer {}

  private record Bn() implements Layer {}

  private record Relu() implements Layer {}

  private record MaxPool(Op.MaxPool op) implements Layer {}

  private record AvgPool(Op.AvgPool op) implements Layer {}

  private enum ShortcutKind { IDENTITY, A, PROJECTION, D }

  /** @param before/after option A's zero channels; @param stride the subsample or projection stride */
  private record Shortcut(ShortcutKind kind, int stride, int before, int after) {}

  /**
   * A block as the spec sees it: the options of a {@code block} item and the stage it belongs to.
   * {@code strideOn3x3} is null for a bottleneck without stride, where either placement gives the same graph.
   */
  private record Block(boolean bottleneck, boolean preact, int stride, Boolean strideOn3x3, int width, int out, int groups,
                       Shortcut shortcut, int in, String where) {
    boolean changes() {
      return stride != 1 || in != out;
    }

    /** The block options that must agree within a stage (stride_on aside, which only strided blocks show). */
    String options() {
      return options(null);
    }

    /**
     * The options of a {@code block} item, with {@code on3x3} where the block itself does not say; without
     * {@code stride_on} when {@code on3x3} is null.
     */
    String options(Boolean on3x3) {
      if (!bottleneck) return "basic" + (preact ? " preact" : "");
      int[] e = bottleneckOptions(width, out, groups);
      if (e == null) return null;
      boolean on = strideOn3x3 != null ? strideOn3x3 : on3x3 == null || on3x3;
      return "bottleneck" + (e[0] != 4 ? " expansion " + e[0] : "") + (on || on3x3 == null ? "" : " stride_on 1x1")
          + (groups != 1 ? " groups " + groups : "") + (e[1] != 64 ? " width_per_group " + e[1] : "") + (preact ? " preact" : "");
    }

    int planes() {
      return bottleneck ? out / bottleneckOptions(width, out, groups)[0] : out;
    }
  }

  /**
   * Expansion and width per group that give a bottleneck of {@code width} inner channels (in {@code groups}) and
   * {@code out} output channels, as the checker computes them: {@code width = (planes * wpg / 64) * groups},
   * {@code out = planes * expansion}. torchvision's values first (expansion 4, width per group 64).
   */
  static int[] bottleneckOptions(int width, int out, int groups) {
    if (width % groups != 0) return null;
    int perGroup = width / groups;
    List<Integer> expansions = new ArrayList<>(List.of(4));
    for (int e = 1; e <= out; e++) if (e != 4 && out % e == 0) expansions.add(e);
    for (int e : expansions) {
      if (out % e != 0) continue;
      long planes = out / e;
      for (long wpg : new long[] {64, Math.ceilDiv(64L * perGroup, planes)}) {
        if (wpg >= 1 && wpg <= 1 << 20 && planes * wpg / 64 == perGroup) return new int[] {e, (int) wpg};
      }
    }
    return null;
  }

  private record Stage(List<Block> blocks) {}

  private record Structure(String name, TensorType input, Op.Normalize normalize, List<Layer> stem, List<Stage> stages,
                           List<String> head, boolean folded, Float eps, boolean cifarNaming) {
    String text(Graph g, String weightsFile, List<String> header) {
      StringBuilder sb = new StringBuilder();
      for (String h : header) sb.append("# ").append(h).append('\n');
      sb.append("model ").append(name).append(" {\n");
      sb.append("  input f32 [").append(input.dim(1)).append(", ").append(input.dim(2)).append(", ").append(input.dim(3)).append("]\n");
      if (normalize != null) {
        sb.append("  preprocess { scale 1/").append(number(normalize.div())).append("  mean ").append(list(normalize.mean()))
            .append("  std ").append(list(normalize.std())).append(" }\n");
      }
      sb.append("  classes ").append(g.outputType().dim(1)).append('\n');
      if (folded) sb.append("  bn folded                  # batch norms folded into the convs' biases\n");
      if (eps != null && eps != 1e-5f) sb.append("  bn_eps ").append(Float.toString(eps)).append('\n');
      sb.append('\n');
      sb.append("  stem { ").append(String.join("  ", stem.stream().map(this::layer).toList())).append(" }\n\n");

      // the most common block options and shortcut become the defaults, the others stage overrides
      Map<String, Integer> blockVotes = new LinkedHashMap<>(), shortcutVotes = new LinkedHashMap<>();
      // stride_on as the blocks with a stride say (all of them agree in the networks the language describes)
      boolean on3x3 = stages.stream().flatMap(s -> s.blocks().stream()).map(Block::strideOn3x3).filter(java.util.Objects::nonNull)
          .findFirst().orElse(true);
      for (Stage s : stages) {
        blockVotes.merge(s.blocks().get(0).options(stageOn3x3(s, on3x3)), 1, Integer::sum);
        String sc = shortcut(s);
        if (sc != null) shortcutVotes.merge(sc, 1, Integer::sum);
      }
      String block = top(blockVotes), shortcut = shortcutVotes.isEmpty() ? "identity" : top(shortcutVotes);
      sb.append("  block ").append(block).append('\n');
      sb.append("  shortcut ").append(shortcut).append('\n').append('\n');
      for (int i = 0; i < stages.size(); i++) {
        Stage s = stages.get(i);
        Block b = s.blocks().get(0);
        sb.append("  stage layer").append(i + 1).append(' ').append(s.blocks().size()).append(" x ").append(b.planes());
        if (b.stride() != 1) sb.append(" stride ").append(b.stride());
        List<String> overrides = new ArrayList<>();
        String options = b.options(stageOn3x3(s, on3x3));
        if (!options.equals(block)) overrides.add("block " + options);
        String sc = shortcut(s);
        if (sc == null ? shortcut.equals("C") : !sc.equals(shortcut)) overrides.add("shortcut " + (sc == null ? "identity" : sc));
        if (!overrides.isEmpty()) sb.append(" { ").append(String.join("  ", overrides)).append(" }");
        sb.append('\n');
      }
      sb.append('\n');
      sb.append("  head { ").append(String.join("  ", head)).append(" }\n");
      sb.append("  weights ").append(cifarNaming ? "cifar" : "torchvision");
      if (weightsFile != null) sb.append(" { file \"").append(weightsFile.replace("\\", "\\\\").replace("\"", "\\\"")).append("\" }");
      sb.append('\n').append("}\n");
      return sb.toString();
    }

    private static boolean stageOn3x3(Stage s, boolean dflt) {
      return s.blocks().stream().map(Block::strideOn3x3).filter(java.util.Objects::nonNull).findFirst().orElse(dflt);
    }

    /** The stage's shortcut kind, or null when any kind but C gives it (identity blocks only). */
    private static String shortcut(Stage s) {
      boolean allProjected = s.blocks().stream().allMatch(b -> b.shortcut().kind() == ShortcutKind.PROJECTION);
      Block first = s.blocks().get(0);
      if (allProjected && (s.blocks().size() > 1 || !first.changes())) return "C";
      return switch (first.shortcut().kind()) {
        case IDENTITY -> null;
        case A -> first.shortcut().before() == 0 ? "A end" : "A split";
        case PROJECTION -> "B";
        case D -> "D";
      };
    }

    private static String top(Map<String, Integer> votes) {
      return votes.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
    }

    private String layer(Layer l) {
      return switch (l) {
        case StemConv sc -> {
          Op.Conv2d c = sc.c().op();
          yield "conv " + c.kernel() + "x" + c.kernel() + " " + sc.c().out() + " stride " + c.stride() + " pad " + c.pad()
              + (sc.c().bias() ? folded ? "  bn" : " bias" : "");
        }
        case Bn b -> "bn";
        case Relu r -> "relu";
        case MaxPool p -> "maxpool " + p.op().kernel() + "x" + p.op().kernel() + " stride " + p.op().stride() + " pad " + p.op().pad();
        case AvgPool p -> "avgpool " + p.op().kernel() + "x" + p.op().kernel() + " stride " + p.op().stride() + " pad " + p.op().pad();
      };
    }

    private static String number(float f) {
      return f == Math.rint(f) && Math.abs(f) < 1e7 ? Long.toString((long) f) : Float.toString(f);
    }

    private static String list(float[] v) {
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < v.length; i++) sb.append(i > 0 ? ", " : "").append(Float.toString(v[i]));
      return sb.append(']').toString();
    }
  }

  /**
   * The op in a form where equal means the same computation on input {@code in}: an average pool in ceil mode
   * whose output size rounding down also gives has the same windows without it (exporters write it either way).
   */
  public static Op canonical(Op op, TensorType in) {
    if (op instanceof Op.AvgPool a && a.ceil() && in != null) {
      Op.AvgPool floor = new Op.AvgPool(a.kernel(), a.stride(), a.pad(), false, a.countPad());
      try {
        if (floor.infer(List.of(in)).equals(a.infer(List.of(in)))) return floor;
      } catch (resnetc.ir.IrException e) {
        return op; // the window does not fit: left for the verifier to report
      }
    }
    return op;
  }

  // ---- the analysis: input, stem, residual blocks, head ----

  private static final class Analysis {
    private final Graph g;
    private final Map<String, List<Node>> users = new HashMap<>();

    Analysis(Graph g) {
      this.g = g;
      for (Node n : g.nodes()) for (String in : n.inputs()) users.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
    }

    private List<Node> users(String v) {
      return users.getOrDefault(v, List.of());
    }

    private Node node(String v) {
      return g.node(v);
    }

    private static NotAResNet fail(String part, String why) {
      return new NotAResNet(part + ": " + why);
    }

    Structure run() {
      Node in = g.input();
      if (in.type().rank() != 4) throw fail("input", "a spec's input is an image batch [N, C, H, W], not " + in.type());
      String x = in.name();
      Op.Normalize normalize = null;
      List<Node> first = users(x);
      if (first.size() == 1 && first.get(0).op() instanceof Op.Normalize n) {
        normalize = n;
        x = first.get(0).name();
      }
      List<Node> adds = g.nodes().stream().filter(n -> n.op() instanceof Op.Add).toList();
      if (adds.isEmpty()) throw fail("blocks", "the graph adds no residuals (no add), so it is not a ResNet");
      boolean preact = !(users(adds.get(0).name()).size() == 1 && users(adds.get(0).name()).get(0).op() instanceof Op.Relu);
      Boolean folded = null;
      Set<Float> eps = new HashSet<>();
      for (Node n : g.nodes()) if (n.op() instanceof Op.BatchNorm b) eps.add(b.eps());
      if (eps.size() > 1) throw fail("batch norms", "epsilons " + eps + " differ; a spec has one bn_eps");

      // the blocks, each from the previous block's output
      String t0 = blockInput(adds.get(0), preact);
      List<Block> blocks = new ArrayList<>();
      String t = t0;
      for (int i = 0; i < adds.size(); i++) {
        Node add = adds.get(i);
        String where = "block " + i + " (%" + add.name() + ")";
        BlockParse p = block(add, t, preact, where);
        if (folded == null) folded = p.folded;
        else if (folded != p.folded) throw fail(where, "its batch norms are " + (p.folded ? "" : "not ") + "folded into its convs, unlike the blocks before it");
        blocks.add(p.block);
        t = preact ? add.name() : users(add.name()).get(0).name();
      }
      List<Layer> stem = stem(x, t0, folded);
      List<String> head = head(t, folded);
      List<Stage> stages = stages(blocks);
      boolean cifarNaming = g.nodes().stream().anyMatch(n -> n.op() instanceof Op.Dense && n.name().equals("linear"));
      String name = g.name().replaceAll("[^A-Za-z0-9_.]", "_");
      if (name.isEmpty() || !Character.isLetter(name.charAt(0)) && name.charAt(0) != '_') name = "m" + name;
      return new Structure(name, in.type(), normalize, stem, stages, head, folded, eps.isEmpty() ? null : eps.iterator().next(), cifarNaming);
    }

    /** The value both operands of a block's add come from (for pre-activation projections: before the bn-relu). */
    private String blockInput(Node add, boolean preact) {
      List<String> a = path(add.input(0)), b = path(add.input(1));
      Set<String> inB = new HashSet<>(b);
      String meet = a.stream().filter(inB::contains).findFirst()
          .orElseThrow(() -> fail("block 0 (%" + add.name() + ")", "its operands do not come from one block input"));
      if (preact && !meet.equals(add.input(0)) && !meet.equals(add.input(1))) {
        Node relu = node(meet);
        if (relu.op() instanceof Op.Relu && node(relu.input(0)).op() instanceof Op.BatchNorm) return node(relu.input(0)).input(0);
      }
      return meet;
    }

    /** The value and its ancestors along first operands, nearest first. */
    private List<String> path(String v) {
      List<String> p = new ArrayList<>();
      for (String cur = v; ; ) {
        p.add(cur);
        Node n = node(cur);
        if (n.inputs().isEmpty()) return p;
        cur = n.input(0);
      }
    }

    /** The nodes from {@code from} (exclusive) to {@code to} (inclusive) along first operands, or null. */
    private List<Node> chain(String from, String to) {
      List<Node> out = new ArrayList<>();
      for (String cur = to; !cur.equals(from); ) {
        Node n = node(cur);
        if (n.inputs().isEmpty() || n.op() instanceof Op.Add) return null;
        out.addFirst(n);
        cur = n.input(0);
      }
      return out;
    }

    private record BlockParse(Block block, boolean folded) {}

    private BlockParse block(Node add, String in, boolean preact, String where) {
      if (preact == (users(add.name()).size() == 1 && users(add.name()).get(0).op() instanceof Op.Relu)) {
        throw fail(where, preact ? "a relu follows the add, unlike the pre-activation blocks before it" : "no relu follows the add, unlike the blocks before it");
      }
      List<Node> c0 = chain(in, add.input(0)), c1 = chain(in, add.input(1));
      if (c0 == null || c1 == null) throw fail(where, "its operands do not both come from the block input %" + in);
      long convs0 = c0.stream().filter(n -> n.op() instanceof Op.Conv2d).count(), convs1 = c1.stream().filter(n -> n.op() instanceof Op.Conv2d).count();
      if ((convs0 >= 2) == (convs1 >= 2)) throw fail(where, "cannot tell the residual branch (2 or 3 convs) from the shortcut");
      List<Node> main = convs0 >= 2 ? c0 : c1, side = convs0 >= 2 ? c1 : c0;
      int inC = node(in).type().dim(1);

      // residual branch: [bn relu] conv [bn] relu conv [bn] (relu conv [bn])
      List<Node> rest = new ArrayList<>(main);
      if (preact) {
        expect(rest, Op.BatchNorm.class, where, "a pre-activation block starts with bn");
        expect(rest, Op.Relu.class, where, "a pre-activation block starts with bn, relu");
      }
      List<Node> convs = new ArrayList<>();
      Boolean folded = null;
      while (!rest.isEmpty()) {
        Node c = expect(rest, Op.Conv2d.class, where, "expected a conv");
        convs.add(c);
        boolean bn = !rest.isEmpty() && rest.get(0).op() instanceof Op.BatchNorm;
        if (bn) rest.removeFirst();
        boolean last = rest.isEmpty();
        if (!(preact && last)) {
          boolean f = !bn;
          if (f && c.inputs().size() < 3) throw fail(where, "%" + c.name() + " has neither a batch norm after it nor a bias holding a folded one");
          if (!f && c.inputs().size() == 3) throw fail(where, "%" + c.name() + " has a bias and a batch norm; a spec's block convs have no bias");
          if (folded != null && folded != f) throw fail(where, "batch norms follow some of its convs but not others");
          folded = f;
        } else if (bn || c.inputs().size() == 3) {
          throw fail(where, "the last conv of a pre-activation block has " + (bn ? "a batch norm" : "a bias") + " after it");
        }
        if (!last) expect(rest, Op.Relu.class, where, "expected a relu after %" + c.name());
      }
      if (folded == null) folded = false;
      if (preact && folded) throw fail(where, "a pre-activation block with batch norms folded into its convs cannot be written as a spec");
      if (convs.size() != 2 && convs.size() != 3) throw fail(where, "its residual branch has " + convs.size() + " convs; a basic block has 2, a bottleneck 3");
      boolean bottleneck = convs.size() == 3;
      Op.Conv2d[] ops = convs.stream().map(n -> (Op.Conv2d) n.op()).toArray(Op.Conv2d[]::new);
      int[] outs = convs.stream().mapToInt(n -> n.type().dim(1)).toArray();
      int stride;
      Boolean on3x3 = null;
      int groups = 1;
      if (!bottleneck) {
        requireConv(ops[0], 3, 1, 1, where, "conv1 of a basic block");
        requireConv(ops[1], 3, 1, 1, where, "conv2 of a basic block");
        if (ops[1].stride() != 1) throw fail(where, "conv2 of a basic block has stride " + ops[1].stride());
        if (outs[0] != outs[1]) throw fail(where, "a basic block's convs have " + outs[0] + " and " + outs[1] + " channels; a spec's have one width");
        stride = ops[0].stride();
      } else {
        requireConv(ops[0], 1, 0, 1, where, "conv1 of a bottleneck");
        requireConv(ops[1], 3, 1, ops[1].groups(), where, "conv2 of a bottleneck");
        requireConv(ops[2], 1, 0, 1, where, "conv3 of a bottleneck");
        if (ops[2].stride() != 1 || (ops[0].stride() != 1 && ops[1].stride() != 1)) throw fail(where, "the bottleneck's strides are not on its first 1x1 or its 3x3 alone");
        if (outs[0] != outs[1]) throw fail(where, "the bottleneck's inner convs have " + outs[0] + " and " + outs[1] + " channels");
        stride = Math.max(ops[0].stride(), ops[1].stride());
        if (stride != 1) on3x3 = ops[0].stride() == 1;
        groups = ops[1].groups();
        if (bottleneckOptions(outs[0], outs[2], groups) == null) {
          throw fail(where, "no expansion and width_per_group give " + outs[0] + " inner and " + outs[2] + " output channels in " + groups + " groups");
        }
      }
      int out = outs[outs.length - 1];
      Shortcut sc = shortcut(side, preact, folded, stride, inC, out, where);
      return new BlockParse(new Block(bottleneck, preact, stride, on3x3, outs[0], out, groups, sc, inC, where), folded);
    }

    private void requireConv(Op.Conv2d c, int k, int pad, int groups, String where, String what) {
      if (c.kernel() != k || c.pad() != pad || c.groups() != groups) {
        throw fail(where, what + " is " + c.kernel() + "x" + c.kernel() + " pad " + c.pad() + (c.groups() != 1 ? " groups " + c.groups() : "")
            + "; a spec's is " + k + "x" + k + " pad " + pad);
      }
    }

    private static Node expect(List<Node> rest, Class<? extends Op> op, String where, String why) {
      if (rest.isEmpty() || !op.isInstance(rest.get(0).op())) {
        throw fail(where, why + (rest.isEmpty() ? ", found the end of the branch" : ", found %" + rest.get(0).name() + " (" + rest.get(0).op().mnemonic() + ")"));
      }
      return rest.removeFirst();
    }

    /** Identity, option A (subsample_pad), projection (1x1 conv [bn]), or option D (avg pool, then projection). */
    private Shortcut shortcut(List<Node> side, boolean preact, boolean folded, int stride, int inC, int out, String where) {
      List<Node> rest = new ArrayList<>(side);
      if (preact && !rest.isEmpty() && rest.get(0).op() instanceof Op.BatchNorm) {
        // a pre-activation projection reads the activated input: the block's own bn-relu
        rest.removeFirst();
        expect(rest, Op.Relu.class, where, "the shortcut reads the block's bn but not its relu");
      }
      if (rest.isEmpty()) return new Shortcut(ShortcutKind.IDENTITY, 1, 0, 0);
      Node first = rest.get(0);
      if (first.op() instanceof Op.SubsamplePad p && rest.size() == 1) {
        if (p.stride() != stride) throw fail(where, "the option-A shortcut subsamples by " + p.stride() + " but the block strides by " + stride);
        return new Shortcut(ShortcutKind.A, p.stride(), p.before(), p.after());
      }
      boolean pooled = first.op() instanceof Op.AvgPool;
      if (pooled) {
        Node pool = rest.removeFirst();
        TensorType in = node(pool.input(0)).type();
        Op.AvgPool a = (Op.AvgPool) pool.op();
        if (!canonical(a, in).equals(canonical(new Op.AvgPool(stride, stride, 0, true, false), in))) {
          throw fail(where, "the shortcut's avg pool " + a.attrs() + " is not option D's (" + stride + "x" + stride + " stride " + stride + ", ceil mode, padding not counted)");
        }
      }
      Node conv = expect(rest, Op.Conv2d.class, where, "the shortcut is not an identity, option-A subsample, or 1x1 projection");
      Op.Conv2d c = (Op.Conv2d) conv.op();
      int want = pooled ? 1 : stride;
      if (c.kernel() != 1 || c.pad() != 0 || c.groups() != 1 || c.stride() != want) {
        throw fail(where, "the shortcut's conv is " + c.attrs() + "; a projection is 1x1, stride " + want + ", no padding");
      }
      boolean bn = !rest.isEmpty() && rest.get(0).op() instanceof Op.BatchNorm;
      if (bn) rest.removeFirst();
      boolean expectBn = !preact && !folded, expectBias = !preact && folded;
      if (bn != expectBn || (conv.inputs().size() == 3) != expectBias) {
        throw fail(where, "the shortcut's projection has " + (bn ? "a" : "no") + " batch norm and " + (conv.inputs().size() == 3 ? "a" : "no")
            + " bias, unlike the residual branch");
      }
      if (!rest.isEmpty()) throw fail(where, "the shortcut continues after its projection with %" + rest.get(0).name());
      return new Shortcut(pooled ? ShortcutKind.D : ShortcutKind.PROJECTION, stride, 0, 0);
    }

    private List<Layer> stem(String x, String t0, boolean folded) {
      List<Node> chain = chain(x, t0);
      if (chain == null) throw fail("stem", "the first block's input %" + t0 + " is not a chain of layers from the input");
      List<Layer> out = new ArrayList<>();
      for (Node n : chain) {
        if (users(n.input(0)).size() != 1) throw fail("stem", "%" + n.input(0) + " is read by more than the stem");
        out.add(switch (n.op()) {
          case Op.Conv2d c -> {
            if (c.groups() != 1) throw fail("stem", "%" + n.name() + " is a grouped conv; a spec's stem convs are not");
            yield new StemConv(new Conv(c, n.type().dim(1), n.inputs().size() == 3, n.name()));
          }
          case Op.BatchNorm b -> {
            if (folded) throw fail("stem", "%" + n.name() + " is a batch norm, but the blocks' are folded into their convs");
            yield new Bn();
          }
          case Op.Relu r -> new Relu();
          case Op.MaxPool p -> new MaxPool(p);
          case Op.AvgPool p when !p.ceil() && p.countPad() -> new AvgPool(p);
          default -> throw fail("stem", "%" + n.name() + " (" + n.op().mnemonic() + " " + n.op().attrs() + ") is not a stem layer (conv, bn, relu, maxpool, avgpool)");
        });
      }
      if (out.stream().noneMatch(l -> l instanceof StemConv)) throw fail("stem", "it has no conv");
      return out;
    }

    private List<String> head(String t, boolean folded) {
      List<String> out = new ArrayList<>();
      String cur = t;
      boolean pooled = false, fc = false;
      while (!cur.equals(g.output())) {
        List<Node> next = users(cur);
        if (next.size() != 1) throw fail("head", "%" + cur + " is read by " + next.size() + " nodes; a head is a chain");
        Node n = next.get(0);
        Op op = n.op();
        String layer = null;
        if (op instanceof Op.BatchNorm && !pooled && !folded) layer = "bn";
        else if (op instanceof Op.Relu && !pooled) layer = "relu";
        else if (op instanceof Op.GlobalAvgPool && !pooled) layer = "avgpool";
        else if (op instanceof Op.Dense && pooled && !fc) layer = n.inputs().size() == 3 ? "fc" : "fc nobias";
        else if (op instanceof Op.Softmax && fc) layer = "softmax";
        if (layer == null) {
          throw fail("head", "expected [bn relu] avgpool fc [softmax] after the last block, found %" + n.name() + " (" + op.mnemonic() + ")");
        }
        pooled |= layer.equals("avgpool");
        fc |= layer.startsWith("fc");
        out.add(layer);
        cur = n.name();
      }
      if (!fc) throw fail("head", "the graph ends before a global avgpool and fc");
      return out;
    }

    /** Consecutive blocks of one width, stride 1 and shape-preserving after the first, are a stage. */
    private static List<Stage> stages(List<Block> blocks) {
      List<Stage> stages = new ArrayList<>();
      List<Block> cur = new ArrayList<>();
      for (Block b : blocks) {
        if (b.options() == null) throw fail(b.where(), "its widths have no bottleneck options");
        boolean starts = cur.isEmpty() || b.changes() || !b.options().equals(cur.get(0).options()) || b.out() != cur.get(0).out();
        if (starts && !cur.isEmpty()) {
          stages.add(new Stage(cur));
          cur = new ArrayList<>();
        }
        cur.add(b);
      }
      stages.add(new Stage(cur));
      for (Stage s : stages) {
        Block first = s.blocks().get(0);
        // after the first block a stage's shortcuts are identities (A, B, D), or every block projects (C)
        boolean later = s.blocks().stream().skip(1).anyMatch(b -> b.shortcut().kind() != ShortcutKind.IDENTITY);
        boolean all = s.blocks().stream().allMatch(b -> b.shortcut().kind() == ShortcutKind.PROJECTION);
        if (later && !all) {
          Block odd = s.blocks().stream().skip(1).filter(b -> b.shortcut().kind() != ShortcutKind.IDENTITY).findFirst().orElseThrow();
          throw fail(odd.where(), "its " + odd.shortcut().kind().name().toLowerCase(Locale.ROOT)
              + " shortcut keeps the shape, but not every block of its stage projects (as with shortcut C)");
        }
        if (!first.changes() && first.shortcut().kind() != ShortcutKind.IDENTITY && first.shortcut().kind() != ShortcutKind.PROJECTION) {
          throw fail(first.where(), "a " + first.shortcut().kind() + " shortcut on a block that keeps its shape");
        }
        if (first.changes() && first.shortcut().kind() == ShortcutKind.IDENTITY) {
          throw fail(first.where(), "an identity shortcut on a block that changes its shape");
        }
      }
      return stages;
    }
  }

  // ---- the proof: the spec's graph is the imported one ----

  /** Maps every node of the spec's graph to one of the imported graph, same op, attributes and type. */
  private static final class Matcher {
    private final Graph spec, graph;
    private final Map<String, String> map = new HashMap<>(), reverse = new HashMap<>();
    private final List<String> log = new ArrayList<>();
    private String mismatch = "";

    Matcher(Graph spec, Graph graph) {
      this.spec = spec;
      this.graph = graph;
    }

    Map<String, String> run() {
      if (!match(spec.output(), graph.output())) {
        throw new IllegalStateException("the recovered spec does not reproduce the graph: " + mismatch);
      }
      for (Node n : graph.nodes()) {
        if (!reverse.containsKey(n.name())) throw new IllegalStateException("the recovered spec does not compute %" + n.name() + " of the graph");
      }
      if (map.size() != spec.nodes().size()) throw new IllegalStateException("the recovered spec computes more than the graph");
      return map;
    }

    private boolean match(String a, String b) {
      String known = map.get(a);
      if (known != null) return known.equals(b);
      if (reverse.containsKey(b)) return false;
      Node x = spec.node(a), y = graph.node(b);
      if (!canonical(x.op(), inputType(spec, x)).equals(canonical(y.op(), inputType(graph, y))) || !x.type().equals(y.type()) || x.inputs().size() != y.inputs().size()) {
        mismatch = "spec %" + a + " (" + resnetc.ir.Printer.line(x) + ") against %" + b + " (" + resnetc.ir.Printer.line(y) + ")";
        return false;
      }
      map.put(a, b);
      reverse.put(b, a);
      log.add(a);
      if (x.op() instanceof Op.Add) {
        int mark = log.size();
        if (match(x.input(0), y.input(0)) && match(x.input(1), y.input(1))) return true;
        undo(mark);
        return match(x.input(0), y.input(1)) && match(x.input(1), y.input(0));
      }
      for (int i = 0; i < x.inputs().size(); i++) if (!match(x.input(i), y.input(i))) return false;
      return true;
    }

    private static TensorType inputType(Graph g, Node n) {
      return n.inputs().isEmpty() ? null : g.node(n.input(0)).type();
    }

    private void undo(int mark) {
      while (log.size() > mark) reverse.remove(map.remove(log.removeLast()));
    }
  }
}
