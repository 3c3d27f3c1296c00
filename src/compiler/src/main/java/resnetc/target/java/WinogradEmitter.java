package resnetc.target.java;

import static resnetc.target.java.ClassParts.FLOATS;
import static resnetc.target.java.ClassParts.FV;
import static resnetc.target.java.ClassParts.VM;
import static resnetc.target.java.ClassParts.VS;
import static resnetc.target.java.Code.lin;

import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.ParameterizedTypeName;
import com.palantir.javapoet.TypeName;
import javax.lang.model.element.Modifier;
import resnetc.schedule.Step;

/**
 * Winograd F(2x2, 3x3) transforms in Java (the products are a conv step, see {@link ConvEmitter}): the input
 * transform of the staged planes into 16 planes per channel, and the output transform with bias, residual and
 * ReLU. Vector bodies take L tiles at a time (16 or 8 lanes, as the class chose), with a scalar twin doing the same
 * additions in the same order, so every path gives the same bits.
 */
final class WinogradEmitter {
  private final ClassParts parts;

  WinogradEmitter(ClassParts parts) {
    this.parts = parts;
  }

  /** V = B^T d B of every tile of one input channel per task. */
  void input(CodeBlock.Builder b, Step.WinogradInput st) {
    checkTile(st.m());
    kernels();
    b.add("// Winograd input transform: $L x $L tiles per plane into 16 planes of $L floats per channel\n", st.th(), st.tw(), st.tp());
    Code.openTasks(b, st.c(), 1);
    b.addStatement("int b = t / $L, ch = t % $L", st.c(), st.c());
    b.addStatement("winogradIn(s, b * $L + ch * $L, $L, $L, $L, $L + ch * $L, $L)", st.perImage(), st.hq() * st.wq(), st.wq(), st.th(), st.tw(),
        lin("b", st.perImage(), st.v()), 16L * st.tp(), st.tp());
    Code.closeTasks(b, 1);
  }

  /** Y = A^T M A + bias (+ residual), ReLU, of one output channel per task. */
  void output(CodeBlock.Builder b, Step.WinogradOutput st) {
    checkTile(st.m());
    kernels();
    b.add("// Winograd output transform with the bias$L$L\n", st.r() >= 0 ? ", the residual" : "", st.relu() ? " and ReLU" : "");
    Code.openTasks(b, st.o(), 1);
    b.addStatement("int b = t / $L, ch = t % $L", st.o(), st.o());
    b.addStatement("winogradOut(s, $L + ch * $L, $L, $L, $L, w[$L], a, Y + t * $L, $L, $L, $L, $L)", lin("b", st.perImage(), st.products()), 16L * st.tp(),
        st.tp(), st.th(), st.tw(), Code.plus("ch", st.bias()), st.oh() * st.ow(), st.oh(), st.ow(),
        st.r() >= 0 ? "R - Y" : "NO_RESIDUAL", st.relu());
    Code.closeTasks(b, 1);
  }

  /** The Java target plans F(2x2, 3x3) only ({@link resnetc.schedule.CpuModel#winograd4x4}). */
  private static void checkTile(int m) {
    if (m != 2) throw new IllegalStateException("the Java target has no F(" + m + "x" + m + ", 3x3) transforms");
  }

