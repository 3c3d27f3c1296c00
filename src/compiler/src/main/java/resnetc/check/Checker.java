package resnetc.check;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import resnetc.check.Model.BlockKind;
import resnetc.check.Model.ShortcutKind;
import resnetc.diag.Diagnostic;
import resnetc.diag.SpecException;
import resnetc.parse.Ast;
import resnetc.diag.Pos;

/**
 * Validates a spec and applies defaults, collecting every error with its position. Shape errors (sizes that do
 * not divide, channel counts) need the whole network and are found by {@link resnetc.lower.LowerToIr}.
 */
public final class Checker {
  private final Ast.Spec spec;
  private final List<Diagnostic> errors = new ArrayList<>();

  private Checker(Ast.Spec spec) {
    this.spec = spec;
  }

  /** The checked model, or a {@link SpecException} with every problem found. */
  public static Model check(Ast.Spec spec) {
    Checker c = new Checker(spec);
    Model m = c.model();
    if (!c.errors.isEmpty()) {
      // In file order, whatever order the checks ran in (the sort is stable for errors at one position).
      c.errors.sort(java.util.Comparator.comparingInt((Diagnostic d) -> d.pos().line()).thenComparingInt(d -> d.pos().col()));
      throw new SpecException(c.errors, spec.source());
    }
    return m;
  }

  /**
   * A preprocess section checked on its own for a model with {@code input} (for models without a spec, such as
   * ONNX files); {@code source} is the text it was parsed from ({@link resnetc.parse.SpecParser#preprocessSource}).
   */
  public static Model.Preprocess preprocess(String file, String source, Ast.Preprocess p, Model.Input input) {
    Checker c = new Checker(new Ast.Spec(file, source, "", Pos.NONE, List.of(p)));
    Model.Preprocess checked = c.preprocess(p, input);
    if (!c.errors.isEmpty()) throw new SpecException(c.errors, source);
    return checked;
  }

  private void error(Pos pos, String message) {
    errors.add(new Diagnostic(spec.file(), pos, message));
  }

  private Model model() {
    Map<String, Ast.Item> once = new HashMap<>();
    List<Ast.Stage> stageItems = new ArrayList<>();
    for (Ast.Item item : spec.items()) {
      if (item instanceof Ast.Stage s) {
        stageItems.add(s);
      } else if (once.putIfAbsent(item.keyword(), item) != null) {
        Pos first = once.get(item.keyword()).pos();
        error(item.pos(), "duplicate '" + item.keyword() + "' (first given at line " + first.line() + ")");
      }
    }
    Pos top = spec.pos();
    for (String required : List.of("input", "classes", "stem", "head")) {
      if (!once.containsKey(required)) error(top, "model '" + spec.name() + "' has no '" + required + "' section");
    }
    if (stageItems.isEmpty()) error(top, "model '" + spec.name() + "' has no 'stage'");

    Model.Input input = once.get("input") instanceof Ast.Input in ? input(in) : null;
    // 0 (unknown) when invalid, so the fc is not also compared against a made-up count.
    int classes = once.get("classes") instanceof Ast.Classes c && positive(c.count(), c.pos(), "class count") == c.count() ? c.count() : 0;
    Model.Preprocess pre = once.get("preprocess") instanceof Ast.Preprocess p ? preprocess(p, input) : null;
    double eps = 1e-5;
    if (once.get("bn_eps") instanceof Ast.Eps e) {
      if (!(e.value() > 0 && e.value() < 1)) error(e.pos(), "bn_eps must be in (0, 1), got " + e.value());
      eps = e.value();
    }
    String labels = once.get("labels") instanceof Ast.Labels l ? l.path() : null;
    Model.Block defaultBlock = once.get("block") instanceof Ast.BlockItem b ? block(b.block(), null) : null;
    Model.Shortcut defaultShortcut = once.get("shortcut") instanceof Ast.ShortcutItem s ? shortcut(s.shortcut()) : null;
    List<Model.Layer> stem = once.get("stem") instanceof Ast.Stem s ? layers(s.layers(), "stem", classes) : List.of();
    List<Model.Layer> head = once.get("head") instanceof Ast.Head h ? layers(h.layers(), "head", classes) : List.of();
    if (once.get("head") instanceof Ast.Head h) checkHead(head, h.pos());
    if (once.get("stem") instanceof Ast.Stem s && stem.stream().noneMatch(l -> l instanceof Model.Conv)) {
      error(s.pos(), "the stem needs at least one conv");
    }

    List<Model.Stage> stages = new ArrayList<>();
    Map<String, Pos> stageNames = new HashMap<>();
    for (Ast.Stage s : stageItems) {
      int index = stages.size() + 1;
      String name = s.name() == null ? "layer" + index : s.name().value();
      Pos namePos = s.name() == null ? s.pos() : s.name().pos();
      Pos dup = stageNames.putIfAbsent(name, namePos);
      if (dup != null) error(namePos, "duplicate stage name '" + name + "' (first used at line " + dup.line() + ")");
      stages.add(stage(s, index, name, defaultBlock, once.containsKey("block"), defaultShortcut, once.containsKey("shortcut")));
    }
    Model.Weights weights = once.get("weights") instanceof Ast.Weights w ? weights(w)
        : new Model.Weights(Model.Convention.TORCHVISION, "", Map.of(), null);
    boolean folded = once.get("bn") instanceof Ast.BnMode b && bnFolded(b, stem, stages, head);
    return new Model(spec.name(), spec.file(), spec.source(), input, pre, classes, eps, labels, stem, stages, head, weights, folded);
  }

