package resnetc.target.java;

import com.palantir.javapoet.CodeBlock;

/** Small pieces of generated Java: offsets and linear expressions printed as a person would write them. */
final class Code {
  private Code() {}

  /** An arena offset per image at batch n: {@code 16384 * n}, or {@code 0}. */
  static String scaled(long offset) {
    return offset == 0 ? "0" : offset + " * n";
  }

  /** {@code base + c}, {@code base - c} or {@code base}. */
  static String plus(String base, long c) {
    return c == 0 ? base : c > 0 ? base + " + " + c : base + " - " + -c;
  }

  /** {@code base + var * coef} or {@code base - var * |coef|}, or {@code base} when coef is 0. */
  static String plusTerm(String base, String var, long coef) {
    if (coef == 0) return base;
    String term = Math.abs(coef) == 1 ? var : var + " * " + Math.abs(coef);
    return base + (coef > 0 ? " + " : " - ") + term;
  }

  /** {@code var * coef + c} without {@code * 1}, {@code + 0} or {@code + -c}. */
  static String lin(String var, long coef, long c) {
    if (coef == 0) return Long.toString(c);
    return plus(coef == 1 ? var : var + " * " + coef, c);
  }

  /**
   * Opens {@code team.run} over the {@code n * perImage} tasks t of a step, several per team job when {@code grain >
   * 1}; close with {@link #closeTasks}.
   */
  static void openTasks(CodeBlock.Builder b, int perImage, int grain) {
    String tasks = perImage == 1 ? "n" : "n * " + perImage;
    if (grain == 1) {
      b.add("team.run($L, t -> {\n$>", tasks);
    } else {
      b.add("team.run(Math.ceilDiv($L, $L), u -> {\n$>", tasks, grain);
      b.beginControlFlow("for (int t = u * $L, end = Math.min(t + $L, $L); t < end; t++)", grain, grain, tasks);
    }
  }

  static void closeTasks(CodeBlock.Builder b, int grain) {
    if (grain > 1) b.endControlFlow();
    b.add("$<});\n");
  }

  /** Image {@code b} and task {@code j} within it of task t (image minor: a task's images are consecutive). */
  static void imageAndTask(CodeBlock.Builder b, int perImage, boolean imageMinor) {
    if (perImage == 1) b.addStatement("int b = t");
    else if (imageMinor) b.addStatement("int b = t % n, j = t / n");
    else b.addStatement("int b = t / $L, j = t % $L", perImage, perImage);
  }
}
