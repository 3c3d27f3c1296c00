package resnetc.schedule;

import resnetc.ir.Op;

/**
 * One step of a {@link Schedule}: a loop nest over a task space of {@code n * tasksPerImage()} tasks (n = the
 * batch), every shape, offset and tile size fixed. Offsets are in floats per image: at batch n an arena offset is
 * multiplied by n and image b starts {@code b * perImage} floats further. Steps run in order; the tasks of one step
 * write disjoint memory, so any thread may run any task. Both targets emit exactly these steps.
 */
public sealed interface Step {
  /** The graph value (layer) the step computes; a conv's staging and transform steps name their conv. */
  String layer();

  int tasksPerImage();

  /** Floating-point operations per image (2 x multiply-adds of convs and dense layers; 0 for the rest). */
  default long flopsPerImage() {
    return 0;
  }

  /**
   * Task t is task t / n of image t % n rather than task t % tasksPerImage of image t / tasksPerImage: a thread's
   * range of tasks then covers every image of a task before the next, so a step whose weights outweigh its input
   * reads each weight tile once per batch, not once per image.
   */
  default boolean imageMinor() {
    return false;
  }

  /**
   * Consecutive tasks one job of the thread team takes at least: memory-bound tasks are grouped so a job touches
   * {@link Scheduler#JOB_FLOATS} floats or more, and a small layer is a single job on the calling thread.
   */
  default int grain() {
    return 1;
  }

  /** The step's name in the schedule's text form. */
  String kind();

  /**
   * Stages a conv input into scratch: zero padded and split into stride phases. Padded pixel (row, col) of channel
   * c goes to phase plane (row % S, col % S) at (row / S, col / S); each plane is hq x wq, and only the phases a
   * tap reads are kept ({@code phases} = min(k, S) per axis). A stride-S conv then reads, for tap (ky, kx), the
   * plane (ky % S, kx % S) shifted by (ky / S, kx / S): one contiguous run per output row. One channel per task.
   *
   * @param x the input's arena offset
   * @param perImage scratch floats per image of the conv (image b's staged planes start at {@code b * perImage})
   */
  record Stage(String layer, long x, int c, int h, int w, int s, int pad, int phases, int hq, int wq, long perImage, int grain)
      implements Step {
    public int tasksPerImage() { return c; }
    public String kind() { return "stage"; }
    public int plane() { return hq * wq; }
    public int channelStride() { return phases * phases * plane(); }
  }

  /** The register tile of a conv: R output channels x V vectors of L floats. */
  record Tile(int r, int v, int lanes) {
    public int width() {
      return v * lanes;
    }
  }

  /**
   * A fused conv as an implicit matrix product over flat output positions. The input (staged, or for a stride-1
   * 1x1 conv the arena value itself) is read as planes of width {@code wq}: output (oy, ox) is flat position
   * {@code oy * wq + ox}, and every tap reads the plane at a fixed offset from it, so a vector of consecutive
   * positions is one load per tap even across output rows. Positions with {@code ox >= ow} (the padding columns)
   * are computed and dropped. A task is {@code tile.r()} output channels x a band of position tiles; a tile keeps
   * R x V vectors of L positions in registers across all input channels and taps, from the bias, adding input
   * channels in order and taps row by row (the interpreter's summation order).
   *
   * @param c input channels, h and w the input plane (for the cost model and the description)
   * @param src the input's arena offset when unstaged, its offset in the image's scratch when staged
   * @param srcPerImage floats per image of the input region (the image stride in the arena or scratch)
   * @param icStride floats between input channels of a group
   * @param groupStride floats between the first input channels of consecutive groups ({@code cg * icStride}, except
   *     for Winograd products, whose scratch is [channel][a^2][tp])
   * @param taps offset of each tap (ky, kx) from flat position q, row by row
   * @param y output arena offset (unused when {@code yScratch >= 0})
   * @param ocStride floats between output channels of a group ({@code oh * ow} in the arena)
   * @param yGroupStride floats between the first output channels of consecutive groups ({@code og * ocStride} in
   *     the arena)
   * @param weights packed weights [O/P][C/groups][k][k][P] in the blob, P = {@code pack}: the same packing for every
   *     CPU (P is the widest tile's channel count), so one blob serves libraries for several ISAs; a tile of R <= P
   *     channels reads its R of each group of P
   * @param bias bias (O floats) in the blob
   * @param r residual arena offset, -1 without
   * @param yScratch the output's offset in the image's scratch (Winograd products), or -1 for the arena
   * @param tuned the tile and bands are a tuning record's measured choice, not the rules'
   */
  record Conv(String layer, long flopsPerImage, int c, int h, int w, int o, int oh, int ow, int k, int s, int groups, boolean relu,
              Op.FusedConv.Residual residual, long r, int resStride, int resOffset, int rc, int rh, int rw,
              boolean staged, long src, long srcPerImage, int icStride, long groupStride, int wq, int[] taps, long y, long ocStride,
              long yGroupStride, long weights, int pack, long bias, Tile tile, int bands, boolean imageMinor, long yScratch, boolean tuned) implements Step {
    public int tasksPerImage() { return channelTiles() * bands; }
    public String kind() { return yScratch >= 0 ? "winograd_products" : "conv"; }
    public int cg() { return c / groups; }
    public int og() { return o / groups; }
    public int channelTiles() { return o / tile.r(); }
    public int kk() { return k * k; }
    /** Flat positions computed per output channel. */
    public int positions() { return oh * wq; }
    public int positionTiles() { return Math.ceilDiv(positions(), tile.width()); }
    /** Output rows are contiguous in the flat space: no padding columns to drop. */
    public boolean line() { return wq == ow; }
  }