  private void kernels() {
    parts.once("winograd", () -> {
      MethodSpec.Builder in = MethodSpec.methodBuilder("winogradIn").addModifiers(Modifier.STATIC)
          .addJavadoc("V = B^T d B of one staged plane's th x tw tiles (4x4 at stride 2) into 16 planes {@code xs} floats apart.\n")
          .addParameter(FLOATS, "s").addParameter(int.class, "src").addParameter(int.class, "wq").addParameter(int.class, "th")
          .addParameter(int.class, "tw").addParameter(int.class, "dst").addParameter(int.class, "xs");
      MethodSpec.Builder out = MethodSpec.methodBuilder("winogradOut").addModifiers(Modifier.STATIC)
          .addJavadoc("Y = A^T M A + bias (+ a[y + res]), then ReLU when asked, of one output channel's tiles.\n")
          .addParameter(FLOATS, "s").addParameter(int.class, "m").addParameter(int.class, "xs").addParameter(int.class, "th")
          .addParameter(int.class, "tw").addParameter(float.class, "bias").addParameter(FLOATS, "a").addParameter(int.class, "y")
          .addParameter(int.class, "oh").addParameter(int.class, "ow").addParameter(int.class, "res").addParameter(boolean.class, "relu");
      MethodSpec inSig = in.build(), outSig = out.build();
      in.beginControlFlow("if (WIDE)").addStatement("Simd.winogradIn16(s, src, wq, th, tw, dst, xs)")
          .nextControlFlow("else if (VECTOR)").addStatement("Simd.winogradIn8(s, src, wq, th, tw, dst, xs)")
          .nextControlFlow("else").addCode(scalarInput()).endControlFlow();
      out.beginControlFlow("if (WIDE)").addStatement("Simd.winogradOut16(s, m, xs, th, tw, bias, a, y, oh, ow, res, relu)")
          .nextControlFlow("else if (VECTOR)").addStatement("Simd.winogradOut8(s, m, xs, th, tw, bias, a, y, oh, ow, res, relu)")
          .nextControlFlow("else").addCode(scalarOutput()).endControlFlow();
      parts.methods.add(in.build());
      parts.methods.add(out.build());
      for (int lanes : new int[] {16, 8}) vectorKernels(lanes, inSig, outSig);
    });
  }

  /** The input transform tile by tile: the vector bodies' additions, in their order. */
  private static CodeBlock scalarInput() {
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("float[] d = new float[16], v = new float[16]");
    b.beginControlFlow("for (int ty = 0; ty < th; ty++)");
    b.beginControlFlow("for (int tx = 0; tx < tw; tx++)");
    b.addStatement("for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) d[i * 4 + j] = s[src + (2 * ty + i) * wq + 2 * tx + j]");
    b.beginControlFlow("for (int j = 0; j < 4; j++)");
    b.addStatement("float b0 = d[j] - d[8 + j], b1 = d[4 + j] + d[8 + j], b2 = d[8 + j] - d[4 + j], b3 = d[4 + j] - d[12 + j]");
    b.addStatement("v[j] = b0; v[4 + j] = b1; v[8 + j] = b2; v[12 + j] = b3");
    b.endControlFlow();
    b.beginControlFlow("for (int i = 0; i < 4; i++)");
    b.addStatement("int at = dst + ty * tw + tx + 4 * i * xs");
    b.addStatement("s[at] = v[i * 4] - v[i * 4 + 2]");
    b.addStatement("s[at + xs] = v[i * 4 + 1] + v[i * 4 + 2]");
    b.addStatement("s[at + 2 * xs] = v[i * 4 + 2] - v[i * 4 + 1]");
    b.addStatement("s[at + 3 * xs] = v[i * 4 + 1] - v[i * 4 + 3]");
    b.endControlFlow();
    b.endControlFlow();
    b.endControlFlow();
    return b.build();
  }

  /** The output transform tile by tile: the vector bodies' additions, in their order. */
  private static CodeBlock scalarOutput() {
    CodeBlock.Builder b = CodeBlock.builder();
    b.beginControlFlow("for (int ty = 0; ty < th; ty++)");
    b.beginControlFlow("for (int tx = 0; tx < tw; tx++)");
    b.addStatement("int at = m + ty * tw + tx");
    b.beginControlFlow("for (int i = 0; i < 2 && 2 * ty + i < oh; i++)");
    b.addStatement("float[] u = new float[4]");
    b.beginControlFlow("for (int j = 0; j < 4; j++)");
    b.addStatement("float m0 = s[at + j * xs], m1 = s[at + (4 + j) * xs], m2 = s[at + (8 + j) * xs], m3 = s[at + (12 + j) * xs]");
    b.addStatement("u[j] = i == 0 ? m0 + m1 + m2 : m1 - m2 - m3");
    b.endControlFlow();
    b.addStatement("float[] c = {u[0] + u[1] + u[2], u[1] - u[2] - u[3]}");
    b.beginControlFlow("for (int k = 0; k < 2 && 2 * tx + k < ow; k++)");
    b.addStatement("int o = y + (2 * ty + i) * ow + 2 * tx + k");
    b.addStatement("float v = c[k] + bias");
    b.addStatement("if (res != NO_RESIDUAL) v += a[o + res]");
    b.addStatement("a[o] = relu ? Math.max(v, 0f) : v");
    b.endControlFlow();
    b.endControlFlow();
    b.endControlFlow();
    b.endControlFlow();
    return b.build();
  }

