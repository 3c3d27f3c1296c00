package resnetc.target.java;

import resnetc.ir.Op;
import resnetc.ir.TensorType;

/**
 * Every constant of one fused convolution's loop nest, fixed at compile time: shapes, the staging layout of its
 * input, and the register tile of each vector width.
 *
 * <p>The conv is an implicit matrix product over flat output positions, as in the native backend. Its input (for a
 * stride-1 1x1 conv the arena value itself, for every other conv a staged copy) is read as planes of width
 * {@code wq}: output (oy, ox) is flat position {@code oy * wq + ox}, and tap (ky, kx) reads the plane at a fixed
 * offset from it, so a vector of consecutive positions is one load per tap even across output rows. Staging zero
 * pads the input and splits it into stride phases: padded pixel (row, col) goes to phase plane (row % S, col % S)
 * at (row / S, col / S), each plane hq x wq, keeping only the min(k, S) phases per axis that a tap reads.
 * Positions with {@code ox >= ow} (the padding columns) are computed and dropped.
 *
 * <p>A task is {@link #packR} output channels x a band of position tiles. Weights are packed
 * [O/packR][C/groups][k][k][packR]. A tile keeps R x V vectors of L floats in registers across every input
 * channel and tap: with AVX-512 (32 registers, L = 16) R = packR up to 8, V up to 3; with 256-bit vectors (16
 * registers, L = 8) R up to 4, so an 8-channel task runs its tile twice, once per half of the packed channels.
 */
