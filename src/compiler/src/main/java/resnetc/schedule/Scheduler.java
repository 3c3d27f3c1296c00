package resnetc.schedule;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import resnetc.analysis.ArenaPlanner;
import resnetc.analysis.MemoryPlan;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Printer;
import resnetc.ir.Summary;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/**
 * Plans an optimized graph (every conv fused, see {@code fuse-conv}) for a CPU: the steps of each layer with their
 * staging geometry, register tiles, task splits, Winograd layouts and the packed weights. The one planner of both
 * targets: they only emit what it decided.
 */
public final class Scheduler {
  /** Tasks per image a conv should offer at least, so two or more threads share even batch-1 layers. */
  static final int MIN_TASKS = 32;
  /** Floats a team job of a memory-bound step should touch at least (see {@link Step#grain}). */
  static final int JOB_FLOATS = 16384;
  /** Floats per element-wise task. */
  public static final int CHUNK = 8192;
  /** Output channels per group of packed conv weights: the most any CPU's register tile takes (AVX-512's). */
  static final int PACK = 8;
  /** Outputs per group of packed dense weights: one 16-float vector. */
  public static final int DENSE_GROUP = 16;
  /** Outputs per dense task. */
  public static final int DENSE_TASK = 64;

  private final Graph g;
  private final CpuModel cpu;
  private final Winograd.Mode winograd;
  private final MemoryPlan mem;
  private final WeightsBlob blob;
  /** Measured choices by conv layer (see {@link Tuning}); the rules below plan the rest. */
  private final Tuning.Section tuning;
  private final List<Step> steps = new ArrayList<>();
  private long scratch;

  private Scheduler(Graph g, CpuModel cpu, Winograd.Mode winograd, Tuning.Section tuning, WeightsBlob blob) {
    this.g = g;
    this.cpu = cpu;
    this.winograd = winograd;
    this.tuning = tuning;
    this.mem = ArenaPlanner.plan(g, 1);
    this.blob = blob;
  }

  /** The schedule of {@code optimized} for {@code cpu}; {@code winograd} says which 3x3 convs take Winograd. */
  public static Schedule plan(Graph optimized, CpuModel cpu, Winograd.Mode winograd) {
    return plan(optimized, cpu, winograd, null);
  }

  /**
   * As {@link #plan(Graph, CpuModel, Winograd.Mode)}, with the convs {@code tuning} names planned as it says (its
   * Winograd choice overrides {@code winograd}).
   *
   * @throws IllegalArgumentException when the section is for another model, names a value that is not a conv, or
   *     chooses what the conv or the CPU cannot take (the message says which and why)
   */
  public static Schedule plan(Graph optimized, CpuModel cpu, Winograd.Mode winograd, Tuning.Section tuning) {
    check(optimized, tuning);
    return new Scheduler(optimized, cpu, winograd, tuning, new WeightsBlob(optimized.hasWeights())).run();
  }

  /**
   * The schedules of {@code optimized} for several CPUs (one artifact carries them all), each with its section of
   * {@code tuning}, sharing one weights blob: a tensor packed for one of them is at the same offset in all, so one
   * copy of the weights serves every CPU's code even where their tuned choices differ (Winograd on one only adds
   * that conv's transformed weights).
   */
  public static List<Schedule> plan(Graph optimized, List<CpuModel> cpus, Winograd.Mode winograd, String target, Tuning tuning) {
    WeightsBlob blob = new WeightsBlob(optimized.hasWeights());
    List<Schedule> planned = new ArrayList<>();
    for (CpuModel cpu : cpus) {
      Tuning.Section section = tuning.section(target, cpu).orElse(null);
      check(optimized, section);
      planned.add(new Scheduler(optimized, cpu, winograd, section, blob).run());
    }
    float[] weights = blob.toArray();
    return planned.stream().map(s -> s.withWeights(weights, blob.size())).toList();
  }

  private static void check(Graph optimized, Tuning.Section tuning) {
    if (tuning != null) {
      if (!tuning.model().equals(optimized.name())) {
        throw new IllegalArgumentException("the tuning record is for model " + tuning.model() + ", not " + optimized.name());
      }
      for (String layer : tuning.choices().keySet()) {
        if (!(optimized.find(layer).map(Node::op).orElse(null) instanceof Op.FusedConv)) {
          throw new IllegalArgumentException("the tuning record chooses for %" + layer + ", which is not a conv of " + optimized.name()
              + " (tune again after changing the model or its passes)");
        }
      }
    }
  }