  /** The transforms for vectors of {@code lanes} floats, with the shuffles they need. */
  private void vectorKernels(int lanes, MethodSpec inSig, MethodSpec outSig) {
    String sp = lanes == 16 ? "SP16" : "SP8";
    StringBuilder even = new StringBuilder(), odd = new StringBuilder(), lo = new StringBuilder(), hi = new StringBuilder();
    for (int l = 0; l < lanes; l++) {
      String sep = l == 0 ? "" : ", ";
      even.append(sep).append(2 * l);
      odd.append(sep).append(2 * l + 1);
      lo.append(sep).append(l / 2 + (l % 2) * lanes);
      hi.append(sep).append(lanes / 2 + l / 2 + (l % 2) * lanes);
    }
    TypeName sh = ParameterizedTypeName.get(VS, ClassName.get(Float.class));
    String[][] shuffles = {{"W_EVEN", even.toString()}, {"W_ODD", odd.toString()}, {"W_ZIPLO", lo.toString()}, {"W_ZIPHI", hi.toString()}};
    for (String[] s : shuffles) {
      parts.simdFields.add(FieldSpec.builder(sh, s[0] + lanes, Modifier.STATIC, Modifier.FINAL).initializer("$T.fromValues($L, $L)", VS, sp, s[1]).build());
    }

    // input transform of one row i of L tiles: d[i][0..3] from two loads of 2L floats, split into even and odd lanes
    CodeBlock.Builder in = CodeBlock.builder();
    in.beginControlFlow("for (int ty = 0; ty < th; ty++)");
    in.beginControlFlow("for (int tx = 0; tx < tw; tx += $L)", lanes);
    in.addStatement("int r0 = src + 2 * ty * wq + 2 * tx");
    for (int i = 0; i < 4; i++) {
      for (int half = 0; half < 2; half++) {
        String row = i == 0 ? "r0" : "r0 + " + i + " * wq";
        in.addStatement("$T p$L$L = $T.fromArray($L, s, $L), q$L$L = $T.fromArray($L, s, $L)", FV, i, half, FV, sp, Code.plus(row, 2 * half), i, half,
            FV, sp, Code.plus(row, 2 * half + lanes));
        in.addStatement("$T d$L$L = p$L$L.rearrange(W_EVEN$L, q$L$L), d$L$L = p$L$L.rearrange(W_ODD$L, q$L$L)", FV, i, 2 * half, i, half, lanes, i,
            half, i, 2 * half + 1, i, half, lanes, i, half);
      }
    }
    for (int j = 0; j < 4; j++) {
      in.addStatement("$T b0$L = d0$L.sub(d2$L), b1$L = d1$L.add(d2$L), b2$L = d2$L.sub(d1$L), b3$L = d1$L.sub(d3$L)", FV, j, j, j, j, j, j, j, j,
          j, j, j, j);
    }
    in.addStatement("int at = dst + ty * tw + tx");
    in.addStatement("$T<Float> m = $L.indexInRange(tx, tw)", VM, sp);
    for (int i = 0; i < 4; i++) {
      String at = i == 0 ? "at" : "at + " + 4 * i + " * xs";
      in.addStatement("b$L0.sub(b$L2).intoArray(s, $L, m)", i, i, at);
      in.addStatement("b$L1.add(b$L2).intoArray(s, at + $L * xs, m)", i, i, 4 * i + 1);
      in.addStatement("b$L2.sub(b$L1).intoArray(s, at + $L * xs, m)", i, i, 4 * i + 2);
      in.addStatement("b$L1.sub(b$L3).intoArray(s, at + $L * xs, m)", i, i, 4 * i + 3);
    }
    in.endControlFlow();
    in.endControlFlow();
    parts.simdMethods.add(inSig.toBuilder().setName("winogradIn" + lanes).addCode(in.build()).build());

    // output transform: one method per output row of the tile (a single one is too large for C1's registers)
    CodeBlock.Builder out = CodeBlock.builder();
    out.beginControlFlow("for (int ty = 0; ty < th; ty++)");
    out.beginControlFlow("for (int tx = 0; tx < tw; tx += $L)", lanes);
    out.addStatement("int at = m + ty * tw + tx, row = y + 2 * ty * ow");
    out.addStatement("winogradRow0_$L(s, at, xs, bias, a, row, 2 * tx, ow, res, relu)", lanes);
    out.addStatement("if (2 * ty + 1 < oh) winogradRow1_$L(s, at, xs, bias, a, row + ow, 2 * tx, ow, res, relu)", lanes);
    out.endControlFlow();
    out.endControlFlow();
    parts.simdMethods.add(outSig.toBuilder().setName("winogradOut" + lanes).addCode(out.build()).build());
    for (int i = 0; i < 2; i++) {
      CodeBlock.Builder rb = CodeBlock.builder();
      // row 0 of A^T is (1, 1, 1, 0), row 1 is (0, 1, -1, -1)
      for (int j = 0; j < 4; j++) {
        String[] at = new String[4];
        for (int k = 0; k < 4; k++) at[k] = 4 * k + j == 0 ? "at" : "at + " + (4 * k + j) + " * xs";
        if (i == 0) {
          rb.addStatement("$T u$L = $T.fromArray($L, s, $L).add($T.fromArray($L, s, $L)).add($T.fromArray($L, s, $L))", FV, j, FV, sp, at[0], FV, sp,
              at[1], FV, sp, at[2]);
        } else {
          rb.addStatement("$T u$L = $T.fromArray($L, s, $L).sub($T.fromArray($L, s, $L)).sub($T.fromArray($L, s, $L))", FV, j, FV, sp, at[1], FV, sp,
              at[2], FV, sp, at[3]);
        }
      }
      rb.addStatement("$T c0 = u0.add(u1).add(u2), c1 = u1.sub(u2).sub(u3)", FV);
      for (String part : new String[] {"W_ZIPLO", "W_ZIPHI"}) {
        String v = part.equals("W_ZIPLO") ? "lo" : "hi", k = "k" + v, col = v.equals("lo") ? "col" : "col + " + lanes;
        rb.addStatement("$T<Float> $L = $L.indexInRange($L, ow)", VM, k, sp, col);
        rb.addStatement("$T $L = c0.rearrange($L$L, c1).add(bias)", FV, v, part, lanes);
        rb.addStatement("if (res != NO_RESIDUAL) $L = $L.add($T.fromArray($L, a, row + $L + res, $L))", v, v, FV, sp, col, k);
        rb.addStatement("if (relu) $L = $L.max(0f)", v, v);
        rb.addStatement("$L.intoArray(a, row + $L, $L)", v, col, k);
      }
      parts.simdMethods.add(MethodSpec.methodBuilder("winogradRow" + i + "_" + lanes).addModifiers(Modifier.STATIC)
          .addParameter(FLOATS, "s").addParameter(int.class, "at").addParameter(int.class, "xs").addParameter(float.class, "bias")
          .addParameter(FLOATS, "a").addParameter(int.class, "row").addParameter(int.class, "col").addParameter(int.class, "ow")
          .addParameter(int.class, "res").addParameter(boolean.class, "relu").addCode(rb.build()).build());
    }
  }
}