  /**
   * The Winograd input transform V = B^T d B of F(m x m, 3x3): one input channel per task, from its staged
   * zero-padded input (scratch offset 0 per image) into [C][a^2][tp] at scratch offset {@code v} per image, a = m + 2;
   * tp = th x tw tiles rounded up to whole vectors of {@code lanes}. The staging is one hq x wq plane per channel
   * for m = 2 (tile (ty, tx) starts at row 2ty, column 2tx); for m = 4 it is split into 4 x 4 stride phases of
   * hq x wq each, so that element (i, j) of tile (ty, tx) is phase (i % 4, j % 4) at (ty + i / 4, tx + j / 4): a
   * vector of L consecutive tiles is one plain load.
   */
  record WinogradInput(String layer, int m, int c, int hq, int wq, int th, int tw, int tp, long perImage, long v, int lanes) implements Step {
    public int tasksPerImage() { return c; }
    public String kind() { return "winograd_in"; }
  }

  /**
   * The Winograd output transform Y = A^T M A of F(m x m, 3x3), then the bias, the residual and ReLU: one output
   * channel per task, from [O][a^2][tp] at scratch offset {@code products} per image.
   */
  record WinogradOutput(String layer, int m, long flopsPerImage, long y, int o, int oh, int ow, int th, int tw, int tp, long perImage,
                        long products, long bias, boolean relu, long r, int lanes) implements Step {
    public int tasksPerImage() { return o; }
    public String kind() { return "winograd_out"; }
  }

  /**
   * {@code y[m] = bias[m] + sum x[i] w[m][i]} for {@link Scheduler#DENSE_TASK} outputs per task, weights packed in
   * groups of {@link Scheduler#DENSE_GROUP} outputs {@code [group][in][16]} (zeros past the last output), the bias
   * padded to whole groups. Image minor: a task's weights are read once per batch.
   */
  record Dense(String layer, long flopsPerImage, long x, long y, int in, int out, long weights, long bias) implements Step {
    public int tasksPerImage() { return Math.ceilDiv(out, Scheduler.DENSE_TASK); }
    public boolean imageMinor() { return true; }
    public String kind() { return "dense"; }
  }

  /** Max or average pooling of one channel plane per task. */
  record Pool(String layer, boolean max, long x, long y, int c, int h, int w, int oh, int ow, int k, int s, int pad, boolean countPad,
              int grain) implements Step {
    public int tasksPerImage() { return c; }
    public String kind() { return max ? "maxpool" : "avgpool"; }
  }

  /** The mean of one channel plane per task, summed in double. */
  record GlobalAvgPool(String layer, long x, long y, int c, int plane, int grain) implements Step {
    public int tasksPerImage() { return c; }
    public String kind() { return "global_avgpool"; }
  }

  /** {@code (x - mean) * scale + beta} per channel plane in double; {@code params} holds mean[c], scale[c], beta[c]. */
  record BatchNorm(String layer, long x, long y, int c, int plane, long params, int grain) implements Step {
    public int tasksPerImage() { return c; }
    public String kind() { return "batchnorm"; }
  }

  /** {@code y = relu(x)} or {@code y = x + z} over {@link Scheduler#CHUNK} floats of one image per task. */
  record Elementwise(String layer, boolean add, long x, long z, long y, long size) implements Step {
    public int tasksPerImage() { return Math.toIntExact(Math.ceilDiv(size, Scheduler.CHUNK)); }
    public String kind() { return add ? "add" : "relu"; }
  }

  /** Softmax of one image per task: exp(x - max) in double, divided by their sum. */
  record Softmax(String layer, long x, long y, int len) implements Step {
    public int tasksPerImage() { return 1; }
    public int grain() { return Integer.MAX_VALUE; }
    public String kind() { return "softmax"; }
  }

  /** The option-A shortcut materialized: output channel {@code ch} is input channel {@code ch - before} at stride S, or zeros. */
  record SubsamplePad(String layer, long x, long y, int c, int h, int w, int oc, int oh, int ow, int s, int before, int grain)
      implements Step {
    public int tasksPerImage() { return oc; }
    public String kind() { return "subsample_pad"; }
  }

  /** {@code (x / div - mean[c]) / std[c]} in float, one channel plane per task (graphs that keep their normalization). */
  record Normalize(String layer, long x, long y, int c, int plane, float div, float[] mean, float[] std, int grain) implements Step {
    public int tasksPerImage() { return c; }
    public String kind() { return "normalize"; }
  }
}
