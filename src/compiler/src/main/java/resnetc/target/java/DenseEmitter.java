package resnetc.target.java;

import static resnetc.target.java.ClassParts.FLOATS;
import static resnetc.target.java.ClassParts.FV;

import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.MethodSpec;
import javax.lang.model.element.Modifier;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Step;

/**
 * Dense layers in Java as broadcast FMAs over output vectors, no horizontal sums. Weights come in groups of 16
 * outputs, [group][in][16]; output m sums {@code x[i] * w[m][i]} in four FMA chains over i mod 4, the first from
 * the bias, then adds them as {@code (c0 + c1) + (c2 + c3)}: the same operations on every path (16 or 8 lanes, or
 * scalar), so the same bits.
 */
final class DenseEmitter {
  private static final int GROUP = Scheduler.DENSE_GROUP, TASK = Scheduler.DENSE_TASK;
  private final ClassParts parts;

  DenseEmitter(ClassParts parts) {
    this.parts = parts;
  }

  void dense(CodeBlock.Builder b, Step.Dense d) {
    kernels();
    int tasks = d.tasksPerImage(), in = d.in(), out = d.out();
    b.add("// $L outputs in $L task(s) of up to $L per image, image minor: a task's weights are read once per batch\n", out, tasks, TASK);
    Code.openTasks(b, tasks, 1);
    Code.imageAndTask(b, tasks, true);
    if (tasks == 1) {
      b.addStatement("dense(a, X + b * $L, w, $L, $L, $L, a, Y + b * $L, $L)", in, d.weights(), d.bias(), in, out, out);
    } else {
      b.addStatement("dense(a, X + b * $L, w, $L, $L, $L, a, Y + b * $L + j * $L, Math.min($L, $L - j * $L))", in,
          Code.lin("j", (long) TASK * in, d.weights()), Code.lin("j", TASK, d.bias()), in, out, TASK, TASK, out, TASK);
    }
    Code.closeTasks(b, 1);
  }

  private void kernels() {
    parts.once("dense", () -> {
      MethodSpec.Builder sig = MethodSpec.methodBuilder("dense").addModifiers(Modifier.STATIC)
          .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(FLOATS, "w").addParameter(int.class, "wi")
          .addParameter(int.class, "bi").addParameter(int.class, "len").addParameter(FLOATS, "y").addParameter(int.class, "yo")
          .addParameter(int.class, "count");
      CodeBlock.Builder sc = CodeBlock.builder();
      sc.beginControlFlow("if (VECTOR)").addStatement("Simd.dense(x, xi, w, wi, bi, len, y, yo, count)").addStatement("return").endControlFlow();
      sc.beginControlFlow("for (int m = 0; m < count; m++)");
      sc.addStatement("float c0 = w[bi + m], c1 = 0f, c2 = 0f, c3 = 0f");
      sc.addStatement("int i = 0, o = wi + m / $L * $L * len + m % $L", GROUP, GROUP, GROUP);
      sc.beginControlFlow("for (; i <= len - 4; i += 4, o += $L)", 4 * GROUP);
      for (int c = 0; c < 4; c++) sc.addStatement("c$L = Math.fma(x[$L], w[$L], c$L)", c, Code.plus("xi + i", c), Code.plus("o", c * GROUP), c);
      sc.endControlFlow();
      for (int c = 0; c < 3; c++) {
        sc.addStatement("if ($L < len) c$L = Math.fma(x[$L], w[$L], c$L)", Code.plus("i", c), c, Code.plus("xi + i", c), Code.plus("o", c * GROUP), c);
      }
      sc.addStatement("y[yo + m] = (c0 + c1) + (c2 + c3)");
      sc.endControlFlow();
      parts.methods.add(sig.build().toBuilder()
          .addJavadoc("{@code y[yo + m] = w[bi + m] + sum x[xi + i] * w[m][i]} for m < count in four chains over i mod 4, weights in groups\n"
              + "of $L outputs: [group][len][$L].\n", GROUP, GROUP)
          .addCode(sc.build()).build());
      CodeBlock.Builder v = CodeBlock.builder();
      v.add("// per group of $L outputs, one vector of SP.length() of them at a time: each output's chains as in the scalar loop\n", GROUP);
      v.beginControlFlow("for (int g = 0; g < count; g += $L, wi += $L * len)", GROUP, GROUP);
      v.beginControlFlow("for (int h = 0; h < $L && g + h < count; h += SP.length())", GROUP);
      v.addStatement("$T c0 = $T.fromArray(SP, w, bi + g + h), c1 = $T.zero(SP), c2 = c1, c3 = c1", FV, FV, FV);
      v.addStatement("int i = 0, o = wi + h");
      v.beginControlFlow("for (; i <= len - 4; i += 4, o += $L)", 4 * GROUP);
      for (int c = 0; c < 4; c++) {
        v.addStatement("c$L = $T.fromArray(SP, w, $L).fma($T.broadcast(SP, x[$L]), c$L)", c, FV, Code.plus("o", c * GROUP), FV, Code.plus("xi + i", c), c);
      }
      v.endControlFlow();
      for (int c = 0; c < 3; c++) {
        v.addStatement("if ($L < len) c$L = $T.fromArray(SP, w, $L).fma($T.broadcast(SP, x[$L]), c$L)", Code.plus("i", c), c, FV,
            Code.plus("o", c * GROUP), FV, Code.plus("xi + i", c), c);
      }
      v.addStatement("c0.add(c1).add(c2.add(c3)).intoArray(y, yo + g + h, SP.indexInRange(g + h, count))");
      v.endControlFlow();
      v.endControlFlow();
      parts.simdMethods.add(sig.addCode(v.build()).build());
    });
  }
}
