package resnetc.target.java;

import static resnetc.target.java.ClassParts.FLOATS;
import static resnetc.target.java.ClassParts.FV;
import static resnetc.target.java.ClassParts.VOPS;
import static resnetc.target.java.Code.plus;

import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.MethodSpec;
import javax.lang.model.element.Modifier;
import resnetc.schedule.Step;

/** Pooling in Java: max pooling with a vector body for windows inside the image, average and global average in double. */
final class PoolEmitter {
  private final ClassParts parts;
  private final ConvEmitter conv;

  PoolEmitter(ClassParts parts, ConvEmitter conv) {
    this.parts = parts;
    this.conv = conv;
  }

  void pool(CodeBlock.Builder b, Step.Pool p) {
    if (p.max()) maxPool(b, p);
    else avgPool(b, p);
  }

  /**
   * Max pooling, one output row at a time: the border columns (windows clamped to the image) one by one, the
   * interior columns (windows inside the image, no clamping) through a kernel per window size and stride, vector
   * where the Vector API is present. Every path takes the interpreter's maximum: over the window in row-major order
   * {@code m = v} when {@code v > m} or v is NaN, from -infinity (so padding never wins, a NaN makes the output NaN,
   * and of +0 and -0 the first one seen stays).
   */
  private void maxPool(CodeBlock.Builder b, Step.Pool p) {
    int h = p.h(), w = p.w(), oh = p.oh(), ow = p.ow(), k = p.k(), sd = p.s(), pad = p.pad();
    // interior columns [ox0, ox1): ox * sd - pad >= 0 and ox * sd - pad + k <= w
    int ox0 = Math.min(ow, Math.ceilDiv(pad, sd));
    int ox1 = Math.max(ox0, Math.min(ow, w - k + pad < 0 ? 0 : Math.floorDiv(w - k + pad, sd) + 1));
    Code.openTasks(b, p.c(), p.grain());
    b.addStatement("int xb = X + t * $L, yb = Y + t * $L", h * w, oh * ow);
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.addStatement("int y0 = Math.max($L, 0), y1 = Math.min($L, $L), yr = yb + oy * $L", Code.lin("oy", sd, -pad), Code.lin("oy", sd, k - pad), h, ow);
    if (ox0 > 0 || ox1 < ow) {
      b.add("// border columns: windows clamped to the image\n");
      String border = CodeBlock.of("a[yr + ox] = windowMax(a, xb, $L, y0, y1, Math.max($L, 0), Math.min($L, $L))", w, Code.lin("ox", sd, -pad),
          Code.lin("ox", sd, k - pad), w).toString();
      if (ox0 > 0) b.addStatement("for (int ox = 0; ox < $L; ox++) $L", ox0, border);
      if (ox1 < ow) b.addStatement("for (int ox = $L; ox < $L; ox++) $L", ox1, ow, border);
      windowMaxKernel();
    }
    if (ox1 > ox0) {
      b.add("// columns $L..$L: windows inside the image\n", ox0, ox1 - 1);
      b.addStatement("$L(a, $L, $L, y1 - y0, a, $L, $L)", interiorKernel(k, sd), plus("xb + y0 * " + w, (long) ox0 * sd - pad), w, plus("yr", ox0), ox1 - ox0);
    }
    b.endControlFlow();
    Code.closeTasks(b, p.grain());
  }

  /** The interior max-pool kernel of one window size and stride: vector for strides 1 and 2, with its scalar twin. */
  private String interiorKernel(int k, int sd) {
    String name = "maxpool" + k + "s" + sd;
    return parts.once(name, () -> {
      MethodSpec.Builder sig = MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
          .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(int.class, "xs").addParameter(int.class, "rows")
          .addParameter(FLOATS, "y").addParameter(int.class, "yo").addParameter(int.class, "len");
      MethodSpec.Builder outer = sig.build().toBuilder()
          .addJavadoc("{@code y[yo + j] = max x[xi + r * xs + j * $L + kx]} over r < rows, kx < $L, for j < len (windows inside the image).\n", sd, k);
      if (sd <= 2) outer.beginControlFlow("if (VECTOR && len >= Simd.SP.length())").addStatement("Simd.$L(x, xi, xs, rows, y, yo, len)", name)
          .addStatement("return").endControlFlow();
      outer.beginControlFlow("for (int j = 0; j < len; j++)");
      outer.addStatement("float m = Float.NEGATIVE_INFINITY");
      outer.beginControlFlow("for (int r = 0, o = $L; r < rows; r++, o += xs)", sd == 1 ? "xi + j" : "xi + j * " + sd);
      outer.beginControlFlow("for (int kx = 0; kx < $L; kx++)", k);
      outer.addStatement("float v = x[o + kx]");
      outer.addStatement("if (v > m || Float.isNaN(v)) m = v");
      outer.endControlFlow().endControlFlow();
      outer.addStatement("y[yo + j] = m");
      outer.endControlFlow();
      parts.methods.add(outer.build());
      if (sd > 2) return;
      if (sd == 2) conv.evenLanes();
      CodeBlock.Builder v = CodeBlock.builder();
      v.add("// the last vector overlaps the one before it when lanes do not divide len; the values are the same\n");
      v.beginControlFlow("for (int j = 0; j < len; j += SP.length())");
      v.addStatement("if (j > len - SP.length()) j = len - SP.length()");
      v.add("// m: the interpreter's max of the values that are not NaN (v > m, in window order); z is NaN if any value is\n");
      v.addStatement("$T m = $T.broadcast(SP, Float.NEGATIVE_INFINITY), z = m", FV, FV);
      v.beginControlFlow("for (int r = 0, o = $L; r < rows; r++, o += xs)", sd == 1 ? "xi + j" : "xi + j * 2");
      for (int kx = 0; kx < k; kx++) {
        CodeBlock decl = kx == 0 ? CodeBlock.of("$T v", FV) : CodeBlock.of("v");
        if (sd == 1) v.addStatement("$L = $T.fromArray(SP, x, $L)", decl, FV, plus("o", kx));
        else v.addStatement("$L = EVEN.selectFrom($T.fromArray(SP, x, $L), $T.fromArray(SP, x, $L + SP.length()))", decl, FV, plus("o", kx), FV, plus("o", kx));
        v.addStatement("m = m.blend(v, v.compare($T.GT, m))", VOPS);
        v.addStatement("z = z.max(v)");
      }
      v.endControlFlow();
      v.addStatement("m.blend(z, z.compare($T.NE, z)).intoArray(y, yo + j)", VOPS);
      v.endControlFlow();
      parts.simdMethods.add(sig.addCode(v.build()).build());
    });
  }