record ConvPlan(int c, int h, int w, int o, int oh, int ow, int k, int s, int p, int groups, boolean relu,
                Op.FusedConv.Residual residual, int resStride, int resOffset, int rc, int rh, int rw,
                boolean staged, int phases, int hq, int wq, int icStride, int[] taps, int srcPerImage, int packR, Winograd winograd) {
  /** Tasks per image a layer should offer at least, so two or more threads share even batch-1 layers. */
  static final int MIN_TASKS = 32;
  static final int WIDE = 16, NARROW = 8;

  /** The tile of one vector width: R x V vectors of L lanes, and how the task space is cut. */
  record Variant(int lanes, int r, int v, int positionTiles, int bands) {
    int width() {
      return v * lanes;
    }
  }

  /**
   * Winograd F(2x2, 3x3) for this conv (only with {@code -Dresnetc.winograd=always} at compile time), as the native
   * backend does it (with the Vector API only): the staged planes
   * (hq at least 2 th + 2 rows) are transformed into V [16][C][tp] at scratch offset v, the 16 products
   * M[xi] = U[xi] V[xi] run on the conv micro-kernel into [16][O][tp] at offset m, and the output transform adds
   * bias, residual and ReLU. tp (tiles per plane, th x tw, rounded up to 16) keeps every product vector whole.
   */
  record Winograd(int th, int tw, int tp, int v, int m) {}

  static ConvPlan of(Op.FusedConv f, TensorType x, TensorType y, TensorType res) {
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), o = y.dim(1), oh = y.dim(2), ow = y.dim(3);
    int k = f.kernel(), s = f.stride(), p = f.pad();
    boolean staged = !(k == 1 && s == 1 && p == 0);
    int phases = 1, hq = h, wq = w, icStride = h * w;
    int[] taps = new int[k * k];
    int srcPerImage = c * h * w;
    if (staged) {
      phases = Math.min(k, s);
      hq = Math.ceilDiv(h + 2 * p, s);
      wq = Math.ceilDiv(w + 2 * p, s);
      int plane = hq * wq;
      icStride = phases * phases * plane;
      for (int ky = 0; ky < k; ky++) {
        for (int kx = 0; kx < k; kx++) taps[ky * k + kx] = ((ky % s) * phases + kx % s) * plane + (ky / s) * wq + kx / s;
      }
      // The last vector of the last channel may read up to a tile row past the planes: keep that in scratch.
      int maxTap = java.util.Arrays.stream(taps).max().orElse(0);
      srcPerImage = Math.max(c * icStride, (c - 1) * icStride + maxTap + Math.ceilDiv(oh * wq, WIDE) * WIDE);
    }
    Winograd wino = null;
    // Off unless asked for (-Dresnetc.winograd=always): on one core it gains 7 % on ResNet-50, but its steps did not
    // scale to two threads (38 ms against 32 ms for the direct convs), and the cause is not found yet.
    if ("always".equals(System.getProperty("resnetc.winograd")) && resnetc.schedule.Winograd.eligible(f, c, oh, ow)) {
      int th = Math.ceilDiv(oh, 2), tw = Math.ceilDiv(ow, 2), tp = Math.ceilDiv(th * tw, WIDE) * WIDE;
      hq = Math.max(hq, 2 * th + 2);
      icStride = hq * wq;
      for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) taps[ky * 3 + kx] = ky * wq + kx;
      }
      // the transform's loads run up to 2 x 16 + 2 floats past a row: slack after the last plane
      int v = Math.max(srcPerImage, c * icStride + 2 * WIDE + 4);
      int m = v + 16 * c * tp;
      wino = new Winograd(th, tw, tp, v, m);
      srcPerImage = m + 16 * o * tp + 2 * WIDE;
    }
    int og = o / f.groups();
    int packR = og % 8 == 0 ? 8 : og % 4 == 0 ? 4 : og % 2 == 0 ? 2 : 1;
    return new ConvPlan(c, h, w, o, oh, ow, k, s, p, f.groups(), f.relu(), f.residual(), f.resStride(), f.resOffset(),
        res == null ? 0 : res.dim(1), res == null ? 0 : res.dim(2), res == null ? 0 : res.dim(3),
        staged, phases, hq, wq, icStride, taps, srcPerImage, packR, wino);
  }

  /**
   * The tile for vectors of {@code lanes} floats: R x V accumulators, V input vectors and one broadcast weight fill
   * the registers; then V is lowered as far as the number of tiles allows, so 4 vectors are 2 + 2, not 3 + 1.
   */
  Variant variant(int lanes) {
    return tile(lanes, packR, positions(), tiles());
  }

  /** The tile of {@link #variant} for any product of packR-channel tiles over flat positions. */
  static Variant tile(int lanes, int packR, int positions, int channelTiles) {
    int regs = lanes == WIDE ? 32 : 16;
    int r = Math.min(packR, lanes == WIDE ? 8 : 4);
    int v = Math.max(1, (regs - 1) / (r + 1));
    int vectors = Math.ceilDiv(positions, lanes);
    v = Math.ceilDiv(vectors, Math.ceilDiv(vectors, v));
    int positionTiles = Math.ceilDiv(positions, v * lanes);
    int bands = Math.min(positionTiles, Math.ceilDiv(MIN_TASKS, channelTiles));
    return new Variant(lanes, r, v, positionTiles, bands);
  }

  int cg() {
    return c / groups;
  }

  int og() {
    return o / groups;
  }

  int kk() {
    return k * k;
  }

  int tiles() {
    return o / packR;
  }

  /** Flat positions computed per channel. */
  int positions() {
    return oh * wq;
  }

  /** Accumulators go straight to the output: rows are contiguous in the flat space and the residual is aligned. */
  boolean direct() {
    return wq == ow && residual != Op.FusedConv.Residual.SUBSAMPLE;
  }

  /**
   * Task t is task t / n of image t % n when the weights outweigh the input: a thread's range of tasks then covers
   * every image of a weight tile before the next, so the tile is read once per batch, not once per image.
   */
  boolean imageMinor() {
    return (long) o * cg() * kk() > (long) c * h * w;
  }

  /** Weights are packed [O/packR][C/groups][k][k][packR]: the packR output channels of one tap are adjacent. */
  int packedWeights() {
    return o * cg() * kk();
  }

  String describe() {
    Variant wide = variant(WIDE), narrow = variant(NARROW);
    return String.format("%dx%d/%d conv %d->%d%s, %dx%d -> %dx%d, tile %d oc x %d x 16 px (AVX-512) or %d oc x %d x 8 px%s%s",
        k, k, s, c, o, groups > 1 ? " groups " + groups : "", h, w, oh, ow, wide.r(), wide.v(), narrow.r(), narrow.v(),
        residual == Op.FusedConv.Residual.NONE ? "" : ", + residual (" + residual.name().toLowerCase() + ")", relu ? ", relu" : "");
  }
}
