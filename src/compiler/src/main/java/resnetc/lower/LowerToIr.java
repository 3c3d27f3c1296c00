package resnetc.lower;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import resnetc.check.Model;
import resnetc.check.Model.ShortcutKind;
import resnetc.diag.Diagnostic;
import resnetc.diag.SpecException;
import resnetc.ir.Graph;
import resnetc.ir.IrException;
import resnetc.ir.Op;
import resnetc.ir.TensorType;
import resnetc.diag.Pos;

/**
 * Checked model to IR: one node per conv, batch norm, relu, add, pool. Parameters become const nodes named as
 * the checkpoint convention names them (after renames). Shape errors are reported at the spec line of the
 * layer or stage that cannot be built.
 */
public final class LowerToIr {
  private final Model m;
  private final Naming naming;
  private final Graph.Builder b;
  private final String file;
  private final Set<String> renamed = new HashSet<>();
  private Pos at = Pos.NONE;

  /** The largest channel count of any layer; the checker bounds every single value by the same number. */
  private static final int MAX_CHANNELS = 1 << 20;

  private LowerToIr(Model m) {
    this.m = m;
    this.naming = new Naming(m.weights().convention());
    this.b = Graph.builder(m.name());
    Path p = Path.of(m.file());
    this.file = p.getFileName() == null ? m.file() : p.getFileName().toString();
  }

  public static Graph lower(Model m) {
    LowerToIr l = new LowerToIr(m);
    try {
      Graph g = l.graph();
      List<Diagnostic> unused = new ArrayList<>();
      m.weights().renames().forEach((from, r) -> {
        if (!l.renamed.contains(from)) {
          unused.add(new Diagnostic(m.file(), r.pos(), "rename of \"" + from + "\" matches no tensor of this model"));
        }
      });
      if (!unused.isEmpty()) throw new SpecException(unused, m.source());
      return g;
    } catch (ShapeError e) {
      throw new SpecException(List.of(new Diagnostic(m.file(), e.pos, e.getMessage())), m.source());
    } catch (IrException e) {
      throw new SpecException(List.of(new Diagnostic(m.file(), l.at, e.getMessage())), m.source());
    }
  }

  /** A shape problem found before building, with a message written for the spec's author. */
  private static final class ShapeError extends RuntimeException {
    final Pos pos;

    ShapeError(Pos pos, String message) {
      super(message);
      this.pos = pos;
    }
  }

  private Graph graph() {
    Model.Input in = m.input();
    String x = b.input("input", TensorType.batched(in.channels(), in.height(), in.width()));
    if (m.preprocess() != null) {
      Model.Preprocess p = m.preprocess();
      x = node("normalize", new Op.Normalize((float) (1 / p.scale()), floats(p.mean()), floats(p.std())), List.of(x), Pos.NONE);
    }
    x = layers(m.stem(), x, "stem");
    for (Model.Stage s : m.stages()) {
      for (int i = 0; i < s.blocks(); i++) x = block(s, i, x);
    }
    x = layers(m.head(), x, "head");
    return b.build(x);
  }

  private String layers(List<Model.Layer> layers, String x, String section) {
    int convs = 0, bns = 0, relus = 0, pools = 0;
    for (int i = 0; i < layers.size(); i++) {
      Model.Layer l = layers.get(i);
      // with 'bn folded' a conv followed by a bn has the bn's bias (and the bn is gone)
      boolean foldedBias = m.bnFolded() && i + 1 < layers.size() && layers.get(i + 1) instanceof Model.Bn;
      at = l.pos();
      x = switch (l) {
        case Model.Conv c -> conv(naming.stemConv(++convs), x, c.kernel(), c.out(), c.stride(), c.pad(), 1, c.bias() || foldedBias, c.pos());
        case Model.Bn n -> bn(section.equals("stem") ? naming.stemBn(++bns) : naming.headBn(), x, n.pos());
        case Model.Relu r -> node(section + ".relu" + suffix(++relus), new Op.Relu(), List.of(x), r.pos());
        case Model.MaxPool p -> node(window(section + ".maxpool" + suffix(++pools), x, p.kernel(), p.pad(), p.pos()),
            new Op.MaxPool(p.kernel(), p.stride(), p.pad()), List.of(x), p.pos());
        case Model.AvgPool p -> node(window(section + ".avgpool" + suffix(++pools), x, p.kernel(), p.pad(), p.pos()),
            new Op.AvgPool(p.kernel(), p.stride(), p.pad(), false, true), List.of(x), p.pos());
        case Model.GlobalAvgPool p -> node(section + ".avgpool", new Op.GlobalAvgPool(), List.of(x), p.pos());
        case Model.Fc f -> fc(x, f);
        case Model.Softmax s -> node(section + ".softmax", new Op.Softmax(), List.of(x), s.pos());
      };
    }
    return x;
  }

