package resnetc.target.llvm;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import resnetc.schedule.WeightsBlob;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Summary;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.passes.DeadCodeElimination;
import resnetc.passes.FuseConv;
import resnetc.analysis.MemoryPlan;
import resnetc.analysis.ArenaPlanner;

/**
 * Plans the native code of an optimized graph: one or more steps per layer, each a {@link Kernel} whose shapes,
 * offsets and tile sizes are literals, plus the weights blob in the layout the kernels read. {@link LlvmKernels}
 * turns the kernels into LLVM IR; this class needs LLVM only to name the host CPU.
 *
 * <p>Memory is the Java backend's: one activation arena planned by {@link ArenaPlanner} at batch 1, every value
 * per-image contiguous and batch-major, so at batch n every offset is multiplied by n. Convs other than stride-1
 * 1x1 ones first stage their input into scratch (see {@link Stage} and {@link Conv}). Conv tiles use vectors of 8
 * floats (AVX2), or of 16 floats when the CPU has AVX-512 (see {@link #tile}).
 */
public final class NativeCodegen {
  /** Tasks per image a step should offer at least, so two or more threads share even batch-1 layers. */
  static final int MIN_TASKS = 32;
  /** Floats per elementwise task. */
  static final int CHUNK = 8192;

  private NativeCodegen() {}

  /**
   * The program for an optimized graph (as {@code JavaTarget.optimize} makes it) compiled for {@code cpu}: an LLVM
   * CPU name, {@code native} for the host's CPU and features, or null for {@value LlvmTarget#DEFAULT_CPU}. CPUs
   * without FMA are refused. The weights are null when the graph has none bound.
   */
  public static NativeProgram program(Graph optimized, String cpu) {
    return plan(optimized, cpu).program();
  }

  /** A program with the kernels behind its steps, in the same order. */
  record Plan(NativeProgram program, List<Kernel> kernels, LlvmTarget.Cpu cpu) {}

  static Plan plan(Graph optimized, String cpu) {
    Graph g = optimized;
    if (g.nodes().stream().anyMatch(n -> n.op() instanceof Op.Conv2d)) g = new DeadCodeElimination().run(new FuseConv().run(g));
    return new Planner(g, LlvmTarget.resolve(cpu)).run();
  }

  // ---- the kernels: everything literal, offsets in floats per image ----

  /** One exported function over a task space of n * tasksPerImage tasks. */
  sealed interface Kernel {
    String symbol();

    String layer();

    int tasksPerImage();

    long flopsPerImage();

    /**
     * Task t is task t / n of image t % n rather than task t % tasksPerImage of image t / tasksPerImage: a thread's
     * range of tasks then covers every image of a task before the next, so a conv whose weights outweigh its input
     * reads each weight tile once per batch, not once per image.
     */
    default boolean imageMinor() {
      return false;
    }
  }

  /**
   * Stages a conv input into scratch: zero padded and split into stride phases. Padded pixel (row, col) of
   * channel c goes to phase plane (row % S, col % S) at (row / S, col / S); each plane is hq x wq, and only the
   * phases a tap reads are kept ({@code phases} = min(k, S) per axis). A stride-S conv then reads, for tap
   * (ky, kx), the plane (ky % S, kx % S) shifted by (ky / S, kx / S): one contiguous run per output row.
   *
   * @param perImage staged floats per image, including room for the conv's reads past the last plane
   */
  record Stage(String symbol, String layer, long x, int c, int h, int w, int s, int pad, int phases, int hq, int wq, long perImage)
      implements Kernel {
    public int tasksPerImage() { return c; }
    public long flopsPerImage() { return 0; }
    int plane() { return hq * wq; }
    int channelStride() { return phases * phases * plane(); }
  }

