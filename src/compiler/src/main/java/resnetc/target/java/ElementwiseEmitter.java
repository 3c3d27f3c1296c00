package resnetc.target.java;

import static resnetc.target.ModelClass.floats;

import com.palantir.javapoet.CodeBlock;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Step;

/** The memory-bound layers in Java: batch norm, ReLU, add, softmax, the option-A shortcut and input normalization. */
final class ElementwiseEmitter {
  /** {@code (x - mean) * scale + beta} per channel plane in double, as the interpreter (and the native target) compute it. */
  void batchNorm(CodeBlock.Builder b, Step.BatchNorm bn) {
    int c = bn.c(), plane = bn.plane();
    Code.openTasks(b, c, bn.grain());
    b.addStatement("int ch = t % $L", c);
    b.addStatement("double mean = w[$L], scale = w[$L], beta = w[$L]", Code.plus("ch", bn.params()), Code.plus("ch", bn.params() + c),
        Code.plus("ch", bn.params() + 2L * c));
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = (float) ((a[X + i] - mean) * scale + beta)", plane, plane);
    Code.closeTasks(b, bn.grain());
  }

  /** ReLU or add over chunks of one image per task. */
  void elementwise(CodeBlock.Builder b, Step.Elementwise e) {
    int tasks = e.tasksPerImage();
    long size = e.size();
    Code.openTasks(b, tasks, 1);
    Code.imageAndTask(b, tasks, false);
    String from = tasks == 1 ? "b * " + size : "b * " + size + " + j * " + Scheduler.CHUNK;
    String to = tasks == 1 ? "i + " + size : "b * " + size + " + Math.min(" + size + ", (j + 1) * " + Scheduler.CHUNK + ")";
    b.addStatement("for (int i = $L, end = $L; i < end; i++) a[Y + i] = $L", from, to, e.add() ? "a[X + i] + a[Z + i]" : "Math.max(a[X + i], 0f)");
    Code.closeTasks(b, 1);
  }

  /** exp(x - max) in double, divided by their sum: the interpreter's softmax, one image at a time on the calling thread. */
  void softmax(CodeBlock.Builder b, Step.Softmax sm) {
    int k = sm.len();
    b.beginControlFlow("for (int t = 0; t < n; t++)");
    b.addStatement("double max = Double.NEGATIVE_INFINITY, sum = 0");
    b.addStatement("for (int i = 0; i < $L; i++) max = Math.max(max, a[X + t * $L + i])", k, k);
    b.addStatement("double[] e = new double[$L]", k);
    b.addStatement("for (int i = 0; i < $L; i++) sum += e[i] = Math.exp(a[X + t * $L + i] - max)", k, k);
    b.addStatement("for (int i = 0; i < $L; i++) a[Y + t * $L + i] = (float) (e[i] / sum)", k, k);
    b.endControlFlow();
  }

  /** The option-A shortcut: output channel ch is input channel ch - before at stride S, or zeros. */
  void subsamplePad(CodeBlock.Builder b, Step.SubsamplePad p) {
    int c = p.c(), h = p.h(), w = p.w(), oc = p.oc(), oh = p.oh(), ow = p.ow();
    Code.openTasks(b, oc, p.grain());
    b.addStatement("int b = t / $L, ch = $L", oc, Code.plus("t % " + oc, -p.before()));
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.beginControlFlow("for (int ox = 0; ox < $L; ox++)", ow);
    b.addStatement("a[Y + t * $L + oy * $L + ox] = ch >= 0 && ch < $L ? a[X + ((b * $L + ch) * $L + oy * $L) * $L + ox * $L] : 0f", oh * ow, ow, c, c, h,
        p.s(), w, p.s());
    b.endControlFlow();
    b.endControlFlow();
    Code.closeTasks(b, p.grain());
  }

  /** {@code (x / div - mean[c]) / std[c]} in float, as the runtime's preprocessing computes it. */
  void normalize(CodeBlock.Builder b, Step.Normalize z) {
    int c = z.c(), plane = z.plane();
    b.addStatement("final float[] mean = {$L}, std = {$L}", floats(z.mean()), floats(z.std()));
    Code.openTasks(b, c, z.grain());
    b.addStatement("int ch = t % $L", c);
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = (a[X + i] / $Lf - mean[ch]) / std[ch]", plane, plane, z.div());
    Code.closeTasks(b, z.grain());
  }
}