  private static String suffix(int k) {
    return k == 1 ? "" : Integer.toString(k);
  }

  private String block(Model.Stage s, int i, String x) {
    at = s.pos();
    Model.Block blk = s.block();
    String p = naming.block(s.index(), i);
    int stride = i == 0 ? s.stride() : 1;
    TensorType t = b.type(x);
    int inC = t.dim(1), width = blk.innerWidth(s.planes()), outC = blk.outChannels(s.planes());
    boolean change = stride != 1 || inC != outC;
    String where = "stage '" + s.name() + "' block " + i;
    if (width > MAX_CHANNELS || outC > MAX_CHANNELS) {
      int n = Math.max(width, outC);
      throw new ShapeError(s.pos(), where + ": " + (n == Integer.MAX_VALUE ? "more than " + n : n) + " channels; resnetc supports at most "
          + MAX_CHANNELS);
    }
    if (width < 1) throw new ShapeError(s.pos(), where + ": inner width " + width + " is empty (planes * width_per_group / 64 * groups)");
    if (width % blk.groups() != 0) {
      throw new ShapeError(s.pos(), where + ": groups " + blk.groups() + " do not divide the inner width " + width);
    }
    if (t.dim(2) < stride || t.dim(3) < stride) {
      throw new ShapeError(s.pos(), where + ": stride " + stride + " on a " + t.dim(2) + "x" + t.dim(3) + " input leaves nothing");
    }

    // Pre-activation (v2): bn-relu first; projections read the activated input, identity and A the raw one.
    String a = x;
    if (blk.preact()) a = relu(p + ".relu0", bn(p + ".bn1", x, s.pos()), s.pos());
    int bnIdx = blk.preact() ? 2 : 1;
    String y;
    if (blk.kind() == Model.BlockKind.BASIC) {
      boolean folded = m.bnFolded(); // every block conv is followed by a bn (pre-activation blocks cannot fold)
      y = conv(p + ".conv1", a, 3, width, stride, 1, 1, folded, s.pos());
      y = relu(p + ".relu1", bn(p + ".bn" + bnIdx++, y, s.pos()), s.pos());
      y = conv(p + ".conv2", y, 3, outC, 1, 1, 1, folded, s.pos());
      if (!blk.preact()) y = bn(p + ".bn" + bnIdx, y, s.pos());
    } else {
      int s1 = blk.strideOn3x3() ? 1 : stride, s3 = blk.strideOn3x3() ? stride : 1;
      boolean folded = m.bnFolded();
      y = conv(p + ".conv1", a, 1, width, s1, 0, 1, folded, s.pos());
      y = relu(p + ".relu1", bn(p + ".bn" + bnIdx++, y, s.pos()), s.pos());
      y = conv(p + ".conv2", y, 3, width, s3, 1, blk.groups(), folded, s.pos());
      y = relu(p + ".relu2", bn(p + ".bn" + bnIdx++, y, s.pos()), s.pos());
      y = conv(p + ".conv3", y, 1, outC, 1, 0, 1, folded, s.pos());
      if (!blk.preact()) y = bn(p + ".bn" + bnIdx, y, s.pos());
    }

    String sc = shortcut(s, p, where, x, a, stride, inC, outC, change);
    TensorType main = b.type(y), side = b.type(sc);
    if (!main.equals(side)) {
      throw new ShapeError(s.pos(), where + ": the residual branch gives " + main.itemShape() + " but the shortcut gives "
          + side.itemShape() + (s.shortcut().kind() == ShortcutKind.A ? " (option A subsampling rounds up odd sizes)" : ""));
    }
    String sum = node(p + ".add", new Op.Add(), List.of(y, sc), s.pos());
    return blk.preact() ? sum : relu(p + ".relu", sum, s.pos());
  }

  private String shortcut(Model.Stage s, String p, String where, String x, String activated, int stride, int inC, int outC, boolean change) {
    ShortcutKind kind = s.shortcut().kind();
    if (kind == ShortcutKind.C || (change && (kind == ShortcutKind.B || kind == ShortcutKind.D))) {
      boolean pooled = kind == ShortcutKind.D && stride > 1;
      String src = activated;
      if (pooled) {
        // ResNet-D: average pool (count_include_pad=False, ceil mode as in timm) then a stride-1 projection.
        src = node(naming.shortcutPool(p), new Op.AvgPool(stride, stride, 0, true, false), List.of(src), s.pos());
      }
      String y = conv(naming.shortcutConv(p, pooled), src, 1, outC, pooled ? 1 : stride, 0, 1, m.bnFolded(), s.pos());
      return s.block().preact() ? y : bn(naming.shortcutBn(p, pooled), y, s.pos());
    }
    if (!change) return x;
    return switch (kind) {
      case IDENTITY -> throw new ShapeError(s.pos(), where + ": an identity shortcut cannot change " + inC + " channels to " + outC
          + (stride != 1 ? " with stride " + stride : "") + "; use shortcut A, B, C or D");
      case A -> {
        TensorType t = b.type(x);
        if (outC < inC) {
          throw new ShapeError(s.pos(), where + ": shortcut A can only add channels, but the block goes from " + inC + " to " + outC);
        }
        if (t.dim(2) % stride != 0 || t.dim(3) % stride != 0) {
          throw new ShapeError(s.pos(), where + ": shortcut A subsamples with stride " + stride + ", which does not divide the "
              + t.dim(2) + "x" + t.dim(3) + " input; use a divisible size or shortcut B, C or D");
        }
        int extra = outC - inC, before = s.shortcut().splitPad() ? extra / 2 : 0;
        yield node(p + ".shortcut", new Op.SubsamplePad(stride, before, extra - before), List.of(x), s.pos());
      }
      default -> throw new IllegalStateException();
    };
  }

