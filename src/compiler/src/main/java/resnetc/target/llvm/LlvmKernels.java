package resnetc.target.llvm;

import static org.bytedeco.llvm.global.LLVM.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;
import resnetc.ir.Op;
import resnetc.schedule.Schedule;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Step;
import resnetc.schedule.Step.BatchNorm;
import resnetc.schedule.Step.Conv;
import resnetc.schedule.Step.Dense;
import resnetc.schedule.Step.Elementwise;
import resnetc.schedule.Step.GlobalAvgPool;
import resnetc.schedule.Step.Normalize;
import resnetc.schedule.Step.Pool;
import resnetc.schedule.Step.Softmax;
import resnetc.schedule.Step.Stage;
import resnetc.schedule.Step.SubsamplePad;
import resnetc.schedule.Step.WinogradInput;
import resnetc.schedule.Step.WinogradOutput;
import resnetc.schedule.CpuModel;

/**
 * Emits the LLVM IR of a {@link Schedule}: one function per step,
 * {@code void step(float* a, const float* w, float* s, i32 n, i32 begin, i32 end)}, looping over its tasks. All
 * shapes and offsets are literals (offsets times the run-time n). The summation order of every output matches the
 * reference interpreter: convs start from the bias and add input channels in order, taps row by row, each step an
 * explicit {@code llvm.fma} (no fast-math flags anywhere, so LLVM may not reassociate); pools, dense, batchnorm
 * and softmax work in double as the interpreter does.
 */
final class LlvmKernels {
  private final LlvmIr ir;
  private final CpuModel cpu;
  private LLVMValueRef a, w, s;

  private LlvmKernels(LlvmIr ir, CpuModel cpu) {
    this.ir = ir;
    this.cpu = cpu;
  }

  /** Adds every step of the schedule to the module of {@code ir}, step i as function {@code symbols.get(i)}. */
  static void emit(LlvmIr ir, Schedule schedule, List<String> symbols) {
    LlvmKernels k = new LlvmKernels(ir, schedule.cpu());
    for (int i = 0; i < symbols.size(); i++) k.kernel(schedule.steps().get(i), symbols.get(i));
  }

  /** The task a step is working on: image b, task j within the image; n is the batch. */
  private record Task(LLVMValueRef n, LLVMValueRef b, LLVMValueRef j) {}

  private interface TaskBody {
    void emit(Task t);
  }

  private void kernel(Step step, String symbol) {
    switch (step) {
      case Stage st when st.phases() == 4 && st.s() == 4 -> step(symbol, st, t -> stagePhases4(st, t));
      case Stage st -> step(symbol, st, t -> stage(st, t));
      case Conv c -> step(symbol, c, t -> conv(c, t));
      case Dense d -> step(symbol, d, t -> dense(d, t));
      case Pool p -> step(symbol, p, t -> pool(p, t));
      case GlobalAvgPool p -> step(symbol, p, t -> globalAvgPool(p, t));
      case BatchNorm bn -> step(symbol, bn, t -> batchNorm(bn, t));
      case Elementwise e -> step(symbol, e, t -> elementwise(e, t));
      case Softmax sm -> step(symbol, sm, t -> softmax(sm, t));
      case SubsamplePad sp -> step(symbol, sp, t -> subsamplePad(sp, t));
      case Normalize z -> step(symbol, z, t -> normalize(z, t));
      case WinogradInput wi when wi.m() == 4 -> step(symbol, wi, t -> winoIn4(wi, t));
      case WinogradInput wi -> step(symbol, wi, t -> winoIn(wi, t));
      case WinogradOutput wo when wo.m() == 4 -> step(symbol, wo, t -> winoOut4(wo, t));
      case WinogradOutput wo -> step(symbol, wo, t -> winoOut(wo, t));
    }
  }

  /**
   * The exported function: for t in [begin, end): image t / tasksPerImage, task t % tasksPerImage (or, image
   * minor, image t % n, task t / n).
   */
  private void step(String symbol, Step k, TaskBody body) {
    ir.function(symbol, cpu.name(), cpu.features(), ir.ptr, ir.ptr, ir.ptr, ir.i32, ir.i32, ir.i32);
    for (int i = 0; i < 3; i++) ir.paramAttr(i, "noalias");
    ir.paramAttr(1, "readonly");
    a = ir.param(0);
    w = ir.param(1);
    s = ir.param(2);
    LLVMValueRef n = ir.sext(ir.param(3)), begin = ir.sext(ir.param(4)), end = ir.sext(ir.param(5));
    int per = k.tasksPerImage();
    ir.loop("task", begin, end, 1, t -> body.emit(k.imageMinor()
        ? new Task(n, LLVMBuildSRem(ir.b, t, n, ""), LLVMBuildSDiv(ir.b, t, n, ""))
        : new Task(n, ir.sdiv(t, per), ir.srem(t, per))));
    ir.retVoid();
  }

  /** Arena index of a value's image b: offset * n + b * perImage. */
  private LLVMValueRef image(long offset, long perImage, Task t) {
    return ir.add(ir.mul(t.n(), offset), ir.mul(t.b(), perImage));
  }

  private LLVMValueRef loadF(LLVMValueRef base, LLVMValueRef index) {
    return ir.load(ir.f32, base, index);
  }

  // ---- staging ----

  /** One channel: each kept phase plane row by row, zeros where the padded row or column is outside the input. */
  private void stage(Stage st, Task t) {
    LLVMValueRef src = ir.add(image(st.x(), (long) st.c() * st.h() * st.w(), t), ir.mul(t.j(), (long) st.h() * st.w()));
    LLVMValueRef dst = ir.add(ir.mul(t.b(), st.perImage()), ir.mul(t.j(), st.channelStride()));
    LLVMValueRef zero = ir.f32(0);
    int sd = st.s(), pad = st.pad();
    for (int py = 0; py < st.phases(); py++) {
      for (int px = 0; px < st.phases(); px++) {
        LLVMValueRef plane = ir.add(dst, (long) (py * st.phases() + px) * st.plane());
        // columns j whose input column j*S + px - pad lies inside the image
        int j0 = Math.min(st.wq(), Math.max(0, Math.ceilDiv(pad - px, sd)));
        int j1 = Math.max(j0, Math.min(st.wq(), Math.floorDiv(st.w() - 1 + pad - px, sd) + 1));
        int fpy = py, fpx = px;
        ir.loop("row", ir.i64(0), ir.i64(st.hq()), 1, i -> {
          LLVMValueRef row = ir.add(plane, ir.mul(i, st.wq()));
          LLVMValueRef iy = ir.add(ir.mul(i, sd), fpy - pad);
          LLVMValueRef inside = ir.and(ir.sge(iy, ir.i64(0)), ir.slt(iy, ir.i64(st.h())));
          ir.ifElse(inside, () -> {
            fill(row, 0, j0, zero);
            LLVMValueRef from = ir.add(src, ir.mul(iy, st.w()));
            ir.loop("col", ir.i64(j0), ir.i64(j1), 1, j -> {
              LLVMValueRef ix = ir.add(ir.mul(j, sd), fpx - pad);
              ir.store(loadF(a, ir.add(from, ix)), s, ir.add(row, j));
            });
            fill(row, j1, st.wq(), zero);
          }, () -> fill(row, 0, st.wq(), zero));
        });
      }
    }
  }