  /**
   * A fused conv as an implicit matrix product over flat output positions. The input (staged, or for a stride-1
   * 1x1 conv the arena value itself) is read as planes of width {@code wq}: output (oy, ox) is flat position
   * {@code oy * wq + ox}, and every tap reads the plane at a fixed offset from it, so a vector of consecutive
   * positions is one load per tap even across output rows. Positions with {@code ox >= ow} (the padding columns)
   * are computed and dropped. A task is R output channels x a band of position tiles; a tile keeps R x V vectors
   * of L positions in registers across all input channels and taps.
   *
   * @param src the input's arena offset when unstaged, its offset in the image's scratch when staged
   * @param srcPerImage input floats per image
   * @param icStride floats between input channels
   * @param taps offset of each tap (ky, kx) from flat position q, row by row
   * @param y output offset
   * @param weights packed weights [O/R][C/groups][k][k][R] in the blob
   * @param bias bias in the blob
   * @param r residual value offset (-1 without)
   * @param bands position bands per output-channel tile
   * @param yScratch where the output goes in scratch, per image (after the staged input), or -1 for the arena
   */
  record Conv(String symbol, String layer, long flops, int c, int o, int oh, int ow, int k, int groups, boolean relu,
              Op.FusedConv.Residual residual, long r, int resStride, int resOffset, int rc, int rh, int rw,
              boolean staged, long src, long srcPerImage, int icStride, int wq, int[] taps, long y,
              long weights, long bias, int tileR, int tileV, int lanes, int bands, boolean imageMinor, long yScratch) implements Kernel {
    public long flopsPerImage() { return flops; }
    public int tasksPerImage() { return tiles() * bands; }
    int cg() { return c / groups; }
    int og() { return o / groups; }
    int tiles() { return o / tileR; }
    /** Flat positions computed per channel. */
    int positions() { return oh * wq; }
    /** Output rows and columns are contiguous in the flat space: no padding columns to drop. */
    boolean line() { return wq == ow; }
    int tileWidth() { return tileV * lanes; }
    int positionTiles() { return Math.ceilDiv(positions(), tileWidth()); }
    int kk() { return k * k; }
  }

  /** x[K] . w[m][K] + bias[m], in double, for a chunk of outputs m per task. */
  record Dense(String symbol, String layer, long flops, long x, long y, int in, int out, long weights, long bias, int chunk) implements Kernel {
    public int tasksPerImage() { return Math.ceilDiv(out, chunk); }
    public long flopsPerImage() { return flops; }
  }

  /** Max or average pooling of one channel plane per task. */
  record Pool(String symbol, String layer, boolean max, long x, long y, int c, int h, int w, int oh, int ow, int k, int s, int pad,
              boolean countPad) implements Kernel {
    public int tasksPerImage() { return c; }
    public long flopsPerImage() { return 0; }
  }

  /** Mean of one channel plane per task, summed in double. */
  record GlobalAvgPool(String symbol, String layer, long x, long y, int c, int plane) implements Kernel {
    public int tasksPerImage() { return c; }
    public long flopsPerImage() { return 0; }
  }

  /** (x - mean) * scale + beta per channel in double; {@code params} holds mean[c], scale[c], beta[c]. */
  record BatchNorm(String symbol, String layer, long x, long y, int c, int plane, long params) implements Kernel {
    public int tasksPerImage() { return c; }
    public long flopsPerImage() { return 0; }
  }

  /** y = relu(x) or y = x + z over chunks of the per-image size. */
  record Elementwise(String symbol, String layer, boolean add, long x, long z, long y, long size) implements Kernel {
    public int tasksPerImage() { return Math.toIntExact(Math.ceilDiv(size, CHUNK)); }
    public long flopsPerImage() { return 0; }
  }

  record Softmax(String symbol, String layer, long x, long y, int len) implements Kernel {
    public int tasksPerImage() { return 1; }
    public long flopsPerImage() { return 0; }
  }

  /** Option-A shortcut materialized: one output channel per task. */
  record SubsamplePad(String symbol, String layer, long x, long y, int c, int h, int w, int oc, int oh, int ow, int s, int before)
      implements Kernel {
    public int tasksPerImage() { return oc; }
    public long flopsPerImage() { return 0; }
  }