  private String conv(String name, String x, int k, int out, int stride, int pad, int groups, boolean bias, Pos pos) {
    int inC = b.type(x).dim(1);
    if (inC % groups != 0) throw new ShapeError(pos, name + ": groups " + groups + " do not divide " + inC + " input channels");
    String w = param(name + ".weight", TensorType.of(out, inC / groups, k, k), pos);
    List<String> ins = bias ? List.of(x, w, param(name + ".bias", TensorType.of(out), pos)) : List.of(x, w);
    TensorType t = b.type(x);
    if (t.dim(2) + 2 * pad < k || t.dim(3) + 2 * pad < k) {
      throw new ShapeError(pos, name + ": a " + k + "x" + k + " kernel does not fit the " + t.itemShape() + " input (pad " + pad + ")");
    }
    return node(name, new Op.Conv2d(k, stride, pad, groups), ins, pos);
  }

  /** The name of a pool whose window fits its input, else a shape error in the spec's terms. */
  private String window(String name, String x, int k, int pad, Pos pos) {
    TensorType t = b.type(x);
    if (2 * pad > k) throw new ShapeError(pos, name + ": pad " + pad + " is more than half the " + k + "x" + k + " window");
    if (t.dim(2) + 2 * pad < k || t.dim(3) + 2 * pad < k) {
      throw new ShapeError(pos, name + ": a " + k + "x" + k + " window does not fit the " + t.itemShape() + " input (pad " + pad + ")");
    }
    return name;
  }

  /** A batch norm, or nothing with 'bn folded' (the conv before it has its bias). */
  private String bn(String name, String x, Pos pos) {
    if (m.bnFolded()) return x;
    TensorType c = TensorType.of(b.type(x).dim(1));
    List<String> ins = List.of(x, param(name + ".weight", c, pos), param(name + ".bias", c, pos),
        param(name + ".running_mean", c, pos), param(name + ".running_var", c, pos));
    return node(name, new Op.BatchNorm((float) m.eps()), ins, pos);
  }

  private String relu(String name, String x, Pos pos) {
    return node(name, new Op.Relu(), List.of(x), pos);
  }

  private String fc(String x, Model.Fc f) {
    String name = naming.fc();
    int in = b.type(x).dim(1);
    String w = param(name + ".weight", TensorType.of(f.out(), in), f.pos());
    List<String> ins = f.bias() ? List.of(x, w, param(name + ".bias", TensorType.of(f.out()), f.pos())) : List.of(x, w);
    return node(name, new Op.Dense(), ins, f.pos());
  }

  /** A parameter tensor, named as the weights file names it after renames. */
  private String param(String conventional, TensorType type, Pos pos) {
    Model.Rename r = m.weights().renames().get(conventional);
    if (r != null) renamed.add(conventional);
    String name = r == null ? conventional : r.to();
    checkClash(name);
    return b.constant(name, type, null, origin(pos));
  }

  private String node(String name, Op op, List<String> inputs, Pos pos) {
    checkClash(name);
    return b.add(name, op, inputs, origin(pos));
  }

  /** A rename whose target is the name of another tensor or layer is reported at the rename. */
  private void checkClash(String name) {
    if (!b.has(name)) return;
    m.weights().renames().forEach((from, r) -> {
      if (r.to().equals(name)) {
        throw new ShapeError(r.pos(), "rename of \"" + from + "\" to \"" + name + "\" clashes with another tensor or layer of this model");
      }
    });
  }

  private String origin(Pos pos) {
    return pos.line() > 0 ? file + ":" + pos.line() : "";
  }

  private static float[] floats(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
    return f;
  }

  /** The tensors a model needs, by name, for weight binding. */
  public static Map<String, TensorType> parameters(Graph g) {
    Map<String, TensorType> out = new java.util.LinkedHashMap<>();
    g.constNodes().forEach(n -> out.put(n.name(), n.type()));
    return out;
  }
}