  /**
   * {@code bn folded}: every bn must follow a conv it can be folded into, which rules out pre-activation blocks
   * (their first bn follows the residual add) and a head bn.
   */
  private boolean bnFolded(Ast.BnMode b, List<Model.Layer> stem, List<Model.Stage> stages, List<Model.Layer> head) {
    if (!b.mode().value().equals("folded")) {
      error(b.mode().pos(), "unknown batch-norm mode '" + b.mode().value() + "' (expected 'folded': the batch norms are folded into the convs)");
      return false;
    }
    stages.stream().filter(s -> s.block() != null && s.block().preact()).findFirst().ifPresent(s -> error(b.pos(),
        "'bn folded' cannot describe the pre-activation blocks of stage '" + s.name() + "': their first bn follows the residual add, not a conv"));
    for (int i = 0; i < stem.size(); i++) {
      if (stem.get(i) instanceof Model.Bn && (i == 0 || !(stem.get(i - 1) instanceof Model.Conv))) {
        error(stem.get(i).pos(), "with 'bn folded' a stem bn must directly follow the conv it is folded into");
      }
    }
    for (Model.Layer l : head) {
      if (l instanceof Model.Bn) error(l.pos(), "with 'bn folded' the head has no bn (it follows no conv)");
    }
    return true;
  }

  private Model.Input input(Ast.Input in) {
    if (!in.dtype().equals("f32")) error(in.pos(), "unsupported input dtype '" + in.dtype() + "' (resnetc compiles f32 models)");
    if (in.layout() != null && !in.layout().value().equalsIgnoreCase("nchw")) {
      error(in.layout().pos(), "unsupported input layout '" + in.layout().value() + "' (inputs are NCHW)");
    }
    if (in.dims().size() != 3) {
      error(in.pos(), "input needs [channels, height, width] (the batch is dynamic), got " + in.dims().size() + " dimensions");
      return null;
    }
    int c = positive(in.dims().get(0).value(), in.dims().get(0).pos(), "input channels");
    int h = positive(in.dims().get(1).value(), in.dims().get(1).pos(), "input height");
    int w = positive(in.dims().get(2).value(), in.dims().get(2).pos(), "input width");
    // Unknown when invalid, so mean, std and crop are not also checked against a made-up size.
    boolean valid = c == in.dims().get(0).value() && h == in.dims().get(1).value() && w == in.dims().get(2).value();
    return valid ? new Model.Input(c, h, w) : null;
  }

  private Model.Preprocess preprocess(Ast.Preprocess p, Model.Input input) {
    double scale = 1;
    double[] mean = null, std = null;
    int resize = 0, crop = 0;
    Map<Class<?>, Pos> seen = new HashMap<>();
    for (Ast.PreOpt o : p.opts()) {
      Pos first = seen.putIfAbsent(o.getClass(), o.pos());
      if (first != null) error(o.pos(), "duplicate preprocess option (first given at line " + first.line() + ")");
      switch (o) {
        case Ast.Scale s -> {
          if (!(s.value() > 0) || Double.isInfinite(s.value())) error(s.pos(), "scale must be positive and finite");
          scale = s.value();
        }
        case Ast.Mean m -> mean = channels(m.values(), m.pos(), "mean", input);
        case Ast.Std s -> {
          std = channels(s.values(), s.pos(), "std", input);
          for (double v : s.values()) if (!(v > 0)) error(s.pos(), "std values must be positive, got " + v);
        }
        case Ast.Resize r -> resize = positive(r.size(), r.pos(), "resize");
        case Ast.Crop c -> crop = positive(c.size(), c.pos(), "crop") == c.size() ? c.size() : 0;
      }
    }
    int n = input == null ? 3 : input.channels();
    if (mean == null) mean = new double[n];
    if (std == null) {
      std = new double[n];
      java.util.Arrays.fill(std, 1);
    }
    if (input != null && crop > 0 && (crop != input.height() || crop != input.width())) {
      error(seen.get(Ast.Crop.class), "crop " + crop + " does not give the input size " + input.height() + "x" + input.width());
    }
    return new Model.Preprocess(scale, mean, std, resize, crop);
  }

