package resnetc.target.java;

import static resnetc.target.java.ClassParts.FLOATS;
import static resnetc.target.java.ClassParts.FV;
import static resnetc.target.java.ClassParts.VM;
import static resnetc.target.java.Code.lin;
import static resnetc.target.java.Code.plus;

import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.MethodSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import javax.lang.model.element.Modifier;
import resnetc.ir.Op;
import resnetc.schedule.Step;

/**
 * Convolutions in Java: the staging copy of the input, the task loop over register tiles, the epilogue, and the
 * tile micro-kernels. The schedule plans tiles of 16-float vectors; each micro-kernel call goes through a small
 * dispatcher that runs it as one 16-lane kernel where the CPU has 512-bit vectors and as 4-channel kernels of
 * 8-float vectors otherwise (two halves of the channels and of the positions), chosen once when the class loads.
 * Every path, the scalar twin included, adds the same products in the same order: the bias, then the input
 * channels in order and the taps row by row, one FMA each.
 *
 * <p>The epilogue (residual, ReLU, dropping padding columns) runs outside the micro-kernel, from a per-thread tile
 * buffer: with it inside, C1 gave up on the method ("out of virtual registers") and it ran interpreted.
 */
final class ConvEmitter {
  /** Vector registers of a 256-bit CPU, which bound the 8-lane kernels. */
  private static final int NARROW_REGISTERS = 16;

  private final ClassParts parts;

  ConvEmitter(ClassParts parts) {
    this.parts = parts;
  }

  // ---- staging ----

  /** Zero padding and stride phases into scratch, one channel per task (see {@link Step.Stage}). */
  void stage(CodeBlock.Builder b, Step.Stage st) {
    int sd = st.s(), pad = st.pad(), wq = st.wq(), hq = st.hq();
    b.add("// stage the input: padded by $L, $L stride phase(s) per axis, planes $Lx$L\n", pad, st.phases(), hq, wq);
    Code.openTasks(b, st.c(), st.grain());
    b.addStatement("int src = X + t * $L, dst = t / $L * $L + t % $L * $L", st.h() * st.w(), st.c(), st.perImage(), st.c(), st.channelStride());
    String copy = stageKernel(sd);
    for (int py = 0; py < st.phases(); py++) {
      for (int px = 0; px < st.phases(); px++) {
        int plane = (py * st.phases() + px) * st.plane();
        // rows i whose input row i * S + py - pad lies inside the image, columns j likewise
        int i0 = Math.min(hq, Math.max(0, Math.ceilDiv(pad - py, sd)));
        int i1 = Math.max(i0, Math.min(hq, Math.floorDiv(st.h() - 1 + pad - py, sd) + 1));
        int j0 = Math.min(wq, Math.max(0, Math.ceilDiv(pad - px, sd)));
        int j1 = Math.max(j0, Math.min(wq, Math.floorDiv(st.w() - 1 + pad - px, sd) + 1));
        b.add("// phase ($L, $L): rows $L..$L and columns $L..$L from the image, zeros around\n", py, px, i0, i1 - 1, j0, j1 - 1);
        if (i0 > 0) b.addStatement("java.util.Arrays.fill(s, $L, $L, 0f)", plus("dst", plane), plus("dst", plane + (long) i0 * wq));
        if (j1 > j0) {
          b.beginControlFlow("for (int i = $L, row = $L; i < $L; i++, row += $L)", i0, plus("dst", plane + (long) i0 * wq), i1, wq);
          zeros(b, 0, j0);
          String inRow = lin("i", sd, py - pad);
          String from = plus("src + " + (inRow.contains(" ") ? "(" + inRow + ")" : inRow) + " * " + st.w(), (long) j0 * sd + px - pad);
          b.addStatement("$L(a, $L, s, $L, $L)", copy, from, plus("row", j0), j1 - j0);
          zeros(b, j1, wq);
          b.endControlFlow();
        } else if (i1 > i0) {
          b.addStatement("java.util.Arrays.fill(s, $L, $L, 0f)", plus("dst", plane + (long) i0 * wq), plus("dst", plane + (long) i1 * wq));
        }
        if (i1 < hq) b.addStatement("java.util.Arrays.fill(s, $L, $L, 0f)", plus("dst", plane + (long) i1 * wq), plus("dst", plane + (long) hq * wq));
      }
    }
    Code.closeTasks(b, st.grain());
  }