  /**
   * The Winograd input transform: one input channel per task, from its staged zero-padded hq x wq plane (scratch
   * offset 0 per image) into [16][C][tp] at scratch offset v per image.
   */
  record WinoIn(String symbol, String layer, int c, int hq, int wq, int th, int tw, int tp, long perImage, long v, int lanes) implements Kernel {
    public int tasksPerImage() { return c; }
    public long flopsPerImage() { return 0; }
  }

  /** The Winograd output transform: one output channel per task, from [16][O][tp] at scratch offset m per image. */
  record WinoOut(String symbol, String layer, long flops, long y, int o, int oh, int ow, int th, int tw, int tp, long perImage, long m,
                 long bias, boolean relu, long r, int lanes) implements Kernel {
    public int tasksPerImage() { return o; }
    public long flopsPerImage() { return flops; }
  }

  // ---- planning ----

  /** The register tile of a conv: R output channels x V vectors of L floats. */
  record Tile(int r, int v, int lanes) {}

  /**
   * The register tile: R x V accumulators, V input vectors and a broadcast weight fill the vector registers (16
   * with AVX2: 4 x 3 of 8 floats; 32 with AVX-512: 8 x 3 of 16 floats); R is the largest that divides the channels
   * per group. Then V is lowered as far as the number of tiles allows, so 4 vectors are 2 + 2 rather than 3 + 1.
   * (Measured on Zen 5: narrower tiles with more channels, or fewer channels with more vectors, are slower even
   * where they would waste fewer lanes: each tap's loads and the FMA latency of few accumulators cost more.)
   */
  static Tile tile(int og, int positions, LlvmTarget.Cpu cpu) {
    int lanes = cpu.avx512() ? 16 : 8, regs = cpu.avx512() ? 32 : 16;
    int r = 1;
    for (int cand : cpu.avx512() ? new int[] {8, 4, 2, 1} : new int[] {4, 2, 1}) {
      if (og % cand == 0) {
        r = cand;
        break;
      }
    }
    int v = Math.max(1, (regs - 1) / (r + 1));
    int vectors = Math.ceilDiv(positions, lanes);
    v = Math.ceilDiv(vectors, Math.ceilDiv(vectors, v));
    return new Tile(r, v, lanes);
  }

  private static final class Planner {
    private final Graph g;
    private final LlvmTarget.Cpu cpu;
    private final MemoryPlan mem;
    private final List<Kernel> kernels = new ArrayList<>();
    private final WeightsBlob blob;
    private final Set<String> symbols = new HashSet<>();
    private final String prefix;
    private long scratch;

    Planner(Graph g, LlvmTarget.Cpu cpu) {
      this.g = g;
      this.cpu = cpu;
      this.mem = ArenaPlanner.plan(g, 1);
      this.blob = new WeightsBlob(g.hasWeights());
      this.prefix = "rn_" + sanitize(g.name()) + "_";
    }