  private Schedule run() {
    List<Schedule.Layer> layers = new ArrayList<>();
    for (Node n : g.nodes()) {
      switch (n.op()) {
        case Op.Input i -> { continue; }
        case Op.Const c -> { continue; }
        case Op.FusedConv f -> conv(n, f);
        case Op.Dense d -> dense(n);
        case Op.MaxPool p -> pool(n, true, p.kernel(), p.stride(), p.pad(), false);
        case Op.AvgPool p -> pool(n, false, p.kernel(), p.stride(), p.pad(), p.countPad());
        case Op.GlobalAvgPool p -> {
          TensorType x = type(n.input(0));
          int plane = x.dim(2) * x.dim(3);
          steps.add(new Step.GlobalAvgPool(n.name(), off(n.input(0)), off(n.name()), x.dim(1), plane, grain(plane)));
        }
        case Op.BatchNorm bn -> batchNorm(n, bn);
        case Op.Relu r -> steps.add(new Step.Elementwise(n.name(), false, off(n.input(0)), -1, off(n.name()), n.type().elementsPerItem()));
        case Op.Add a -> steps.add(new Step.Elementwise(n.name(), true, off(n.input(0)), off(n.input(1)), off(n.name()), n.type().elementsPerItem()));
        case Op.Softmax s -> steps.add(new Step.Softmax(n.name(), off(n.input(0)), off(n.name()), n.type().dim(1)));
        case Op.SubsamplePad p -> {
          TensorType x = type(n.input(0)), y = n.type();
          steps.add(new Step.SubsamplePad(n.name(), off(n.input(0)), off(n.name()), x.dim(1), x.dim(2), x.dim(3), y.dim(1), y.dim(2),
              y.dim(3), p.stride(), p.before(), grain((long) y.dim(2) * y.dim(3))));
        }
        case Op.Normalize z -> {
          TensorType x = n.type();
          int plane = x.dim(2) * x.dim(3);
          steps.add(new Step.Normalize(n.name(), off(n.input(0)), off(n.name()), x.dim(1), plane, z.div(), z.mean(), z.std(), grain(plane)));
        }
        case Op.Conv2d c -> throw new IllegalArgumentException("%" + n.name() + ": convs must be fused before scheduling (run fuse-conv)");
        default -> throw new IllegalArgumentException("no schedule for " + n.op().mnemonic() + " (%" + n.name() + ")");
      }
      layers.add(new Schedule.Layer(n.name(), Summary.kind(n), n.type().itemShape(), 2 * Summary.macs(g, n), Printer.line(n),
          n.origin() == null ? "" : n.origin()));
    }
    TensorType in = g.input().type();
    return new Schedule(g.name(), cpu, winograd, tuning, layers, steps, blob.toArray(), blob.size(), mem.arenaBytes() / 4, scratch,
        off(g.input().name()), off(g.output()), new int[] {in.dim(1), in.dim(2), in.dim(3)},
        Math.toIntExact(g.outputType().elementsPerItem()));
  }

  /** Consecutive tasks per team job so that a job touches at least {@link #JOB_FLOATS} floats. */
  static int grain(long floatsPerTask) {
    return (int) Math.max(1, JOB_FLOATS / Math.max(1, floatsPerTask));
  }

  // ---- convolution ----

  /**
   * The register tile of a conv: R x V accumulators, V input vectors and a broadcast weight fill the vector
   * registers (4 x 3 of 8 floats with 16 registers, 8 x 3 of 16 floats with 32); R is the largest that divides
   * the channels per group. Then V is lowered as far as the number of tiles allows, so 4 vectors are 2 + 2 rather
   * than 3 + 1. (Measured on Zen 5: narrower tiles with more channels, or fewer channels with more vectors, are
   * slower even where they would waste fewer lanes: each tap's loads and the FMA latency of few accumulators cost
   * more.)
   */
  static Step.Tile tile(int og, int positions, CpuModel cpu) {
    int r = 1;
    for (int cand = cpu.maxTileChannels(); cand > 1; cand /= 2) {
      if (og % cand == 0) {
        r = cand;
        break;
      }
    }
    int v = Math.max(1, (cpu.registers() - 1) / (r + 1));
    int vectors = Math.ceilDiv(positions, cpu.lanes());
    v = Math.ceilDiv(vectors, Math.ceilDiv(vectors, v));
    return new Step.Tile(r, v, cpu.lanes());
  }

  /** Output channels packed together: the largest power of two up to {@link #PACK} that divides the channels per group. */
  static int pack(int og) {
    int p = PACK;
    while (og % p != 0) p /= 2;
    return p;
  }