  /** Zeros {@code s[row + from .. row + to)}: a store each when there are few. */
  private static void zeros(CodeBlock.Builder b, int from, int to) {
    if (to - from > 4) {
      b.addStatement("java.util.Arrays.fill(s, $L, $L, 0f)", plus("row", from), plus("row", to));
      return;
    }
    for (int j = from; j < to; j++) b.addStatement("s[$L] = 0f", plus("row", j));
  }

  /**
   * {@code y[yi + j] = x[xi + j * S]} for j < len: for S 1 and 2 a Vector API body (stride 2: the even lanes of two
   * loads, which may read up to two vectors past the last value, inside the arena's slack) with a masked last
   * vector; a scalar loop otherwise. Returns the dispatcher's name.
   */
  private String stageKernel(int sd) {
    String name = "stage" + sd;
    return parts.once(name, () -> {
      MethodSpec.Builder sig = MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
          .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(FLOATS, "y").addParameter(int.class, "yi")
          .addParameter(int.class, "len");
      MethodSpec.Builder outer = sig.build().toBuilder().addJavadoc("{@code y[yi + j] = x[xi + j * $L]} for j < len.\n", sd);
      if (sd > 2) {
        parts.methods.add(outer.addStatement("for (int j = 0; j < len; j++) y[yi + j] = x[xi + j * $L]", sd).build());
        return;
      }
      outer.beginControlFlow("if (VECTOR)").addStatement("Simd.$L(x, xi, y, yi, len)", name).addStatement("return").endControlFlow();
      outer.addStatement(sd == 1 ? "System.arraycopy(x, xi, y, yi, len)" : "for (int j = 0; j < len; j++) y[yi + j] = x[xi + j * 2]");
      parts.methods.add(outer.build());
      CodeBlock load = sd == 1 ? CodeBlock.of("$T.fromArray(SP, x, xi + j)", FV)
          : CodeBlock.of("EVEN.selectFrom($T.fromArray(SP, x, xi + 2 * j), $T.fromArray(SP, x, xi + 2 * j + SP.length()))", FV, FV);
      if (sd == 2) evenLanes();
      CodeBlock.Builder v = CodeBlock.builder();
      v.addStatement("int j = 0");
      v.addStatement("for (; j <= len - SP.length(); j += SP.length()) $L.intoArray(y, yi + j)", load);
      v.beginControlFlow("if (j < len)");
      v.addStatement("$T<Float> m = SP.indexInRange(j, len)", VM);
      if (sd == 1) v.addStatement("$T.fromArray(SP, x, xi + j, m).intoArray(y, yi + j, m)", FV);
      else v.addStatement("$L.intoArray(y, yi + j, m)", load);
      v.endControlFlow();
      parts.simdMethods.add(sig.addCode(v.build()).build());
    });
  }