    Plan run() {
      for (Node n : g.nodes()) {
        switch (n.op()) {
          case Op.Input i -> { }
          case Op.Const c -> { }
          case Op.FusedConv f -> conv(n, f);
          case Op.Dense d -> dense(n);
          case Op.MaxPool p -> pool(n, true, p.kernel(), p.stride(), p.pad(), false);
          case Op.AvgPool p -> pool(n, false, p.kernel(), p.stride(), p.pad(), p.countPad());
          case Op.GlobalAvgPool p -> {
            TensorType x = type(n.input(0));
            kernels.add(new GlobalAvgPool(symbol(n, ""), n.name(), off(n.input(0)), off(n.name()), x.dim(1), x.dim(2) * x.dim(3)));
          }
          case Op.BatchNorm bn -> batchNorm(n, bn);
          case Op.Relu r -> kernels.add(new Elementwise(symbol(n, ""), n.name(), false, off(n.input(0)), -1, off(n.name()), n.type().elementsPerItem()));
          case Op.Add a -> kernels.add(new Elementwise(symbol(n, ""), n.name(), true, off(n.input(0)), off(n.input(1)), off(n.name()),
              n.type().elementsPerItem()));
          case Op.Softmax s -> kernels.add(new Softmax(symbol(n, ""), n.name(), off(n.input(0)), off(n.name()), n.type().dim(1)));
          case Op.SubsamplePad p -> {
            TensorType x = type(n.input(0)), y = n.type();
            kernels.add(new SubsamplePad(symbol(n, ""), n.name(), off(n.input(0)), off(n.name()), x.dim(1), x.dim(2), x.dim(3), y.dim(1),
                y.dim(2), y.dim(3), p.stride(), p.before()));
          }
          default -> throw new IllegalArgumentException("the native backend cannot compile " + n.op().mnemonic() + " (%" + n.name() + ")");
        }
      }
      List<NativeProgram.Step> steps = kernels.stream()
          .map(k -> new NativeProgram.Step(k.symbol(), k.layer(), k.tasksPerImage(), k.flopsPerImage(),
              Summary.kind(g.node(k.layer())), g.node(k.layer()).type().itemShape())).toList();
      TensorType in = g.input().type();
      NativeProgram p = new NativeProgram(g.name(), steps, blob.toArray(), mem.arenaBytes() / 4, scratch,
          off(g.input().name()), off(g.output()), Math.toIntExact(in.elementsPerItem()), Math.toIntExact(g.outputType().elementsPerItem()),
          cpu.name(), cpu.features());
      return new Plan(p, List.copyOf(kernels), cpu);
    }

    private void conv(Node n, Op.FusedConv f) {
      if (resnetc.schedule.Winograd.eligible(f, type(n.input(0)).dim(1), n.type().dim(2), n.type().dim(3))) {
        winograd(n, f);
        return;
      }
      TensorType x = type(n.input(0)), y = n.type();
      TensorType res = n.inputs().size() > 3 ? type(n.input(3)) : null;
      int c = x.dim(1), h = x.dim(2), w = x.dim(3), o = y.dim(1), oh = y.dim(2), ow = y.dim(3);
      int k = f.kernel(), s = f.stride(), p = f.pad(), groups = f.groups();
      boolean staged = !(k == 1 && s == 1 && p == 0);
      int wq, icStride;
      int[] taps = new int[k * k];
      long src, srcPerImage;
      Tile t;
      if (staged) {
        int phases = Math.min(k, s), hq = Math.ceilDiv(h + 2 * p, s);
        wq = Math.ceilDiv(w + 2 * p, s);
        int plane = hq * wq;
        icStride = phases * phases * plane;
        for (int ky = 0; ky < k; ky++) {
          for (int kx = 0; kx < k; kx++) taps[ky * k + kx] = ((ky % s) * phases + kx % s) * plane + (ky / s) * wq + kx / s;
        }
        t = tile(o / groups, oh * wq, cpu);
        // The last vector of the last channel may read up to a tile row past the planes: keep that inside scratch.
        long reach = (long) (c - 1) * icStride + max(taps) + (long) Math.ceilDiv(oh * wq, t.lanes()) * t.lanes();
        srcPerImage = Math.max((long) c * icStride, reach);
        src = 0;
        scratch = Math.max(scratch, srcPerImage);
        kernels.add(new Stage(symbol(n, "stage"), n.name(), off(n.input(0)), c, h, w, s, p, phases, hq, wq, srcPerImage));
      } else {
        wq = w;
        icStride = h * w;
        t = tile(o / groups, oh * ow, cpu);
        src = off(n.input(0));
        srcPerImage = (long) c * h * w;
      }
      int cg = c / groups;
      Tile tl = t;
      long wOff = blob.add(n.input(1) + "#r" + t.r(), o * cg * k * k, () -> pack(data(n.input(1)).data(), o, cg * k * k, tl.r()));
      long bOff = blob.add(n.input(2), o, () -> data(n.input(2)).data());
      int tiles = o / t.r(), positionTiles = Math.ceilDiv(oh * wq, t.v() * t.lanes());
      int bands = Math.min(positionTiles, Math.ceilDiv(MIN_TASKS, tiles));
      kernels.add(new Conv(symbol(n, "conv"), n.name(), 2 * Summary.macs(g, n), c, o, oh, ow, k, groups, f.relu(), f.residual(),
          res == null ? -1 : off(n.input(3)), f.resStride(), f.resOffset(), res == null ? 0 : res.dim(1), res == null ? 0 : res.dim(2),
          res == null ? 0 : res.dim(3), staged, src, srcPerImage, icStride, wq, taps, off(n.name()), wOff, bOff,
          t.r(), t.v(), t.lanes(), bands, (long) o * cg * k * k > (long) c * h * w, -1));
    }