  /** Position bands per channel tile: enough tasks per image for every thread, no more than there are tiles. */
  static int bands(int positionTiles, int channelTiles) {
    return Math.min(positionTiles, Math.ceilDiv(MIN_TASKS, channelTiles));
  }

  private void conv(Node n, Op.FusedConv f) {
    TensorType x = type(n.input(0)), y = n.type();
    TensorType res = n.inputs().size() > 3 ? type(n.input(3)) : null;
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), o = y.dim(1), oh = y.dim(2), ow = y.dim(3);
    Tuning.Choice chosen = tuning == null ? null : tuning.choices().get(n.name());
    if (chosen != null && chosen.winograd() && !Winograd.eligible(f, c, Winograd.Mode.ALWAYS)) {
      throw new IllegalArgumentException("the tuning record chooses Winograd for %" + n.name() + ", which is not a 3x3 stride-1 conv Winograd applies to");
    }
    if (chosen != null ? chosen.winograd() : Winograd.eligible(f, c, winograd)) {
      winograd(n, f, chosen);
      return;
    }
    int k = f.kernel(), s = f.stride(), p = f.pad(), groups = f.groups();
    boolean staged = !(k == 1 && s == 1 && p == 0);
    int wq, icStride;
    int[] taps = new int[k * k];
    long src, srcPerImage;
    Step.Tile t;
    if (staged) {
      int phases = Math.min(k, s), hq = Math.ceilDiv(h + 2 * p, s);
      wq = Math.ceilDiv(w + 2 * p, s);
      int plane = hq * wq;
      icStride = phases * phases * plane;
      for (int ky = 0; ky < k; ky++) {
        for (int kx = 0; kx < k; kx++) taps[ky * k + kx] = ((ky % s) * phases + kx % s) * plane + (ky / s) * wq + kx / s;
      }
      t = tile(n, chosen, o / groups, oh * wq);
      // The last vector of the last channel may read up to a tile row past the planes: keep that inside scratch.
      long reach = (long) (c - 1) * icStride + Arrays.stream(taps).max().orElse(0) + (long) Math.ceilDiv(oh * wq, t.lanes()) * t.lanes();
      srcPerImage = Math.max((long) c * icStride, reach);
      src = 0;
      scratch = Math.max(scratch, srcPerImage);
      steps.add(new Step.Stage(n.name(), off(n.input(0)), c, h, w, s, p, phases, hq, wq, srcPerImage, grain(icStride)));
    } else {
      wq = w;
      icStride = h * w;
      t = tile(n, chosen, o / groups, oh * ow);
      src = off(n.input(0));
      srcPerImage = (long) c * h * w;
    }
    int cg = c / groups, r = t.r(), pack = pack(o / groups);
    long wOff = blob.add(n.input(1) + "#pack" + pack, (long) o * cg * k * k, () -> pack(data(n.input(1)), o, cg * k * k, pack));
    long bOff = blob.add(n.input(2), o, () -> data(n.input(2)));
    int positionTiles = Math.ceilDiv(oh * wq, t.width());
    steps.add(new Step.Conv(n.name(), 2 * Summary.macs(g, n), c, h, w, o, oh, ow, k, s, groups, f.relu(), f.residual(),
        res == null ? -1 : off(n.input(3)), f.resStride(), f.resOffset(), res == null ? 0 : res.dim(1), res == null ? 0 : res.dim(2),
        res == null ? 0 : res.dim(3), staged, src, srcPerImage, icStride, (long) cg * icStride, wq, taps, off(n.name()), (long) oh * ow,
        (long) o / groups * oh * ow, wOff, pack, bOff,
        t, bands(chosen, positionTiles, o / r), (long) o * cg * k * k > (long) c * h * w, -1, chosen != null));
  }

  /** The tuned tile of conv {@code n}, checked against the conv and the CPU ({@link #misfit}), or the rule's ({@link #tile}). */
  private Step.Tile tile(Node n, Tuning.Choice chosen, int og, int positions) {
    if (chosen == null) return tile(og, positions, cpu);
    String why = misfit(chosen, og, positions, cpu);
    if (why != null) throw new IllegalArgumentException("the tuning record's '" + chosen.text() + "' for %" + n.name() + " does not fit: " + why);
    return new Step.Tile(chosen.r(), chosen.v(), cpu.lanes());
  }

  /** The tuned bands of conv {@code n} (checked with its tile), or the rule's. */
  private int bands(Tuning.Choice chosen, int positionTiles, int channelTiles) {
    return chosen == null ? bands(positionTiles, channelTiles) : chosen.bands();
  }

  /**
   * Why a tuned tile and split does not fit a conv of {@code og} output channels per group over {@code positions}
   * flat positions on {@code cpu}, or null when it does: the register tile must fit the registers and divide the
   * channels (whole packs where the target needs them), and there must be a position tile per band.
   */
  static String misfit(Tuning.Choice c, int og, int positions, CpuModel cpu) {
    int r = c.r(), v = c.v(), vectors = Math.ceilDiv(positions, cpu.lanes());
    if (r > cpu.maxTileChannels() || Integer.bitCount(r) != 1) return "R must be a power of two up to " + cpu.maxTileChannels() + " on " + cpu.name();
    if (og % r != 0) return "R must divide the " + og + " output channels per group";
    if (cpu.tilesWholePacks() && r != pack(og)) return "the " + cpu.name() + " target tiles whole packs of " + pack(og) + " channels";
    if ((r + 1) * v > cpu.registers() - 1) return "R x V accumulators, V inputs and a weight must fit " + cpu.registers() + " registers";
    if (v > vectors) return "the conv has only " + vectors + " vector(s) of positions";
    int tiles = Math.ceilDiv(positions, v * cpu.lanes());
    if (c.bands() > tiles) return "more bands than its " + tiles + " position tiles";
    return null;
  }

  /**
   * A 3x3 stride-1 conv by Winograd's F(m x m, 3x3) ({@link Winograd#outputTile}), a = m + 2: a^2 multiplications
   * per m x m outputs and input channel instead of 9 m^2. Four steps: the input staged zero padded (one plane per
   * channel for m = 2; for m = 4 in 4 x 4 stride phases, see {@link Step.WinogradInput}); the input transform
   * V = B^T d B of every a x a tile (at stride m) into scratch as [C][a^2][tp] (a channel's a^2 planes
   * together: planes C tp floats apart, a power of two, would all fall in one L1 set); the a^2 independent
   * products M[xi] = U[xi] V[xi], which are exactly a 1x1 conv with a^2 groups from a^2 C to a^2 O channels over tp
   * positions (channel stride a^2 tp, group stride tp; M is [O][a^2][tp] likewise), so they run on the conv
   * micro-kernel; and the output transform Y = A^T M A with the bias, the
   * residual and ReLU. U = G g G^T is computed in double. The summation order differs from the direct conv's, so
   * results differ in the last bits (measured against the interpreter by both targets' tests).
   */
  private void winograd(Node n, Op.FusedConv f, Tuning.Choice chosen) {
    TensorType x = type(n.input(0)), y = n.type();
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), o = y.dim(1), oh = y.dim(2), ow = y.dim(3);
    int lanes = cpu.lanes(), m = Winograd.outputTile(cpu, oh, ow), a2 = (m + 2) * (m + 2);
    int th = Math.ceilDiv(oh, m), tw = Math.ceilDiv(ow, m), tp = Math.ceilDiv(th * tw, lanes) * lanes;
    // m = 2: zero-padded planes, tall enough for the last tile row; the transform's loads run up to 2L + 2 floats
    // past a row. m = 4: 4 x 4 phases of (th + 1) x (tw + 1), tile (ty, tx) reads phase rows ty, ty + 1 and columns
    // tx, tx + 1; a vector of L tiles reads up to L floats past the last phase row. Either way the staged input is
    // followed by slack (then V, which such loads may read and drop).
    int phases = m == 2 ? 1 : 4;
    int hq = m == 2 ? Math.max(h + 2, 2 * th + 2) : th + 1, wq = m == 2 ? w + 2 : tw + 1;
    long channelStride = (long) phases * phases * hq * wq, staged = c * channelStride + 2L * lanes + 4;
    long vSize = (long) a2 * c * tp, mSize = (long) a2 * o * tp;
    long perImage = staged + vSize + mSize + 2L * lanes;
    scratch = Math.max(scratch, perImage);
    steps.add(new Step.Stage(n.name(), off(n.input(0)), c, h, w, phases, 1, phases, hq, wq, perImage, grain(channelStride)));
    steps.add(new Step.WinogradInput(n.name(), m, c, hq, wq, th, tw, tp, perImage, staged, lanes));
    Step.Tile t = tile(n, chosen, o, tp);
    int pack = pack(o);
    long wOff = blob.add(n.input(1) + "#winograd" + m + "#pack" + pack, (long) a2 * o * c,
        () -> pack(Winograd.weights(data(n.input(1)), o, c, m), a2 * o, c, pack));
    long zero = blob.add("#zeros" + a2 * o, (long) a2 * o, () -> new float[a2 * o]);
    int channelTiles = a2 * o / t.r();
    steps.add(new Step.Conv(n.name(), 0, a2 * c, 1, tp, a2 * o, 1, tp, 1, 1, a2, false, Op.FusedConv.Residual.NONE,
        -1, 1, 0, 0, 0, 0, true, staged, perImage, a2 * tp, tp, tp, new int[] {0}, -1, (long) a2 * tp, tp, wOff, pack, zero, t,
        bands(chosen, Math.ceilDiv(tp, t.width()), channelTiles), (long) o * c > (long) c * tp, staged + vSize, chosen != null));
    long bOff = blob.add(n.input(2), o, () -> data(n.input(2)));
    steps.add(new Step.WinogradOutput(n.name(), m, 2 * Summary.macs(g, n), off(n.name()), o, oh, ow, th, tw, tp, perImage, staged + vSize,
        bOff, f.relu(), f.residual() == Op.FusedConv.Residual.ADD ? off(n.input(3)) : -1, lanes));
  }

  /** Weights [O][per] to [O/P][per][P]: the P output channels of one tap are adjacent. */
  static float[] pack(float[] w, int o, int per, int r) {
    float[] out = new float[w.length];
    for (int oc = 0; oc < o; oc++) {
      for (int j = 0; j < per; j++) out[((oc / r) * per + j) * r + oc % r] = w[oc * per + j];
    }
    return out;
  }

  // ---- the other layers ----

  private void dense(Node n) {
    TensorType wt = type(n.input(1));
    int out = wt.dim(0), in = wt.dim(1), padded = Math.ceilDiv(out, DENSE_GROUP) * DENSE_GROUP;
    long wOff = blob.add(n.input(1) + "#groups", (long) padded * in, () -> packDense(data(n.input(1)), out, in));
    String biasKey = n.inputs().size() > 2 ? n.input(2) + "#padded" : n.name() + "#zero-bias";
    long bOff = blob.add(biasKey, padded, () -> Arrays.copyOf(n.inputs().size() > 2 ? data(n.input(2)) : new float[0], padded));
    steps.add(new Step.Dense(n.name(), 2 * Summary.macs(g, n), off(n.input(0)), off(n.name()), in, out, wOff, bOff));
  }

  /** [out][in] to [group][in][16], zeros past out: a group's 16 outputs of one input are one vector. */
  static float[] packDense(float[] w, int out, int in) {
    float[] p = new float[Math.ceilDiv(out, DENSE_GROUP) * DENSE_GROUP * in];
    for (int m = 0; m < out; m++) {
      for (int i = 0; i < in; i++) p[((m / DENSE_GROUP) * in + i) * DENSE_GROUP + m % DENSE_GROUP] = w[m * in + i];
    }
    return p;
  }

  private void pool(Node n, boolean max, int k, int s, int p, boolean countPad) {
    TensorType x = type(n.input(0)), y = n.type();
    steps.add(new Step.Pool(n.name(), max, off(n.input(0)), off(n.name()), x.dim(1), x.dim(2), x.dim(3), y.dim(2), y.dim(3), k, s, p,
        countPad, grain((long) x.dim(2) * x.dim(3))));
  }

  /** Mean and beta as given, the scale gamma / sqrt(var + eps) computed in double and rounded once. */
  private void batchNorm(Node n, Op.BatchNorm bn) {
    TensorType x = n.type();
    int c = x.dim(1), plane = Math.toIntExact(x.elementsPerItem() / c);
    long params = blob.add(n.name() + "#bn", 3L * c, () -> {
      float[] gamma = data(n.input(1)), beta = data(n.input(2)), mean = data(n.input(3)), var = data(n.input(4));
      float[] out = new float[3 * c];
      for (int i = 0; i < c; i++) {
        out[i] = mean[i];
        out[c + i] = (float) (gamma[i] / Math.sqrt((double) var[i] + bn.eps()));
        out[2 * c + i] = beta[i];
      }
      return out;
    });
    steps.add(new Step.BatchNorm(n.name(), off(n.input(0)), off(n.name()), c, plane, params, grain(plane)));
  }

  private TensorType type(String value) {
    return g.node(value).type();
  }

  private float[] data(String constName) {
    Tensor t = g.constants().get(constName);
    return t.data();
  }

  /** Arena offset of a value in floats per image. */
  private long off(String value) {
    return mem.slot(value).offset() / 4;
  }
}