  /**
   * One channel staged into 4 x 4 stride phases (Winograd F(4x4, 3x3)): each input row read 4L columns at a time
   * (masked loads: zeros for the padding left of it and past it) and split by shuffles into its four column
   * phases, a vector store each; the phase rows of padding rows are stored as zeros. (The plain {@link #stage} unrolls sixteen strided phase
   * copies per layer: three times ResNet-20's compile time, and slower.)
   */
  private void stagePhases4(Stage st, Task t) {
    int lanes = cpu.lanes(), pad = st.pad(), wq = st.wq();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes), wide = ir.vec(ir.f32, 4 * lanes);
    LLVMValueRef src = ir.add(image(st.x(), (long) st.c() * st.h() * st.w(), t), ir.mul(t.j(), (long) st.h() * st.w()));
    LLVMValueRef dst = ir.add(ir.mul(t.b(), st.perImage()), ir.mul(t.j(), st.channelStride()));
    LLVMValueRef zeros = LLVMConstNull(vt);
    int blocks = Math.ceilDiv(wq, lanes);
    // Padded rows outside the image (above it, and below it to the phases' end): their phase rows are zeros.
    for (int padded = 0; padded < 4 * st.hq(); padded++) {
      if (padded >= pad && padded < st.h() + pad) continue;
      long rowStart = (long) (padded % 4) * 4 * st.plane() + (long) (padded / 4) * wq;
      for (int px = 0; px < 4; px++) {
        for (int block = 0; block < blocks; block++) {
          LLVMValueRef at = ir.gep(ir.f32, s, ir.add(dst, rowStart + (long) px * st.plane() + (long) block * lanes));
          if (block * lanes + lanes <= wq) ir.store(zeros, at);
          else ir.maskedStore(zeros, at, ir.mask(prefix(lanes, wq - block * lanes)));
        }
      }
    }
    ir.loop("row", ir.i64(0), ir.i64(st.h()), 1, iy -> {
      LLVMValueRef padded = ir.add(iy, pad);
      LLVMValueRef rowBase = ir.add(ir.add(dst, ir.mul(ir.srem(padded, 4), 4L * st.plane())), ir.mul(ir.sdiv(padded, 4), wq));
      LLVMValueRef from = ir.add(src, ir.mul(iy, st.w()));
      for (int block = 0; block < blocks; block++) {
        int x0 = block * 4 * lanes; // first padded column of the block
        boolean[] inside = new boolean[4 * lanes];
        for (int l = 0; l < 4 * lanes; l++) inside[l] = x0 + l - pad >= 0 && x0 + l - pad < st.w();
        // four native-width masked loads (masked loads wider than a register gave wrong lanes with AVX2 code)
        LLVMValueRef[] part = new LLVMValueRef[4];
        for (int q = 0; q < 4; q++) {
          boolean[] m = Arrays.copyOfRange(inside, q * lanes, (q + 1) * lanes);
          boolean any = false;
          for (boolean b : m) any |= b;
          part[q] = any ? ir.maskedLoad(vt, ir.gepAnywhere(ir.f32, a, ir.add(from, x0 - pad + (long) q * lanes)), ir.mask(m)) : zeros;
        }
        LLVMValueRef lo = LLVMBuildShuffleVector(ir.b, part[0], part[1], ir.stride(2 * lanes, 1, 0), "");
        LLVMValueRef hi = LLVMBuildShuffleVector(ir.b, part[2], part[3], ir.stride(2 * lanes, 1, 0), "");
        LLVMValueRef v = LLVMBuildShuffleVector(ir.b, lo, hi, ir.stride(4 * lanes, 1, 0), "");
        LLVMValueRef storeMask = block * lanes + lanes <= wq ? null : ir.mask(prefix(lanes, wq - block * lanes));
        for (int px = 0; px < 4; px++) {
          LLVMValueRef phase = LLVMBuildShuffleVector(ir.b, v, LLVMGetPoison(wide), ir.stride(lanes, 4, px), "");
          LLVMValueRef at = ir.gep(ir.f32, s, ir.add(rowBase, (long) px * st.plane() + (long) block * lanes));
          if (storeMask == null) ir.store(phase, at);
          else ir.maskedStore(phase, at, storeMask);
        }
      }
    });
  }

  /** A mask of {@code lanes} lanes whose first {@code n} are on. */
  private static boolean[] prefix(int lanes, int n) {
    boolean[] m = new boolean[lanes];
    Arrays.fill(m, 0, Math.min(n, lanes), true);
    return m;
  }

  /** s[row + j] = v for j in [from, to). */
  private void fill(LLVMValueRef row, int from, int to, LLVMValueRef v) {
    if (from >= to) return;
    ir.loop("fill", ir.i64(from), ir.i64(to), 1, j -> ir.store(v, s, ir.add(row, j)));
  }

  // ---- convolution ----

  /** Floats of weights fetched ahead in the conv's input-channel loop (rounded up to whole input channels). */
  private static final int WEIGHT_PREFETCH = 256;

  /** What every tile of one task shares. */
  private record ConvTask(LLVMValueRef oc0, LLVMValueRef src, LLVMValueRef wts, LLVMValueRef[] bias, LLVMValueRef y,
                          LLVMValueRef res) {}

  private void conv(Conv c, Task t) {
    LLVMValueRef tile = ir.sdiv(t.j(), c.bands()), band = ir.srem(t.j(), c.bands());
    LLVMValueRef oc0 = ir.mul(tile, c.tile().r());
    LLVMValueRef group = ir.sdiv(oc0, c.og());
    LLVMValueRef srcImage = c.staged() ? ir.add(ir.mul(t.b(), c.srcPerImage()), ir.i64(c.src())) : image(c.src(), c.srcPerImage(), t);
    LLVMValueRef src = ir.add(srcImage, ir.mul(group, c.groupStride()));
    // the tile's R channels within their group of P packed ones: [O/P][C/groups][k][k][P]
    LLVMValueRef wts = ir.add(ir.add(ir.mul(ir.sdiv(oc0, c.pack()), (long) c.cg() * c.kk() * c.pack()), ir.srem(oc0, c.pack())), ir.i64(c.weights()));
    LLVMValueRef[] bias = new LLVMValueRef[c.tile().r()];
    for (int i = 0; i < c.tile().r(); i++) bias[i] = ir.splat(loadF(w, ir.add(ir.add(oc0, i), ir.i64(c.bias()))), c.tile().lanes());
    long plane = (long) c.oh() * c.ow();
    LLVMValueRef yChannel = ir.add(ir.mul(group, c.yGroupStride()), ir.mul(ir.sub(oc0, ir.mul(group, c.og())), c.ocStride()));
    LLVMValueRef y = c.yScratch() >= 0 ? ir.add(ir.add(ir.mul(t.b(), c.srcPerImage()), ir.i64(c.yScratch())), yChannel)
        : ir.add(image(c.y(), c.o() * plane, t), yChannel);
    LLVMValueRef res = switch (c.residual()) {
      case ADD -> ir.add(image(c.r(), c.o() * plane, t), ir.mul(oc0, plane));
      case SUBSAMPLE -> image(c.r(), (long) c.rc() * c.rh() * c.rw(), t);
      case NONE -> null;
    };
    ConvTask ct = new ConvTask(oc0, src, wts, bias, y, res);

    // This band's position tiles; a last, partial tile has its own code with fewer vectors.
    int tiles = c.positionTiles(), width = c.tile().width();
    boolean partial = c.positions() % width != 0;
    int full = partial ? tiles - 1 : tiles;
    LLVMValueRef t0 = ir.sdiv(ir.mul(band, tiles), c.bands()), t1 = ir.sdiv(ir.mul(ir.add(band, 1), tiles), c.bands());
    ir.loop("tile", t0, ir.min(t1, ir.i64(full)), 1, pt -> convTile(c, ct, ir.mul(pt, width), c.tile().v(), c.tile().lanes()));
    if (partial) {
      int q0 = full * width, rest = c.positions() - q0;
      int vectors = Math.ceilDiv(rest, c.tile().lanes()), lastLanes = rest - (vectors - 1) * c.tile().lanes();
      ir.ifThen(ir.eq(t1, ir.i64(tiles)), () -> convTile(c, ct, ir.i64(q0), vectors, lastLanes));
    }
  }

  /**
   * One tile at flat position q0: R x nv accumulators start from the bias and take, for each input channel and
   * each tap, nv vector loads and R weight broadcasts; then the epilogue. {@code lastLanes} lanes of the last
   * vector are positions that exist.
   */
  private void convTile(Conv c, ConvTask ct, LLVMValueRef q0, int nv, int lastLanes) {
    int r = c.tile().r(), lanes = c.tile().lanes(), kk = c.kk(), pack = c.pack();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    List<LLVMValueRef> init = new ArrayList<>();
    for (int i = 0; i < r; i++) {
      for (int v = 0; v < nv; v++) init.add(ct.bias()[i]);
    }
    LLVMValueRef base = ir.add(ct.src(), q0);
    LLVMValueRef in = c.staged() ? s : a;
    List<LLVMValueRef> acc = ir.loop("ic", ir.i64(0), ir.i64(c.cg()), 1, init, (ic, cur) -> {
      LLVMValueRef xi = ir.add(base, ir.mul(ic, c.icStride()));
      LLVMValueRef wi = ir.add(ct.wts(), ir.mul(ic, (long) kk * pack));
      List<LLVMValueRef> next = new ArrayList<>(cur);
      // The weights stream once per tile; at batch 1 the late layers' weights come from DRAM, and fetching them
      // a kilobyte ahead beats the hardware prefetcher (ResNet-50's 7x7 layers: +20 %).
      ir.prefetch(ir.gepAnywhere(ir.f32, w, ir.add(wi, (long) Math.ceilDiv(WEIGHT_PREFETCH, kk * pack) * kk * pack)));
      for (int tap = 0; tap < kk; tap++) {
        LLVMValueRef[] x = new LLVMValueRef[nv];
        for (int v = 0; v < nv; v++) x[v] = ir.load(vt, in, ir.add(xi, c.taps()[tap] + (long) v * lanes));
        for (int i = 0; i < r; i++) {
          LLVMValueRef wv = ir.splat(loadF(w, ir.add(wi, (long) tap * pack + i)), lanes);
          for (int v = 0; v < nv; v++) next.set(i * nv + v, ir.fma(x[v], wv, next.get(i * nv + v)));
        }
      }
      return next;
    });
    for (int v = 0; v < nv; v++) {
      int valid = v == nv - 1 ? lastLanes : lanes;
      storeVector(c, ct, acc, nv, v, ir.add(q0, (long) v * lanes), valid);
    }
  }

  /**
   * Epilogue of vector v of the tile (flat position q): residual, ReLU, store. A vector inside one output row is
   * stored whole; one that reaches into the padding columns is stored row by row under masks; an option-A
   * residual (a strided read) goes lane by lane.
   */
  private void storeVector(Conv c, ConvTask ct, List<LLVMValueRef> acc, int nv, int v, LLVMValueRef q, int valid) {
    int lanes = c.tile().lanes();
    if (c.residual() == Op.FusedConv.Residual.SUBSAMPLE) {
      storeLanes(c, ct, acc, nv, v, q);
    } else if (c.line()) {
      // output rows are contiguous: flat position q is output index q
      for (int i = 0; i < c.tile().r(); i++) storeWhole(c, ct, i, acc.get(i * nv + v), q, valid);
    } else {
      LLVMValueRef row = ir.sdiv(q, c.wq()), col = ir.sub(q, ir.mul(row, c.wq()));
      LLVMValueRef inside = ir.sle(ir.add(col, lanes), ir.i64(c.ow()));
      ir.ifElse(inside, () -> {
        LLVMValueRef at = ir.add(ir.mul(row, c.ow()), col);
        for (int i = 0; i < c.tile().r(); i++) storeWhole(c, ct, i, acc.get(i * nv + v), at, lanes);
      }, () -> storeSegments(c, ct, acc, nv, v, row, col));
    }
  }

  /**
   * A vector at (row, col) that crosses into the padding columns: lane l is column col + l - seg * wq of row
   * row + seg for each row it touches, so each row gets one masked store of the lanes that are real outputs there.
   */
  private void storeSegments(Conv c, ConvTask ct, List<LLVMValueRef> acc, int nv, int v, LLVMValueRef row, LLVMValueRef col) {
    int lanes = c.tile().lanes();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    long plane = (long) c.oh() * c.ow();
    int rows = Math.ceilDiv(lanes - 1, c.wq()) + 1;
    for (int seg = 0; seg < rows; seg++) {
      // column of lane l in this row: start + l
      LLVMValueRef start = ir.sub(col, ir.i64((long) seg * c.wq()));
      LLVMValueRef cols = ir.vadd(ir.iota(lanes), ir.splat(LLVMBuildTrunc(ir.b, start, ir.i32, ""), lanes));
      LLVMValueRef inRow = ir.and(ir.icmp(LLVMIntSGE, cols, ir.splat(ir.i32(0), lanes)), ir.icmp(LLVMIntSLT, cols, ir.splat(ir.i32(c.ow()), lanes)));
      LLVMValueRef rowExists = ir.slt(ir.add(row, seg), ir.i64(c.oh()));
      LLVMValueRef mask = ir.and(inRow, ir.splat(rowExists, lanes));
      LLVMValueRef at = ir.add(ir.mul(ir.add(row, seg), c.ow()), start);
      for (int i = 0; i < c.tile().r(); i++) {
        LLVMValueRef idx = ir.add(at, (long) i * plane);
        LLVMValueRef value = acc.get(i * nv + v);
        if (c.residual() == Op.FusedConv.Residual.ADD) value = ir.fadd(value, ir.maskedLoad(vt, ir.gep(ir.f32, a, ir.add(ct.res(), idx)), mask));
        if (c.relu()) value = ir.relu(value);
        ir.maskedStore(value, ir.gep(ir.f32, a, ir.add(ct.y(), idx)), mask);
      }
    }
  }

  /** Output channel i of the tile at output index at: the first {@code valid} lanes (masked when fewer than all). */
  private void storeWhole(Conv c, ConvTask ct, int i, LLVMValueRef value, LLVMValueRef at, int valid) {
    int lanes = c.tile().lanes();
    long plane = (long) c.oh() * c.ow();
    LLVMValueRef idx = ir.add(at, (long) i * plane), yIdx = ir.add(at, (long) i * c.ocStride());
    LLVMValueRef mask = null;
    if (valid < lanes) {
      boolean[] m = new boolean[lanes];
      for (int l = 0; l < valid; l++) m[l] = true;
      mask = ir.mask(m);
    }
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    if (c.residual() == Op.FusedConv.Residual.ADD) {
      LLVMValueRef ra = ir.gep(ir.f32, a, ir.add(ct.res(), idx));
      value = ir.fadd(value, mask == null ? ir.load(vt, ra) : ir.maskedLoad(vt, ra, mask));
    }
    if (c.relu()) value = ir.relu(value);
    LLVMValueRef ya = ir.gep(ir.f32, c.yScratch() >= 0 ? s : a, ir.add(ct.y(), yIdx));
    if (mask == null) ir.store(value, ya);
    else ir.maskedStore(value, ya, mask);
  }

  /** Lane by lane (for the option-A residual): flat position q + l is output (row, col) when col < ow and it exists. */
  private void storeLanes(Conv c, ConvTask ct, List<LLVMValueRef> acc, int nv, int v, LLVMValueRef q) {
    for (int l = 0; l < c.tile().lanes(); l++) {
      int lane = l;
      LLVMValueRef qq = ir.add(q, l);
      LLVMValueRef row = ir.sdiv(qq, c.wq()), col = ir.sub(qq, ir.mul(row, c.wq()));
      LLVMValueRef exists = ir.and(ir.slt(col, ir.i64(c.ow())), ir.slt(qq, ir.i64(c.positions())));
      ir.ifThen(exists, () -> {
        for (int i = 0; i < c.tile().r(); i++) storeLane(c, ct, i, ir.extract(acc.get(i * nv + v), lane), row, col);
      });
    }
  }

  private void storeLane(Conv c, ConvTask ct, int i, LLVMValueRef value, LLVMValueRef row, LLVMValueRef col) {
    long plane = (long) c.oh() * c.ow();
    LLVMValueRef idx = ir.add(ir.add(ir.mul(row, c.ow()), col), (long) i * plane);
    switch (c.residual()) {
      case ADD -> value = ir.fadd(value, loadF(a, ir.add(ct.res(), idx)));
      case SUBSAMPLE -> {
        // channel oc reads residual channel oc - offset at stride s; channels outside it get the zero padding
        LLVMValueRef rc = ir.add(ct.oc0(), i - c.resOffset());
        LLVMValueRef inside = ir.and(ir.sge(rc, ir.i64(0)), ir.slt(rc, ir.i64(c.rc())));
        LLVMValueRef safe = ir.select(inside, rc, ir.i64(0));
        LLVMValueRef at = ir.add(ir.mul(ir.add(ir.mul(safe, c.rh()), ir.mul(row, c.resStride())), c.rw()), ir.mul(col, c.resStride()));
        LLVMValueRef sum = ir.fadd(value, loadF(a, ir.add(ct.res(), at)));
        value = ir.select(inside, sum, value);
      }
      case NONE -> { }
    }
    if (c.relu()) value = ir.relu(value);
    ir.store(value, a, ir.add(ct.y(), idx));
  }

  // ---- Winograd F(2x2, 3x3) transforms, vectorized over L consecutive tiles of a tile row ----

  /**
   * V = B^T d B for L tiles at once, B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]: tile
   * (ty, tx) reads staged rows 2ty .. 2ty + 3 and columns 2tx .. 2tx + 3. Two loads of 2L columns per row, split
   * into even and odd lanes, give its four columns. (The staging makes every load plain: masked loads of 2L lanes
   * gave wrong lanes with AVX2 code.)
   */
  private void winoIn(WinogradInput k, Task t) {
    int lanes = k.lanes();
    LLVMTypeRef wide = ir.vec(ir.f32, 2 * lanes);
    LLVMValueRef x = ir.add(ir.mul(t.b(), k.perImage()), ir.mul(t.j(), (long) k.hq() * k.wq()));
    LLVMValueRef v0 = ir.add(ir.add(ir.mul(t.b(), k.perImage()), ir.i64(k.v())), ir.mul(t.j(), 16L * k.tp()));
    LLVMValueRef even = ir.stride(lanes, 2, 0), odd = ir.stride(lanes, 2, 1);
    ir.loop("ty", ir.i64(0), ir.i64(k.th()), 1, ty -> ir.loop("tx", ir.i64(0), ir.i64(k.tw()), lanes, tx -> {
      LLVMValueRef[][] d = new LLVMValueRef[4][4];
      for (int i = 0; i < 4; i++) {
        LLVMValueRef row = ir.add(x, ir.add(ir.mul(ir.add(ir.mul(ty, 2), i), k.wq()), ir.mul(tx, 2)));
        for (int half = 0; half < 2; half++) {
          LLVMValueRef v = ir.load(wide, s, ir.add(row, 2L * half));
          d[i][2 * half] = LLVMBuildShuffleVector(ir.b, v, LLVMGetPoison(wide), even, "");
          d[i][2 * half + 1] = LLVMBuildShuffleVector(ir.b, v, LLVMGetPoison(wide), odd, "");
        }
      }
      LLVMValueRef[][] bt = new LLVMValueRef[4][4];
      for (int j = 0; j < 4; j++) {
        bt[0][j] = ir.fsub(d[0][j], d[2][j]);
        bt[1][j] = ir.fadd(d[1][j], d[2][j]);
        bt[2][j] = ir.fsub(d[2][j], d[1][j]);
        bt[3][j] = ir.fsub(d[1][j], d[3][j]);
      }
      LLVMValueRef at = ir.add(v0, ir.add(ir.mul(ty, k.tw()), tx));
      LLVMValueRef mask = k.tw() % lanes == 0 ? null
          : ir.icmp(LLVMIntSLT, ir.vadd(ir.iota(lanes), ir.splat(LLVMBuildTrunc(ir.b, tx, ir.i32, ""), lanes)), ir.splat(ir.i32(k.tw()), lanes));
      for (int i = 0; i < 4; i++) {
        LLVMValueRef[] v = {ir.fsub(bt[i][0], bt[i][2]), ir.fadd(bt[i][1], bt[i][2]), ir.fsub(bt[i][2], bt[i][1]), ir.fsub(bt[i][1], bt[i][3])};
        for (int j = 0; j < 4; j++) {
          LLVMValueRef addr = ir.gep(ir.f32, s, ir.add(at, (long) (i * 4 + j) * k.tp()));
          if (mask == null) ir.store(v[j], addr);
          else ir.maskedStore(v[j], addr, mask);
        }
      }
    }));
  }

  /**
   * Y = A^T M A for L tiles at once, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], then the bias, the residual and ReLU;
   * the two columns of each output row are interleaved into one vector of 2L outputs, stored under the mask of
   * columns that exist.
   */
  private void winoOut(WinogradOutput k, Task t) {
    int lanes = k.lanes();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    long plane = (long) k.oh() * k.ow();
    LLVMValueRef m0 = ir.add(ir.add(ir.mul(t.b(), k.perImage()), ir.i64(k.products())), ir.mul(t.j(), 16L * k.tp()));
    LLVMValueRef y = ir.add(image(k.y(), k.o() * plane, t), ir.mul(t.j(), plane));
    LLVMValueRef r = k.r() >= 0 ? ir.add(image(k.r(), k.o() * plane, t), ir.mul(t.j(), plane)) : null;
    LLVMValueRef bias = ir.splat(loadF(w, ir.add(t.j(), ir.i64(k.bias()))), 2 * lanes);
    LLVMValueRef zip = ir.interleave(lanes), iota = ir.iota(2 * lanes);
    ir.loop("ty", ir.i64(0), ir.i64(k.th()), 1, ty -> ir.loop("tx", ir.i64(0), ir.i64(k.tw()), lanes, tx -> {
      LLVMValueRef at = ir.add(m0, ir.add(ir.mul(ty, k.tw()), tx));
      LLVMValueRef[][] m = new LLVMValueRef[4][4];
      for (int xi = 0; xi < 16; xi++) m[xi / 4][xi % 4] = ir.load(vt, s, ir.add(at, (long) xi * k.tp()));
      LLVMValueRef[][] u = new LLVMValueRef[2][4];
      for (int j = 0; j < 4; j++) {
        u[0][j] = ir.fadd(ir.fadd(m[0][j], m[1][j]), m[2][j]);
        u[1][j] = ir.fsub(ir.fsub(m[1][j], m[2][j]), m[3][j]);
      }
      LLVMValueRef cols = ir.vadd(iota, ir.splat(LLVMBuildTrunc(ir.b, ir.mul(tx, 2), ir.i32, ""), 2 * lanes));
      LLVMValueRef mask = ir.icmp(LLVMIntSLT, cols, ir.splat(ir.i32(k.ow()), 2 * lanes));
      for (int i = 0; i < 2; i++) {
        LLVMValueRef c0 = ir.fadd(ir.fadd(u[i][0], u[i][1]), u[i][2]), c1 = ir.fsub(ir.fsub(u[i][1], u[i][2]), u[i][3]);
        LLVMValueRef row = ir.fadd(LLVMBuildShuffleVector(ir.b, c0, c1, zip, ""), bias);
        LLVMValueRef oy = ir.add(ir.mul(ty, 2), i);
        Runnable store = () -> storeOutputRow(k, row, mask, ir.add(ir.mul(oy, k.ow()), ir.mul(tx, 2)), y, r);
        if (i == 1 && k.oh() % 2 != 0) ir.ifThen(ir.slt(oy, ir.i64(k.oh())), store);
        else store.run();
      }
    }));
  }

  // ---- Winograd F(4x4, 3x3) transforms, vectorized over L consecutive tiles of a tile row ----

  /**
   * V = B^T d B for L tiles at once, B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
   * [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], applied to columns then rows. The input is
   * staged in 4 x 4 stride phases ({@link #stagePhases4}), so element (i, j) of L consecutive tiles is one plain
   * load; plane xi of channel j goes to [j][xi][tp].
   */
  private void winoIn4(WinogradInput k, Task t) {
    int lanes = k.lanes();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    long plane = (long) k.hq() * k.wq();
    LLVMValueRef x = ir.add(ir.mul(t.b(), k.perImage()), ir.mul(t.j(), 16 * plane));
    LLVMValueRef v0 = ir.add(ir.add(ir.mul(t.b(), k.perImage()), ir.i64(k.v())), ir.mul(t.j(), 36L * k.tp()));
    ir.loop("ty", ir.i64(0), ir.i64(k.th()), 1, ty -> ir.loop("tx", ir.i64(0), ir.i64(k.tw()), lanes, tx -> {
      LLVMValueRef corner = ir.add(x, ir.add(ir.mul(ty, k.wq()), tx));
      LLVMValueRef[][] d = new LLVMValueRef[6][6];
      for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) d[i][j] = ir.load(vt, s, ir.add(corner, ((i % 4) * 4 + j % 4) * plane + (long) (i / 4) * k.wq() + j / 4));
      }
      LLVMValueRef[][] cols = new LLVMValueRef[6][];
      for (int j = 0; j < 6; j++) cols[j] = inputTransform4(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], lanes);
      LLVMValueRef at = ir.add(v0, ir.add(ir.mul(ty, k.tw()), tx));
      LLVMValueRef mask = k.tw() % lanes == 0 ? null
          : ir.icmp(LLVMIntSLT, ir.vadd(ir.iota(lanes), ir.splat(LLVMBuildTrunc(ir.b, tx, ir.i32, ""), lanes)), ir.splat(ir.i32(k.tw()), lanes));
      for (int i = 0; i < 6; i++) {
        LLVMValueRef[] v = inputTransform4(cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i], lanes);
        for (int j = 0; j < 6; j++) {
          LLVMValueRef addr = ir.gep(ir.f32, s, ir.add(at, (long) (i * 6 + j) * k.tp()));
          if (mask == null) ir.store(v[j], addr);
          else ir.maskedStore(v[j], addr, mask);
        }
      }
    }));
  }

  /** B^T of F(4x4, 3x3) times one column (d0 .. d5), in 12 operations. */
  private LLVMValueRef[] inputTransform4(LLVMValueRef d0, LLVMValueRef d1, LLVMValueRef d2, LLVMValueRef d3, LLVMValueRef d4, LLVMValueRef d5,
                                         int lanes) {
    LLVMValueRef four = ir.splat(ir.f32(4), lanes), minusFour = ir.splat(ir.f32(-4), lanes), minusFive = ir.splat(ir.f32(-5), lanes);
    LLVMValueRef a = ir.fma(minusFour, d2, d4), b = ir.fma(minusFour, d1, d3);
    LLVMValueRef c = ir.fsub(d4, d2), e = ir.fmul(ir.splat(ir.f32(2), lanes), ir.fsub(d3, d1));
    return new LLVMValueRef[] {ir.fma(minusFive, d2, ir.fma(four, d0, d4)), ir.fadd(a, b), ir.fsub(a, b), ir.fadd(c, e), ir.fsub(c, e),
        ir.fma(minusFive, d3, ir.fma(four, d1, d5))};
  }

  /** A^T of F(4x4, 3x3), [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], times one column. */
  private LLVMValueRef[] outputTransform4(LLVMValueRef[] m, int lanes) {
    LLVMValueRef p = ir.fadd(m[1], m[2]), q = ir.fsub(m[1], m[2]), r = ir.fadd(m[3], m[4]), u = ir.fsub(m[3], m[4]);
    return new LLVMValueRef[] {ir.fadd(ir.fadd(m[0], p), r), ir.fma(ir.splat(ir.f32(2), lanes), u, q), ir.fma(ir.splat(ir.f32(4), lanes), r, p),
        ir.fadd(ir.fma(ir.splat(ir.f32(8), lanes), u, q), m[5])};
  }

  /**
   * Y = A^T M A for L tiles at once ({@link #outputTransform4}) from [j][xi][tp], then the bias, the residual and
   * ReLU; the four columns of each output row are interleaved into one vector of 4L outputs.
   */
  private void winoOut4(WinogradOutput k, Task t) {
    int lanes = k.lanes();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    long plane = (long) k.oh() * k.ow();
    LLVMValueRef m0 = ir.add(ir.add(ir.mul(t.b(), k.perImage()), ir.i64(k.products())), ir.mul(t.j(), 36L * k.tp()));
    LLVMValueRef y = ir.add(image(k.y(), k.o() * plane, t), ir.mul(t.j(), plane));
    LLVMValueRef r = k.r() >= 0 ? ir.add(image(k.r(), k.o() * plane, t), ir.mul(t.j(), plane)) : null;
    LLVMValueRef bias = ir.splat(loadF(w, ir.add(t.j(), ir.i64(k.bias()))), 4 * lanes);
    LLVMValueRef zip = ir.interleave(lanes), zip2 = ir.interleave(2 * lanes), iota = ir.iota(4 * lanes);
    int rows = k.oh() - 4 * (k.th() - 1); // output rows of the last tile row
    ir.loop("ty", ir.i64(0), ir.i64(k.th()), 1, ty -> ir.loop("tx", ir.i64(0), ir.i64(k.tw()), lanes, tx -> {
      LLVMValueRef at = ir.add(m0, ir.add(ir.mul(ty, k.tw()), tx));
      LLVMValueRef[][] cols = new LLVMValueRef[6][];
      for (int j = 0; j < 6; j++) {
        LLVMValueRef[] col = new LLVMValueRef[6];
        for (int i = 0; i < 6; i++) col[i] = ir.load(vt, s, ir.add(at, (long) (i * 6 + j) * k.tp()));
        cols[j] = outputTransform4(col, lanes);
      }
      LLVMValueRef first = ir.vadd(iota, ir.splat(LLVMBuildTrunc(ir.b, ir.mul(tx, 4), ir.i32, ""), 4 * lanes));
      LLVMValueRef mask = ir.icmp(LLVMIntSLT, first, ir.splat(ir.i32(k.ow()), 4 * lanes));
      for (int i = 0; i < 4; i++) {
        LLVMValueRef[] c = outputTransform4(new LLVMValueRef[] {cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i]}, lanes);
        LLVMValueRef even = LLVMBuildShuffleVector(ir.b, c[0], c[2], zip, ""), odd = LLVMBuildShuffleVector(ir.b, c[1], c[3], zip, "");
        LLVMValueRef row = ir.fadd(LLVMBuildShuffleVector(ir.b, even, odd, zip2, ""), bias);
        LLVMValueRef oy = ir.add(ir.mul(ty, 4), i);
        Runnable store = () -> storeOutputRow(k, row, mask, ir.add(ir.mul(oy, k.ow()), ir.mul(tx, 4)), y, r);
        if (i >= rows) ir.ifThen(ir.slt(oy, ir.i64(k.oh())), store);
        else store.run();
      }
    }));
  }

  /**
   * The end of both output transforms: a row of m L outputs (m = the output tile) from output index {@code at} of
   * the channel at y, stored L lanes at a time under {@code mask} (the columns that exist), after the residual at
   * r (when not null) and ReLU. One native masked load and store per L lanes: masked loads wider than a register
   * gave wrong lanes with AVX2 code.
   */
  private void storeOutputRow(WinogradOutput k, LLVMValueRef row, LLVMValueRef mask, LLVMValueRef at, LLVMValueRef y, LLVMValueRef r) {
    int lanes = k.lanes();
    LLVMTypeRef vt = ir.vec(ir.f32, lanes);
    for (int part = 0; part < k.m(); part++) {
      LLVMValueRef sel = ir.stride(lanes, 1, part * lanes);
      LLVMValueRef v = LLVMBuildShuffleVector(ir.b, row, LLVMGetPoison(LLVMTypeOf(row)), sel, "");
      LLVMValueRef pm = LLVMBuildShuffleVector(ir.b, mask, LLVMGetPoison(LLVMTypeOf(mask)), sel, "");
      LLVMValueRef idx = ir.add(at, (long) part * lanes);
      if (r != null) v = ir.fadd(v, ir.maskedLoad(vt, ir.gep(ir.f32, a, ir.add(r, idx)), pm));
      if (k.relu()) v = ir.relu(v);
      ir.maskedStore(v, ir.gep(ir.f32, a, ir.add(y, idx)), pm);
    }
  }

  // ---- the other layers: plain loops with literal shapes ----

  /**
   * Up to {@link Scheduler#DENSE_TASK} outputs of one image: per group of 16 outputs (weights [group][in][16]) one
   * vector of 16 doubles from the bias, then {@code acc = fma(x[i], w[i], acc)} for i in order: each product is
   * exact in double, so every output is the interpreter's sequential double sum, rounded once. Groups run a few
   * at a time over the inputs, so their FMA chains overlap.
   */
  private void dense(Dense d, Task t) {
    int groups = Math.ceilDiv(d.out(), Scheduler.DENSE_GROUP), perTask = Scheduler.DENSE_TASK / Scheduler.DENSE_GROUP;
    int lastTask = d.tasksPerImage() - 1, lastGroups = groups - lastTask * perTask;
    LLVMValueRef x = image(d.x(), d.in(), t), y = image(d.y(), d.out(), t);
    LLVMValueRef g0 = ir.mul(t.j(), perTask);
    if (lastTask == 0) {
      denseGroups(d, x, y, g0, lastGroups, 0);
    } else {
      ir.ifElse(ir.slt(t.j(), ir.i64(lastTask)), () -> denseGroups(d, x, y, g0, perTask, -1),
          () -> denseGroups(d, x, y, g0, lastGroups, groups - lastGroups));
    }
  }

  /**
   * {@code count} groups from group g0; {@code firstOfLast} is the constant index of the first of them when they are
   * the layer's last (whose final group may be partial), else -1.
   */
  private void denseGroups(Dense d, LLVMValueRef x, LLVMValueRef y, LLVMValueRef g0, int count, int firstOfLast) {
    int lanes = Scheduler.DENSE_GROUP, perPass = cpu.registers() >= 32 ? 4 : 2;
    LLVMTypeRef vf = ir.vec(ir.f32, lanes), vd = ir.vec(ir.f64, lanes);
    for (int from = 0; from < count; from += perPass) {
      int n = Math.min(perPass, count - from), first = from;
      List<LLVMValueRef> init = new ArrayList<>();
      for (int g = 0; g < n; g++) {
        LLVMValueRef bias = ir.load(vf, w, ir.add(ir.mul(ir.add(g0, first + g), lanes), ir.i64(d.bias())));
        init.add(LLVMBuildFPExt(ir.b, bias, vd, ""));
      }
      List<LLVMValueRef> acc = ir.loop("i", ir.i64(0), ir.i64(d.in()), 1, init, (i, cur) -> {
        LLVMValueRef xv = ir.splat(ir.fpext(loadF(a, ir.add(x, i))), lanes);
        List<LLVMValueRef> next = new ArrayList<>();
        for (int g = 0; g < n; g++) {
          LLVMValueRef row = ir.add(ir.mul(ir.add(g0, first + g), (long) lanes * d.in()), ir.add(ir.mul(i, lanes), ir.i64(d.weights())));
          next.add(ir.fma(xv, LLVMBuildFPExt(ir.b, ir.load(vf, w, row), vd, ""), cur.get(g)));
        }
        return next;
      });
      for (int g = 0; g < n; g++) {
        LLVMValueRef out = LLVMBuildFPTrunc(ir.b, acc.get(g), vf, "");
        LLVMValueRef at = ir.gep(ir.f32, a, ir.add(y, ir.mul(ir.add(g0, first + g), lanes)));
        int valid = firstOfLast < 0 ? lanes : Math.min(lanes, d.out() - (firstOfLast + first + g) * lanes);
        if (valid == lanes) {
          ir.store(out, at);
        } else {
          boolean[] m = new boolean[lanes];
          for (int l = 0; l < valid; l++) m[l] = true;
          ir.maskedStore(out, at, ir.mask(m));
        }
      }
    }
  }

  /** Max or average pooling of one channel plane. */
  private void pool(Pool p, Task t) {
    long inPlane = (long) p.h() * p.w(), outPlane = (long) p.oh() * p.ow();
    LLVMValueRef x = ir.add(image(p.x(), p.c() * inPlane, t), ir.mul(t.j(), inPlane));
    LLVMValueRef y = ir.add(image(p.y(), p.c() * outPlane, t), ir.mul(t.j(), outPlane));
    if (p.max()) maxPool(p, x, y);
    else avgPool(p, x, y);
  }

  /**
   * Max pooling, padding never wins and NaN propagates. Window rows and columns are clamped into the image: the
   * clamped index is another element of the same window (pad <= k / 2), and a repeated element does not change a
   * maximum. The window is unrolled; interior columns need no clamping, so that loop vectorizes.
   */
  private void maxPool(Pool p, LLVMValueRef x, LLVMValueRef y) {
    int k = p.k(), sd = p.s(), pad = p.pad();
    // output columns whose whole window lies inside the image
    int lo = Math.min(p.ow(), Math.ceilDiv(pad, sd)), hi = Math.max(lo, Math.min(p.ow(), Math.floorDiv(p.w() - k + pad, sd) + 1));
    ir.loop("oy", ir.i64(0), ir.i64(p.oh()), 1, oy -> {
      LLVMValueRef[] rows = new LLVMValueRef[k];
      for (int ky = 0; ky < k; ky++) {
        LLVMValueRef iy = clamp(ir.add(ir.mul(oy, sd), ky - pad), p.h());
        rows[ky] = ir.add(x, ir.mul(iy, p.w()));
      }
      LLVMValueRef out = ir.add(y, ir.mul(oy, p.ow()));
      int vectorEnd = lo + (hi - lo) / POOL_LANES * POOL_LANES;
      maxPoolColumns(p, rows, out, 0, lo, true);
      maxPoolVectors(p, rows, out, lo, vectorEnd);
      maxPoolColumns(p, rows, out, vectorEnd, hi, false);
      maxPoolColumns(p, rows, out, hi, p.ow(), true);
    });
  }

  private static final int POOL_LANES = 8;

  /**
   * Interior columns, 8 outputs at a time: for each tap one load of 8 x S consecutive floats, of which every S-th
   * is the tap of an output (the last load may read S - 1 floats past the window, within the arena's slack).
   */
  private void maxPoolVectors(Pool p, LLVMValueRef[] rows, LLVMValueRef out, int from, int to) {
    if (from >= to) return;
    int sd = p.s(), wide = POOL_LANES * sd;
    LLVMTypeRef vt = ir.vec(ir.f32, wide);
    LLVMValueRef every = sd == 1 ? null : ir.stride(POOL_LANES, sd);
    ir.loop("oxv", ir.i64(from), ir.i64(to), POOL_LANES, ox -> {
      LLVMValueRef m = ir.splat(ir.f32(Float.NEGATIVE_INFINITY), POOL_LANES);
      for (LLVMValueRef row : rows) {
        for (int kx = 0; kx < p.k(); kx++) {
          LLVMValueRef v = ir.load(vt, a, ir.add(row, ir.add(ir.mul(ox, sd), kx - p.pad())));
          if (every != null) v = LLVMBuildShuffleVector(ir.b, v, LLVMGetPoison(vt), every, "");
          LLVMValueRef wins = ir.or(ir.fcmp(LLVMRealOGT, v, m), ir.fcmp(LLVMRealUNO, v, v));
          m = ir.select(wins, v, m);
        }
      }
      ir.store(m, a, ir.add(out, ox));
    });
  }

  private void maxPoolColumns(Pool p, LLVMValueRef[] rows, LLVMValueRef out, int from, int to, boolean clamp) {
    if (from >= to) return;
    ir.loop("ox", ir.i64(from), ir.i64(to), 1, ox -> {
      LLVMValueRef m = ir.f32(Float.NEGATIVE_INFINITY);
      for (LLVMValueRef row : rows) {
        for (int kx = 0; kx < p.k(); kx++) {
          LLVMValueRef ix = ir.add(ir.mul(ox, p.s()), kx - p.pad());
          LLVMValueRef v = loadF(a, ir.add(row, clamp ? clamp(ix, p.w()) : ix));
          LLVMValueRef wins = ir.or(ir.fcmp(LLVMRealOGT, v, m), ir.fcmp(LLVMRealUNO, v, v));
          m = ir.select(wins, v, m);
        }
      }
      ir.store(m, a, ir.add(out, ox));
    });
  }

  private LLVMValueRef clamp(LLVMValueRef i, int size) {
    return ir.min(ir.max(i, ir.i64(0)), ir.i64(size - 1));
  }

  /**
   * PyTorch's avg_pool2d in double: with count_pad the divisor is the window clipped to the padded input, without
   * it the in-bounds elements; a window with no input is 0.
   */
  private void avgPool(Pool p, LLVMValueRef x, LLVMValueRef y) {
    ir.loop("oy", ir.i64(0), ir.i64(p.oh()), 1, oy -> {
      LLVMValueRef py0 = ir.add(ir.mul(oy, p.s()), -p.pad()), py1 = ir.min(ir.add(py0, p.k()), ir.i64(p.h() + p.pad()));
      LLVMValueRef y0 = ir.max(py0, ir.i64(0)), y1 = ir.min(py1, ir.i64(p.h()));
      ir.loop("ox", ir.i64(0), ir.i64(p.ow()), 1, ox -> {
        LLVMValueRef px0 = ir.add(ir.mul(ox, p.s()), -p.pad()), px1 = ir.min(ir.add(px0, p.k()), ir.i64(p.w() + p.pad()));
        LLVMValueRef x0 = ir.max(px0, ir.i64(0)), x1 = ir.min(px1, ir.i64(p.w()));
        LLVMValueRef sum = ir.loop("iy", y0, y1, 1, List.of(ir.f64(0)), (iy, cy) -> ir.loop("ix", x0, x1, 1, cy, (ix, cx) ->
            List.of(ir.fadd(cx.get(0), ir.fpext(loadF(a, ir.add(ir.add(x, ir.mul(iy, p.w())), ix))))))).get(0);
        LLVMValueRef count = p.countPad() ? ir.mul(ir.sub(py1, py0), ir.sub(px1, px0)) : ir.mul(ir.sub(y1, y0), ir.sub(x1, x0));
        LLVMValueRef empty = ir.or(ir.sge(y0, y1), ir.sge(x0, x1));
        LLVMValueRef mean = ir.fptrunc(ir.fdiv(sum, ir.sitofp(count, ir.f64)));
        ir.store(ir.select(empty, ir.f32(0), mean), a, ir.add(ir.add(y, ir.mul(oy, p.ow())), ox));
      });
    });
  }

  private void globalAvgPool(GlobalAvgPool p, Task t) {
    LLVMValueRef x = ir.add(image(p.x(), (long) p.c() * p.plane(), t), ir.mul(t.j(), p.plane()));
    LLVMValueRef sum = ir.loop("i", ir.i64(0), ir.i64(p.plane()), 1, List.of(ir.f64(0)), (i, cur) ->
        List.of(ir.fadd(cur.get(0), ir.fpext(loadF(a, ir.add(x, i)))))).get(0);
    ir.store(ir.fptrunc(ir.fdiv(sum, ir.f64(p.plane()))), a, ir.add(image(p.y(), p.c(), t), t.j()));
  }

  private void batchNorm(BatchNorm bn, Task t) {
    long size = (long) bn.c() * bn.plane();
    LLVMValueRef x = ir.add(image(bn.x(), size, t), ir.mul(t.j(), bn.plane()));
    LLVMValueRef y = ir.add(image(bn.y(), size, t), ir.mul(t.j(), bn.plane()));
    LLVMValueRef p = ir.add(t.j(), ir.i64(bn.params()));
    LLVMValueRef mean = ir.fpext(loadF(w, p)), scale = ir.fpext(loadF(w, ir.add(p, bn.c()))), beta = ir.fpext(loadF(w, ir.add(p, 2L * bn.c())));
    ir.loop("i", ir.i64(0), ir.i64(bn.plane()), 1, i -> {
      LLVMValueRef v = ir.fadd(ir.fmul(ir.fsub(ir.fpext(loadF(a, ir.add(x, i))), mean), scale), beta);
      ir.store(ir.fptrunc(v), a, ir.add(y, i));
    });
  }

  private void elementwise(Elementwise e, Task t) {
    LLVMValueRef from = ir.mul(t.j(), Scheduler.CHUNK), to = ir.min(ir.add(from, Scheduler.CHUNK), ir.i64(e.size()));
    LLVMValueRef x = image(e.x(), e.size(), t), y = image(e.y(), e.size(), t);
    LLVMValueRef z = e.add() ? image(e.z(), e.size(), t) : null;
    ir.loop("i", from, to, 1, i -> {
      LLVMValueRef v = loadF(a, ir.add(x, i));
      v = e.add() ? ir.fadd(v, loadF(a, ir.add(z, i))) : ir.relu(v);
      ir.store(v, a, ir.add(y, i));
    });
  }

  /** exp(x - max) in double, summed, then each divided by the sum: the interpreter's softmax. */
  private void softmax(Softmax sm, Task t) {
    LLVMValueRef x = image(sm.x(), sm.len(), t), y = image(sm.y(), sm.len(), t);
    LLVMValueRef max = ir.loop("max", ir.i64(0), ir.i64(sm.len()), 1, List.of(ir.f32(Float.NEGATIVE_INFINITY)), (i, cur) -> {
      LLVMValueRef v = loadF(a, ir.add(x, i));
      LLVMValueRef wins = ir.or(ir.fcmp(LLVMRealOGT, v, cur.get(0)), ir.fcmp(LLVMRealUNO, v, v));
      return List.of(ir.select(wins, v, cur.get(0)));
    }).get(0);
    LLVMValueRef m = ir.fpext(max);
    LLVMValueRef sum = ir.loop("sum", ir.i64(0), ir.i64(sm.len()), 1, List.of(ir.f64(0)), (i, cur) ->
        List.of(ir.fadd(cur.get(0), exp(ir.fsub(ir.fpext(loadF(a, ir.add(x, i))), m))))).get(0);
    ir.loop("div", ir.i64(0), ir.i64(sm.len()), 1, i ->
        ir.store(ir.fptrunc(ir.fdiv(exp(ir.fsub(ir.fpext(loadF(a, ir.add(x, i))), m)), sum)), a, ir.add(y, i)));
  }

  /**
   * e^x in double for x <= 0 without libm (the kernels link against nothing): x = k ln 2 + r with |r| <= ln 2 / 2,
   * e^r by its Taylor series to r^13 (error below 2e-16), times 2^k built from the exponent bits. Below -708 the
   * result underflows and is 0.
   */
  private LLVMValueRef exp(LLVMValueRef x) {
    LLVMValueRef k = ir.floor(ir.fadd(ir.fmul(x, ir.f64(1 / Math.log(2))), ir.f64(0.5)));
    // ln 2 split in two so k * LN2_HI is exact
    LLVMValueRef r = ir.fsub(ir.fsub(x, ir.fmul(k, ir.f64(6.93147180369123816490e-01))), ir.fmul(k, ir.f64(1.90821492927058770002e-10)));
    LLVMValueRef p = ir.f64(1.0 / factorial(13));
    for (int i = 12; i >= 0; i--) p = ir.fadd(ir.fmul(p, r), ir.f64(1.0 / factorial(i)));
    LLVMValueRef ki = ir.fptosi(ir.select(ir.fcmp(LLVMRealOLT, x, ir.f64(-708)), ir.f64(0), k), ir.i64);
    LLVMValueRef scale = ir.bitcast(ir.shl(ir.add(ki, 1023), 52), ir.f64);
    return ir.select(ir.fcmp(LLVMRealOLT, x, ir.f64(-708)), ir.f64(0), ir.fmul(p, scale));
  }

  private static double factorial(int n) {
    double f = 1;
    for (int i = 2; i <= n; i++) f *= i;
    return f;
  }

  private void subsamplePad(SubsamplePad sp, Task t) {
    long outPlane = (long) sp.oh() * sp.ow();
    LLVMValueRef y = ir.add(image(sp.y(), sp.oc() * outPlane, t), ir.mul(t.j(), outPlane));
    LLVMValueRef ch = ir.add(t.j(), -sp.before());
    LLVMValueRef inside = ir.and(ir.sge(ch, ir.i64(0)), ir.slt(ch, ir.i64(sp.c())));
    LLVMValueRef x = ir.add(image(sp.x(), (long) sp.c() * sp.h() * sp.w(), t), ir.mul(ir.select(inside, ch, ir.i64(0)), (long) sp.h() * sp.w()));
    ir.loop("oy", ir.i64(0), ir.i64(sp.oh()), 1, oy -> ir.loop("ox", ir.i64(0), ir.i64(sp.ow()), 1, ox -> {
      LLVMValueRef v = loadF(a, ir.add(x, ir.add(ir.mul(oy, (long) sp.s() * sp.w()), ir.mul(ox, sp.s()))));
      ir.store(ir.select(inside, v, ir.f32(0)), a, ir.add(y, ir.add(ir.mul(oy, sp.ow()), ox)));
    }));
  }

  /** {@code (x / div - mean[c]) / std[c]} in float over one channel plane, as the runtime's preprocessing computes it. */
  private void normalize(Normalize z, Task t) {
    long size = (long) z.c() * z.plane();
    LLVMValueRef x = ir.add(image(z.x(), size, t), ir.mul(t.j(), z.plane()));
    LLVMValueRef y = ir.add(image(z.y(), size, t), ir.mul(t.j(), z.plane()));
    LLVMValueRef mean = ir.f32(z.mean()[0]), std = ir.f32(z.std()[0]);
    for (int c = 1; c < z.c(); c++) {
      LLVMValueRef here = ir.eq(t.j(), ir.i64(c));
      mean = ir.select(here, ir.f32(z.mean()[c]), mean);
      std = ir.select(here, ir.f32(z.std()[c]), std);
    }
    LLVMValueRef div = ir.f32(z.div()), m = mean, sd = std;
    ir.loop("i", ir.i64(0), ir.i64(z.plane()), 1, i -> ir.store(ir.fdiv(ir.fsub(ir.fdiv(loadF(a, ir.add(x, i)), div), m), sd), a, ir.add(y, i)));
  }
}