  /** The max of a window clamped to the image, for border columns. */
  private void windowMaxKernel() {
    parts.once("windowMax", () -> parts.methods.add(MethodSpec.methodBuilder("windowMax").addModifiers(Modifier.STATIC).returns(float.class)
        .addJavadoc("Max of {@code x[xb + iy * w + ix]} for iy in [y0, y1), ix in [x0, x1), row-major; a NaN wins; -infinity when empty.\n")
        .addParameter(FLOATS, "x").addParameter(int.class, "xb").addParameter(int.class, "w").addParameter(int.class, "y0")
        .addParameter(int.class, "y1").addParameter(int.class, "x0").addParameter(int.class, "x1")
        .addStatement("float m = Float.NEGATIVE_INFINITY")
        .beginControlFlow("for (int iy = y0; iy < y1; iy++)")
        .beginControlFlow("for (int ix = x0; ix < x1; ix++)")
        .addStatement("float v = x[xb + iy * w + ix]")
        .addStatement("if (v > m || Float.isNaN(v)) m = v")
        .endControlFlow()
        .endControlFlow()
        .addStatement("return m").build()));
  }

  /**
   * PyTorch's avg_pool2d in double: with count_pad the divisor is the window clipped to the padded input, without it
   * the in-bounds elements; a window with no input is 0.
   */
  private void avgPool(CodeBlock.Builder b, Step.Pool p) {
    int h = p.h(), w = p.w(), oh = p.oh(), ow = p.ow(), k = p.k(), s = p.s(), pad = p.pad();
    Code.openTasks(b, p.c(), p.grain());
    b.addStatement("int xb = X + t * $L, yb = Y + t * $L", h * w, oh * ow);
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.addStatement("int py0 = $L, py1 = Math.min(py0 + $L, $L), y0 = Math.max(py0, 0), y1 = Math.min(py1, $L)", Code.lin("oy", s, -pad), k, h + pad, h);
    b.beginControlFlow("for (int ox = 0; ox < $L; ox++)", ow);
    b.addStatement("int px0 = $L, px1 = Math.min(px0 + $L, $L), x0 = Math.max(px0, 0), x1 = Math.min(px1, $L)", Code.lin("ox", s, -pad), k, w + pad, w);
    b.addStatement("double sum = 0");
    b.addStatement("for (int iy = y0; iy < y1; iy++) for (int ix = x0; ix < x1; ix++) sum += a[xb + iy * $L + ix]", w);
    b.addStatement(p.countPad() ? "int div = (py1 - py0) * (px1 - px0)" : "int div = (y1 - y0) * (x1 - x0)");
    b.addStatement("a[yb + oy * $L + ox] = y0 >= y1 || x0 >= x1 ? 0f : (float) (sum / div)", ow);
    b.endControlFlow();
    b.endControlFlow();
    Code.closeTasks(b, p.grain());
  }

  /** The mean of one channel plane per task, summed in double. */
  void globalAvgPool(CodeBlock.Builder b, Step.GlobalAvgPool p) {
    Code.openTasks(b, p.c(), p.grain());
    b.addStatement("double sum = 0");
    b.addStatement("for (int i = 0; i < $L; i++) sum += a[X + t * $L + i]", p.plane(), p.plane());
    b.addStatement("a[Y + t] = (float) (sum / $L)", p.plane());
    Code.closeTasks(b, p.grain());
  }
}