    /**
     * A 3x3 stride-1 conv by Winograd's F(2x2, 3x3): 16 multiplications per 2x2 outputs and input channel instead
     * of 36. Four steps: the input staged zero padded (as for a direct conv); the input transform V = B^T d B of
     * every 4x4 tile (at stride 2) into scratch as 16 planes [16][C][tp]; the 16 independent products M[xi] = U[xi] V[xi], which are exactly a
     * 1x1 conv with 16 groups from 16C to 16O channels over tp positions, so they run on the conv micro-kernel;
     * and the output transform Y = A^T M A with the bias, the residual and ReLU. U = G g G^T is computed here in
     * double. The summation order differs from the direct conv's, so results differ in the last bits (measured
     * against the interpreter by the native backend's tests).
     */
    private void winograd(Node n, Op.FusedConv f) {
      TensorType x = type(n.input(0)), y = n.type();
      int c = x.dim(1), h = x.dim(2), w = x.dim(3), o = y.dim(1), oh = y.dim(2), ow = y.dim(3);
      int lanes = cpu.avx512() ? 16 : 8;
      int th = Math.ceilDiv(oh, 2), tw = Math.ceilDiv(ow, 2), tp = Math.ceilDiv(th * tw, lanes) * lanes;
      // Staged zero-padded planes, tall enough for the last tile row; the transform's loads run up to 2L + 2
      // floats past a row, so the last plane is followed by slack (then V, which it may read and drop).
      int hq = Math.max(h + 2, 2 * th + 2), wq = w + 2;
      long staged = (long) c * hq * wq + 2L * lanes + 4, vSize = 16L * c * tp, mSize = 16L * o * tp;
      long perImage = staged + vSize + mSize + 2L * lanes;
      scratch = Math.max(scratch, perImage);
      kernels.add(new Stage(symbol(n, "stage"), n.name(), off(n.input(0)), c, h, w, 1, 1, 1, hq, wq, perImage));
      kernels.add(new WinoIn(symbol(n, "wino_in"), n.name(), c, hq, wq, th, tw, tp, perImage, staged, lanes));
      Tile t = tile(o, tp, cpu);
      long wOff = blob.add(n.input(1) + "#wino#r" + t.r(), 16 * o * c,
          () -> pack(resnetc.schedule.Winograd.weights(data(n.input(1)).data(), o, c), 16 * o, c, t.r()));
      long zero = blob.add("#zeros" + 16 * o, 16 * o, () -> new float[16 * o]);
      int tiles = 16 * o / t.r(), positionTiles = Math.ceilDiv(tp, t.v() * t.lanes());
      int bands = Math.min(positionTiles, Math.ceilDiv(MIN_TASKS, tiles));
      kernels.add(new Conv(symbol(n, "wino_gemm"), n.name(), 0, 16 * c, 16 * o, 1, tp, 1, 16, false, Op.FusedConv.Residual.NONE,
          -1, 1, 0, 0, 0, 0, true, staged, perImage, tp, tp, new int[] {0}, -1, wOff, zero, t.r(), t.v(), t.lanes(), bands,
          (long) o * c > (long) c * tp, staged + vSize));
      long bOff = blob.add(n.input(2), o, () -> data(n.input(2)).data());
      kernels.add(new WinoOut(symbol(n, "wino_out"), n.name(), 2 * Summary.macs(g, n), off(n.name()), o, oh, ow, th, tw, tp, perImage,
          staged + vSize, bOff, f.relu(), f.residual() == Op.FusedConv.Residual.ADD ? off(n.input(3)) : -1, lanes));
    }