  /** {@code EVEN} in the Simd class: lane i = 2i, the even floats of two consecutive vectors. */
  void evenLanes() {
    parts.once("EVEN", () -> parts.simdFields.add(FieldSpec.builder(FV, "EVEN", Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Lane i = 2i: picks the even floats of two consecutive vectors.\n")
        .initializer("$T.zero(SP).addIndex(2)", FV).build()));
  }

  // ---- the conv's tiles ----

  /**
   * The task loop of a conv (see {@link Step.Conv}): each task takes R output channels of one image over a band of
   * position tiles and calls the tile kernel per tile; the epilogue adds the residual and ReLU and drops padding
   * columns. Winograd's products ({@code yScratch >= 0}) store straight into scratch.
   */
  void conv(CodeBlock.Builder b, Step.Conv c) {
    Step.Tile t = c.tile();
    int tw = t.width(), perImage = c.tasksPerImage(), plane = c.oh() * c.ow(), r = t.r();
    boolean products = c.yScratch() >= 0;
    b.add("// $L\n", describe(c));
    if (c.kk() > 1) b.addStatement("final int[] TAPS = {$L}", Arrays.stream(c.taps()).mapToObj(Integer::toString).collect(Collectors.joining(", ")));
    Code.openTasks(b, perImage, 1);
    Code.imageAndTask(b, perImage, c.imageMinor());
    String j = perImage == 1 ? "0" : "j";
    List<String> decl = new ArrayList<>();
    if (c.channelTiles() > 1 && c.bands() > 1) decl.add("tile = j / " + c.bands());
    if (c.bands() > 1) decl.add("band = " + (c.channelTiles() > 1 ? "j % " + c.bands() : j));
    String tile = c.channelTiles() == 1 ? "0" : c.bands() > 1 ? "tile" : j;
    decl.add("oc = " + (tile.equals("0") ? "0" : tile + " * " + r));
    b.addStatement("int $L", String.join(", ", decl));
    String image = c.staged() ? lin("b", c.srcPerImage(), c.src()) : "X + b * " + c.srcPerImage();
    String group = c.groups() > 1 ? " + oc / " + c.og() + " * " + c.groupStride() : "";
    if (c.pack() != r) throw new IllegalStateException("the Java target tiles whole packs of channels: pack " + c.pack() + ", tile " + r);
    b.addStatement("int xi = $L$L, wi = $L", image, group, lin(tile, (long) c.cg() * c.kk() * r, c.weights()));
    if (products) {
      b.addStatement("int yo = $L + oc / $L * $L + oc % $L * $L", lin("b", c.srcPerImage(), c.yScratch()), c.og(), c.yGroupStride(), c.og(),
          c.ocStride());
    } else {
      b.addStatement("int yb = Y + (b * $L + oc) * $L", c.o(), plane);
      b.addStatement("float[] tmp = TILE.get()");
      parts.tileBuffer = Math.max(parts.tileBuffer, r * tw);
    }
    int tiles = c.positionTiles(), bands = c.bands();
    if (bands == tiles) {
      b.addStatement("int q = $L", tiles == 1 ? "0" : "band * " + tw);
    } else {
      String from = bands == 1 ? "0" : "band * " + tiles + " / " + bands, to = bands == 1 ? Integer.toString(tiles) : "(band + 1) * " + tiles + " / " + bands;
      b.beginControlFlow("for (int pt = $L, end = $L; pt < end; pt++)", from, to);
      b.addStatement("int q = pt * $L", tw);
    }
    if (tiles > 1 || c.positions() % tw != 0) b.addStatement("int valid = Math.min($L, $L - q)", tw, c.positions());
    String src = c.staged() ? "s" : "a", taps = c.kk() > 1 ? "TAPS, " : "";
    String bias = plus("oc", c.bias());
    String out = products ? "s, yo + q, " + c.ocStride() : "tmp, 0, " + tw;
    boolean partial = tiles > 1 || c.positions() % tw != 0;
    for (int nv = t.v(); nv >= 1; nv--) {
      String call = String.format("%s(%s, xi + q, %d, %d, %sw, wi, %s, %s)", tileKernel(c, nv), src, c.icStride(), c.cg(), taps, bias, out);
      if (!partial || t.v() == 1) {
        b.addStatement(call);
        break;
      }
      if (nv == t.v()) b.beginControlFlow("if (valid > $L)", (nv - 1) * t.lanes());
      else if (nv > 1) b.nextControlFlow("else if (valid > $L)", (nv - 1) * t.lanes());
      else b.nextControlFlow("else");
      b.addStatement(call);
      if (nv == 1) b.endControlFlow();
    }
    if (!products) epilogue(b, c, tw, plane, partial ? "valid" : Integer.toString(c.positions()));
    if (bands != tiles) b.endControlFlow();
    Code.closeTasks(b, 1);
  }

  private static String describe(Step.Conv c) {
    Step.Tile t = c.tile();
    String what = c.yScratch() >= 0 ? String.format("the %d Winograd products: a %d-group 1x1 conv %d->%d over %d positions", c.groups(), c.groups(), c.c(), c.o(),
        c.positions())
        : String.format("%dx%d/%d conv %d->%d%s, %dx%d -> %dx%d", c.k(), c.k(), c.s(), c.c(), c.o(), c.groups() > 1 ? " groups " + c.groups() : "",
            c.h(), c.w(), c.oh(), c.ow());
    return String.format("%s: tile %d oc x %d vector(s) of %d, %d channel tile(s) x %d band(s) per image%s%s", what, t.r(), t.v(), t.lanes(),
        c.channelTiles(), c.bands(), c.residual() == Op.FusedConv.Residual.NONE ? "" : ", + residual (" + c.residual().name().toLowerCase() + ")",
        c.relu() ? ", relu" : "");
  }

  /**
   * From the tile buffer to the output, one run of output positions at a time (the whole tile when output rows are
   * contiguous in the flat space, else one output row, dropping the padding columns): adds the aligned residual,
   * then ReLU. The option-A residual (channel oc reads block-input channel oc - offset at stride S, zero outside) is
   * added element by element.
   */
  private void epilogue(CodeBlock.Builder b, Step.Conv c, int tw, int plane, String valid) {
    String res = c.residual() == Op.FusedConv.Residual.ADD ? "R - Y" : "NO_RESIDUAL";
    boolean sub = c.residual() == Op.FusedConv.Residual.SUBSAMPLE;
    String finish = sub ? null : finishKernel();
    if (c.line() && !sub) {
      b.addStatement("for (int i = 0; i < $L; i++) $L(tmp, i * $L, a, yb + i * $L + q, $L, $L, $L)", c.tile().r(), finish, tw, plane, res, c.relu(), valid);
      return;
    }
    b.beginControlFlow("for (int i = 0; i < $L; i++)", c.tile().r());
    b.addStatement("int ti = i * $L - q, yc = yb + i * $L", tw, plane);
    if (sub) {
      b.addStatement("int rch = $L", plus("oc + i", -c.resOffset()));
      b.addStatement("boolean rin = rch >= 0 && rch < $L", c.rc());
      b.addStatement("int rb = R + (b * $L + rch) * $L", c.rc(), c.rh() * c.rw());
    }
    b.beginControlFlow("for (int p = q, stop = q + $L; p < stop; )", valid);
    b.addStatement("int oy = p / $L, rowEnd = Math.min(stop, $L), d = $L", c.wq(), lin("oy", c.wq(), c.ow()), Code.plusTerm("yc", "oy", c.ow() - c.wq()));
    if (sub) {
      b.addStatement("int rr = $L", Code.plusTerm("rb", "oy", (long) c.resStride() * c.rw() - (long) c.wq() * c.resStride()));
      b.beginControlFlow("for (; p < rowEnd; p++)");
      b.addStatement("float v = tmp[ti + p]");
      b.addStatement("if (rin) v += a[rr + p * $L]", c.resStride());
      b.addStatement(c.relu() ? "a[d + p] = Math.max(v, 0f)" : "a[d + p] = v");
      b.endControlFlow();
    } else {
      b.addStatement("if (p < rowEnd) $L(tmp, ti + p, a, d + p, $L, $L, rowEnd - p)", finish, res, c.relu());
    }
    b.addStatement("p = (oy + 1) * $L", c.wq());
    b.endControlFlow();
    b.endControlFlow();
  }

  /** {@code a[yo + j] = relu?(t[ti + j] (+ a[yo + j + res]))} for j < len: vector, with a scalar twin. */
  private String finishKernel() {
    return parts.once("finish", () -> {
      MethodSpec.Builder sig = MethodSpec.methodBuilder("finish").addModifiers(Modifier.STATIC)
          .addParameter(FLOATS, "t").addParameter(int.class, "ti").addParameter(FLOATS, "a").addParameter(int.class, "yo")
          .addParameter(int.class, "res").addParameter(boolean.class, "relu").addParameter(int.class, "len");
      parts.methods.add(sig.build().toBuilder()
          .addJavadoc("{@code a[yo + j] = t[ti + j] (+ a[yo + j + res])}, then ReLU when asked, for j < len.\n")
          .beginControlFlow("if (VECTOR)").addStatement("Simd.finish(t, ti, a, yo, res, relu, len)").addStatement("return").endControlFlow()
          .beginControlFlow("for (int j = 0; j < len; j++)")
          .addStatement("float y = t[ti + j]")
          .addStatement("if (res != NO_RESIDUAL) y += a[yo + j + res]")
          .addStatement("a[yo + j] = relu ? Math.max(y, 0f) : y")
          .endControlFlow().build());
      // whole vectors, then one masked vector for the rest
      CodeBlock.Builder v = CodeBlock.builder();
      v.addStatement("int j = 0");
      v.beginControlFlow("for (; j <= len - SP.length(); j += SP.length())");
      v.addStatement("$T y = $T.fromArray(SP, t, ti + j)", FV, FV);
      v.addStatement("if (res != NO_RESIDUAL) y = y.add($T.fromArray(SP, a, yo + j + res))", FV);
      v.addStatement("if (relu) y = y.max(0f)");
      v.addStatement("y.intoArray(a, yo + j)");
      v.endControlFlow();
      v.beginControlFlow("if (j < len)");
      v.addStatement("$T<Float> m = SP.indexInRange(j, len)", VM);
      v.addStatement("$T y = $T.fromArray(SP, t, ti + j, m)", FV, FV);
      v.addStatement("if (res != NO_RESIDUAL) y = y.add($T.fromArray(SP, a, yo + j + res, m))", FV);
      v.addStatement("if (relu) y = y.max(0f)");
      v.addStatement("y.intoArray(a, yo + j, m)");
      v.endControlFlow();
      parts.simdMethods.add(sig.addCode(v.build()).build());
    });
  }

  // ---- micro-kernels ----

  /**
   * The dispatcher for a tile of R channels x nv planned vectors of 16: one 16-lane kernel, or 4-channel kernels of
   * 8 lanes over the halves of the channels and runs of positions that fit 16 registers, or the scalar twin.
   */
  private String tileKernel(Step.Conv c, int nv) {
    int r = c.tile().r(), lanes = c.tile().lanes();
    boolean oneTap = c.kk() == 1;
    String name = "tile" + r + "x" + nv + (oneTap ? "_1x1" : "");
    return parts.once(name, () -> {
      MethodSpec.Builder m = signature(name, oneTap)
          .addJavadoc("$L output channels x $L positions: from the bias, the sum over every input channel and tap, stored whole at\n"
              + "{@code y[yo + channel * yp + position]}.$L\n", r, nv * lanes, oneTap ? "" : " {@code tap} holds each tap's offset from the position.");
      String taps = oneTap ? "" : "tap, ";
      if (lanes == 16) {
        m.beginControlFlow("if (WIDE)");
        m.addStatement("Simd.$L(x, xi, ics, cg, $Lw, wi, bi, y, yo, yp)", vectorKernel(16, r, nv, r, oneTap), taps);
        m.nextControlFlow("else if (VECTOR)");
        int rn = Math.min(r, 4), vmax = (NARROW_REGISTERS - 1) / (rn + 1), vectors = 2 * nv;
        int calls = Math.ceilDiv(vectors, vmax), per = Math.ceilDiv(vectors, calls);
        m.addComment("as $L channel(s) x up to $L vector(s) of 8: $L call(s) over the channels, $L over the positions", rn, per, r / rn, calls);
        for (int h = 0; h < r; h += rn) {
          for (int k = 0, at = 0; k < calls; k++) {
            int count = Math.min(per, vectors - at);
            String kernel = vectorKernel(8, rn, count, r, oneTap);
            m.addStatement("Simd.$L(x, $L, ics, cg, $Lw, $L, $L, y, $L, yp)", kernel, plus("xi", at * 8L), taps, plus("wi", h), plus("bi", h),
                h == 0 ? plus("yo", at * 8L) : plus("yo + " + h + " * yp", at * 8L));
            at += count;
          }
        }
        m.nextControlFlow("else");
      } else {
        m.beginControlFlow("if (VECTOR)");
        m.addStatement("Simd.$L(x, xi, ics, cg, $Lw, wi, bi, y, yo, yp)", vectorKernel(8, r, nv, r, oneTap), taps);
        m.nextControlFlow("else");
      }
      if (oneTap) oneTapTable();
      m.addStatement("tileScalar(x, xi, ics, cg, $L, w, wi, $L, bi, $L, $L, y, yo, yp)", oneTap ? "ONE_TAP" : "tap", r, r, nv * lanes);
      m.endControlFlow();
      parts.methods.add(m.build());
      scalarTile();
    });
  }

  private static MethodSpec.Builder signature(String name, boolean oneTap) {
    MethodSpec.Builder m = MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(int.class, "ics").addParameter(int.class, "cg");
    if (!oneTap) m.addParameter(int[].class, "tap");
    return m.addParameter(FLOATS, "w").addParameter(int.class, "wi").addParameter(int.class, "bi")
        .addParameter(FLOATS, "y").addParameter(int.class, "yo").addParameter(int.class, "yp");
  }

  /** The tap table of a 1x1 conv, for the scalar twin. */
  private void oneTapTable() {
    parts.once("ONE_TAP", () -> parts.fields.add(FieldSpec.builder(int[].class, "ONE_TAP", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .initializer("{0}").build()));
  }

  /** The scalar twin of every tile kernel: the same products in the same order, accumulated in place in y. */
  private void scalarTile() {
    parts.once("tileScalar", () -> {
      parts.methods.add(MethodSpec.methodBuilder("tileScalar").addModifiers(Modifier.STATIC)
          .addJavadoc("The tile kernels' scalar twin: r channels (weights packed by packR) x len positions.\n")
          .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(int.class, "ics").addParameter(int.class, "cg")
          .addParameter(int[].class, "tap").addParameter(FLOATS, "w").addParameter(int.class, "wi").addParameter(int.class, "packR")
          .addParameter(int.class, "bi").addParameter(int.class, "r").addParameter(int.class, "len")
          .addParameter(FLOATS, "y").addParameter(int.class, "yo").addParameter(int.class, "yp")
          .addStatement("for (int i = 0; i < r; i++) java.util.Arrays.fill(y, yo + i * yp, yo + i * yp + len, w[bi + i])")
          .beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics)")
          .beginControlFlow("for (int t = 0; t < tap.length; t++, wi += packR)")
          .beginControlFlow("for (int i = 0; i < r; i++)")
          .addStatement("float wv = w[wi + i]")
          .addStatement("for (int j = 0; j < len; j++) y[yo + i * yp + j] = Math.fma(x[xi + tap[t] + j], wv, y[yo + i * yp + j])")
          .endControlFlow().endControlFlow().endControlFlow().build());
    });
  }

  /**
   * A Vector API tile: r x v accumulators of {@code lanes} floats from the bias; per input channel (and tap) v
   * loads and r broadcast weights (packed {@code packR} per tap). Loads are never masked: scratch and the arena
   * have room past the last tile, and lanes past the valid positions are not stored by the epilogue.
   */
  private String vectorKernel(int lanes, int r, int v, int packR, boolean oneTap) {
    String name = "k" + r + "x" + v + "x" + lanes + (packR != r ? "p" + packR : "") + (oneTap ? "_1x1" : "");
    return parts.once(name, () -> {
      String sp = lanes == 16 ? "SP16" : "SP8";
      CodeBlock.Builder b = CodeBlock.builder();
      for (int i = 0; i < r; i++) {
        for (int j = 0; j < v; j++) b.addStatement("$T a$L$L = $T.broadcast($L, w[$L])", FV, i, j, FV, sp, plus("bi", i));
      }
      // a loop over taps (offsets from the layer's table) keeps the method small enough for the JIT's first tier
      if (oneTap) {
        b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics, wi += $L)", packR);
        b.addStatement("int o = xi");
      } else {
        b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics)");
        b.beginControlFlow("for (int t = 0; t < tap.length; t++, wi += $L)", packR);
        b.addStatement("int o = xi + tap[t]");
      }
      for (int j = 0; j < v; j++) b.addStatement("$T x$L = $T.fromArray($L, x, $L)", FV, j, FV, sp, plus("o", (long) j * lanes));
      for (int i = 0; i < r; i++) {
        b.addStatement("$T w$L = $T.broadcast($L, w[$L])", FV, i, FV, sp, plus("wi", i));
        for (int j = 0; j < v; j++) b.addStatement("a$L$L = x$L.fma(w$L, a$L$L)", i, j, j, i, i, j);
      }
      if (!oneTap) b.endControlFlow();
      b.endControlFlow();
      for (int i = 0; i < r; i++) {
        for (int j = 0; j < v; j++) b.addStatement("a$L$L.intoArray(y, $L)", i, j, plus(i == 0 ? "yo" : "yo + " + i + " * yp", (long) j * lanes));
      }
      parts.simdMethods.add(signature(name, oneTap)
          .addJavadoc("$L channels x $L vector(s) of $L floats (weights packed $L channels per tap).\n", r, v, lanes, packR)
          .addCode(b.build()).build());
    });
  }
}