  private double[] channels(List<Double> values, Pos pos, String what, Model.Input input) {
    for (double v : values) if (!Double.isFinite(v)) error(pos, what + " values must be finite, got " + v);
    if (input != null && values.size() != input.channels()) {
      error(pos, what + " has " + values.size() + " values for " + input.channels() + " input channels");
    }
    return values.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private List<Model.Layer> layers(List<Ast.Layer> layers, String section, int classes) {
    List<Model.Layer> out = new ArrayList<>();
    for (Ast.Layer l : layers) {
      switch (l) {
        case Ast.Conv c -> {
          int k = kernel(c.kernel());
          int stride = c.stride() == null ? 1 : positive(c.stride(), c.pos(), "stride");
          int pad = c.pad() == null ? k / 2 : padding(c.pad(), c.pos());
          out.add(new Model.Conv(k, positive(c.out(), c.pos(), "output channels"), stride, pad, c.bias(), c.pos()));
        }
        case Ast.Bn b -> out.add(new Model.Bn(b.pos()));
        case Ast.Relu r -> out.add(new Model.Relu(r.pos()));
        case Ast.MaxPool m -> {
          int k = kernel(m.kernel());
          out.add(new Model.MaxPool(k, m.stride() == null ? k : positive(m.stride(), m.pos(), "stride"), m.pad() == null ? 0 : padding(m.pad(), m.pos()), m.pos()));
        }
        case Ast.AvgPool a -> {
          if (a.kernel() == null) {
            if (!section.equals("head")) error(a.pos(), "a global 'avgpool' belongs in the head; give a stem pool a kernel, e.g. 'avgpool 2x2'");
            out.add(new Model.GlobalAvgPool(a.pos()));
          } else {
            int k = kernel(a.kernel());
            out.add(new Model.AvgPool(k, a.stride() == null ? k : positive(a.stride(), a.pos(), "stride"), a.pad() == null ? 0 : padding(a.pad(), a.pos()), a.pos()));
          }
        }
        case Ast.Fc f -> {
          if (!section.equals("head")) error(f.pos(), "fc belongs in the head");
          if (f.out() != null && classes > 0 && f.out() != classes) {
            error(f.pos(), "fc has " + f.out() + " outputs but the model has " + classes + " classes");
          }
          out.add(new Model.Fc(classes, f.bias(), f.pos()));
        }
        case Ast.Softmax s -> {
          if (!section.equals("head")) error(s.pos(), "softmax belongs in the head");
          out.add(new Model.Softmax(s.pos()));
        }
      }
    }
    return out;
  }

  /** The head must pool to a vector, then classify: [bn relu] avgpool fc [softmax]. */
  private void checkHead(List<Model.Layer> head, Pos pos) {
    int gap = indexOf(head, Model.GlobalAvgPool.class), fc = indexOf(head, Model.Fc.class);
    if (gap < 0) error(pos, "the head needs a global 'avgpool' before 'fc'");
    if (fc < 0) error(pos, "the head needs an 'fc' layer");
    if (gap >= 0 && fc >= 0 && gap > fc) error(head.get(gap).pos(), "'avgpool' must come before 'fc'");
    for (int i = 0; i < head.size(); i++) {
      Model.Layer l = head.get(i);
      boolean afterPool = gap >= 0 && i > gap;
      if (afterPool && !(l instanceof Model.Fc || l instanceof Model.Softmax)) {
        error(l.pos(), "only 'fc' and 'softmax' may follow the global 'avgpool'");
      }
      if (l instanceof Model.Fc && i != fc) error(l.pos(), "the head has more than one 'fc'");
      if (l instanceof Model.Bn && i != indexOf(head, Model.Bn.class)) error(l.pos(), "the head has more than one 'bn'");
      if (l instanceof Model.Softmax && i != head.size() - 1) error(l.pos(), "'softmax' must be the last layer");
      if (l instanceof Model.Conv || l instanceof Model.MaxPool || l instanceof Model.AvgPool) {
        error(l.pos(), "the head takes only bn, relu, avgpool, fc and softmax");
      }
    }
  }

  private static int indexOf(List<Model.Layer> layers, Class<?> type) {
    for (int i = 0; i < layers.size(); i++) if (type.isInstance(layers.get(i))) return i;
    return -1;
  }

  /** {@code blockDeclared}/{@code shortcutDeclared}: the model declares a default, possibly an invalid one already reported. */
  private Model.Stage stage(Ast.Stage s, int index, String name, Model.Block defaultBlock, boolean blockDeclared,
                            Model.Shortcut defaultShortcut, boolean shortcutDeclared) {
    int count = positive(s.count().value(), s.count().pos(), "block count");
    int width = positive(s.width().value(), s.width().pos(), "stage width");
    int stride = s.stride() == null ? 1 : positive(s.stride().value(), s.stride().pos(), "stride");
    for (int i = 1; i < s.blocks().size(); i++) error(s.blocks().get(i).pos(), "stage '" + name + "' overrides 'block' twice");
    for (int i = 1; i < s.shortcuts().size(); i++) error(s.shortcuts().get(i).pos(), "stage '" + name + "' overrides 'shortcut' twice");
    Model.Block block = s.blocks().isEmpty() ? defaultBlock : block(s.blocks().get(0), null);
    if (block == null && s.blocks().isEmpty() && !blockDeclared) {
      error(s.pos(), "stage '" + name + "' has no block type: declare 'block basic' or 'block bottleneck' for the model or in the stage");
    } else if (!s.tweaks().isEmpty()) {
      block = tweak(block, s.tweaks());
    }
    Model.Shortcut shortcut = s.shortcuts().isEmpty() ? defaultShortcut : shortcut(s.shortcuts().get(0));
    if (shortcut == null && s.shortcuts().isEmpty() && !shortcutDeclared) {
      error(s.pos(), "stage '" + name + "' has no shortcut kind: declare 'shortcut identity|A|B|C|D'");
    }
    return new Model.Stage(name, index, count, width, stride, block, shortcut, s.pos());
  }

  private Model.Block block(Ast.Block b, Model.Block base) {
    String kind = b.kind().value().toLowerCase(Locale.ROOT);
    BlockKind k = switch (kind) {
      case "basic" -> BlockKind.BASIC;
      case "bottleneck" -> BlockKind.BOTTLENECK;
      default -> {
        error(b.kind().pos(), "unknown block kind '" + b.kind().value() + "' (expected basic or bottleneck)");
        yield null;
      }
    };
    if (k == null) return null;
    Model.Block start = k == BlockKind.BASIC ? new Model.Block(k, 1, false, 1, 64, 1, false)
        : new Model.Block(k, 4, true, 1, 64, 1, false);
    return tweak(start, b.opts());
  }

  /** Applies block options in order; each option at most once per list. */
  private Model.Block tweak(Model.Block b, List<Ast.BlockOpt> opts) {
    int expansion = b.expansion(), groups = b.groups(), wpg = b.widthPerGroup(), widen = b.widen();
    boolean on3x3 = b.strideOn3x3(), preact = b.preact();
    Map<String, Pos> seen = new HashMap<>();
    boolean basic = b.kind() == BlockKind.BASIC;
    for (Ast.BlockOpt o : opts) {
      Pos first = seen.putIfAbsent(o.keyword(), o.pos());
      if (first != null) error(o.pos(), "duplicate '" + o.keyword() + "' (first given at line " + first.line() + ")");
      switch (o) {
        case Ast.Expansion e -> {
          if (basic && e.value() != 1) error(e.pos(), "a basic block has expansion 1; 'expansion' is for bottleneck blocks");
          expansion = positive(e.value(), e.pos(), "expansion");
        }
        case Ast.StrideOn s -> {
          if (basic) error(s.pos(), "'stride_on' chooses a bottleneck conv; a basic block strides its first 3x3");
          if (s.kernel().equals("3x3")) on3x3 = true;
          else if (s.kernel().equals("1x1")) on3x3 = false;
          else error(s.pos(), "stride_on must be 1x1 (v1) or 3x3 (v1.5), got " + s.kernel());
        }
        case Ast.Groups g -> {
          if (basic && g.value() != 1) error(g.pos(), "basic blocks support only groups 1 (grouped width is a bottleneck option)");
          groups = positive(g.value(), g.pos(), "groups");
        }
        case Ast.WidthPerGroup w -> {
          if (basic && w.value() != 64) error(w.pos(), "basic blocks support only width_per_group 64; use 'widen' for wide basic blocks");
          wpg = positive(w.value(), w.pos(), "width_per_group");
        }
        case Ast.Widen w -> widen = positive(w.value(), w.pos(), "widen");
        case Ast.Preact p -> preact = true;
      }
    }
    return new Model.Block(b.kind(), expansion, on3x3, groups, wpg, widen, preact);
  }

  private Model.Shortcut shortcut(Ast.Shortcut s) {
    String kind = s.kind().value();
    ShortcutKind k = switch (kind) {
      case "identity" -> ShortcutKind.IDENTITY;
      case "A", "a" -> ShortcutKind.A;
      case "B", "b" -> ShortcutKind.B;
      case "C", "c" -> ShortcutKind.C;
      case "D", "d" -> ShortcutKind.D;
      default -> {
        error(s.kind().pos(), "unknown shortcut kind '" + kind + "' (expected identity, A, B, C or D)");
        yield null;
      }
    };
    boolean split = true;
    if (s.placement() != null) {
      if (k != ShortcutKind.A) {
        error(s.placement().pos(), "only shortcut A takes a placement ('split' or 'end')");
      } else if (s.placement().value().equals("end")) {
        split = false;
      } else if (!s.placement().value().equals("split")) {
        error(s.placement().pos(), "unknown placement '" + s.placement().value() + "' for shortcut A (expected split or end)");
      }
    }
    return k == null ? null : new Model.Shortcut(k, split);
  }

  private Model.Weights weights(Ast.Weights w) {
    Model.Convention c = switch (w.convention().value()) {
      case "torchvision" -> Model.Convention.TORCHVISION;
      case "cifar" -> Model.Convention.CIFAR;
      default -> {
        error(w.convention().pos(), "unknown weight naming '" + w.convention().value() + "' (expected torchvision or cifar)");
        yield Model.Convention.TORCHVISION;
      }
    };
    String prefix = "", file = null;
    Map<String, Model.Rename> renames = new LinkedHashMap<>();
    Map<String, Pos> targets = new HashMap<>();
    Pos prefixPos = null, filePos = null;
    for (Ast.WeightOpt o : w.opts()) {
      switch (o) {
        case Ast.Prefix p -> {
          if (prefixPos != null) error(p.pos(), "duplicate 'prefix' (first given at line " + prefixPos.line() + ")");
          prefixPos = p.pos();
          prefix = p.prefix();
        }
        case Ast.File f -> {
          if (filePos != null) error(f.pos(), "duplicate 'file' (first given at line " + filePos.line() + ")");
          filePos = f.pos();
          file = f.path();
        }
        case Ast.Rename r -> {
          Model.Rename prev = renames.putIfAbsent(r.from(), new Model.Rename(r.to(), r.pos()));
          if (prev != null) error(r.pos(), "duplicate rename of \"" + r.from() + "\" (first at line " + prev.pos().line() + ")");
          if (r.to().isEmpty() || r.from().isEmpty()) error(r.pos(), "rename needs two non-empty tensor names");
          Pos sameTarget = targets.putIfAbsent(r.to(), r.pos());
          if (sameTarget != null && prev == null) {
            error(r.pos(), "a second rename to \"" + r.to() + "\" (first at line " + sameTarget.line() + ")");
          }
        }
      }
    }
    return new Model.Weights(c, prefix, renames, file);
  }

  private int kernel(Ast.At<String> k) {
    String[] parts = k.value().split("x");
    if (!parts[0].equals(parts[1])) {
      error(k.pos(), "only square kernels are supported, got " + k.value());
    }
    return positive(parts[0].length() > 9 ? Integer.MAX_VALUE : Integer.parseInt(parts[0]), k.pos(), "kernel size");
  }

  /** An explicit padding (never negative: the grammar has no sign), bounded like every other size. */
  private int padding(int value, Pos pos) {
    if (value > 1 << 20) {
      error(pos, "pad must be between 0 and " + (1 << 20) + ", got " + (value == Integer.MAX_VALUE ? "a larger number" : value));
      return 0;
    }
    return value;
  }

  private int positive(int value, Pos pos, String what) {
    if (value < 1 || value > 1 << 20) {
      error(pos, what + " must be between 1 and " + (1 << 20) + ", got " + (value == Integer.MAX_VALUE ? "a larger number" : value));
      return 1;
    }
    return value;
  }
}