    private void dense(Node n) {
      TensorType wt = type(n.input(1));
      int out = wt.dim(0), in = wt.dim(1);
      long wOff = blob.add(n.input(1), out * in, () -> data(n.input(1)).data());
      long bOff = n.inputs().size() > 2 ? blob.add(n.input(2), out, () -> data(n.input(2)).data()) : -1;
      int chunk = Math.max(1, Math.ceilDiv(out, 8));
      kernels.add(new Dense(symbol(n, ""), n.name(), 2 * Summary.macs(g, n), off(n.input(0)), off(n.name()), in, out, wOff, bOff, chunk));
    }

    private void pool(Node n, boolean max, int k, int s, int p, boolean countPad) {
      TensorType x = type(n.input(0)), y = n.type();
      kernels.add(new Pool(symbol(n, ""), n.name(), max, off(n.input(0)), off(n.name()), x.dim(1), x.dim(2), x.dim(3), y.dim(2), y.dim(3),
          k, s, p, countPad));
    }

    /** Mean and beta as given, the scale gamma / sqrt(var + eps) computed in double and rounded once. */
    private void batchNorm(Node n, Op.BatchNorm bn) {
      TensorType x = n.type();
      int c = x.dim(1), plane = Math.toIntExact(x.elementsPerItem() / c);
      long params = blob.add(n.name() + "#bn", 3 * c, () -> {
        float[] gamma = data(n.input(1)).data(), beta = data(n.input(2)).data(), mean = data(n.input(3)).data(), var = data(n.input(4)).data();
        float[] out = new float[3 * c];
        for (int i = 0; i < c; i++) {
          out[i] = mean[i];
          out[c + i] = (float) (gamma[i] / Math.sqrt((double) var[i] + bn.eps()));
          out[2 * c + i] = beta[i];
        }
        return out;
      });
      kernels.add(new BatchNorm(symbol(n, ""), n.name(), off(n.input(0)), off(n.name()), c, plane, params));
    }

    /** Weights [O][per] to [O/R][per][R]: the R output channels of one tap are adjacent. */
    private static float[] pack(float[] w, int o, int per, int r) {
      float[] out = new float[w.length];
      for (int oc = 0; oc < o; oc++) {
        for (int j = 0; j < per; j++) out[((oc / r) * per + j) * r + oc % r] = w[oc * per + j];
      }
      return out;
    }

    private static int max(int[] v) {
      int m = Integer.MIN_VALUE;
      for (int x : v) m = Math.max(m, x);
      return m;
    }

    private TensorType type(String value) {
      return g.node(value).type();
    }

    private Tensor data(String constName) {
      return g.constants().get(constName);
    }

    /** Arena offset of a value in floats per image. */
    private long off(String value) {
      return mem.slot(value).offset() / 4;
    }

    private String symbol(Node n, String suffix) {
      String base = prefix + sanitize(n.name()) + (suffix.isEmpty() ? "" : "_" + suffix);
      String s = base;
      for (int i = 2; !symbols.add(s); i++) s = base + "_" + i;
      return s;
    }

    private static String sanitize(String s) {
      return s.replaceAll("[^A-Za-z0-9_]", "_");
    }

  }
}
