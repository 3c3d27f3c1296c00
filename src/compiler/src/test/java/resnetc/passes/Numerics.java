package resnetc.passes;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;

/** The numerical oracle for passes: the reference interpreter on the graph before and after, same random input. */
public final class Numerics {
  private Numerics() {}

  /** Agreement required of a pass: max |after - before| <= TOLERANCE * max |before|. */
  public static final double TOLERANCE = 1e-4;

  /** Raw pixels 0..255 when the graph normalizes its input itself (as RandomWeights calibrates), else N(0, 1). */
  public static float[] randomInput(Graph g, int batch, long seed) {
    boolean raw = g.nodes().stream().anyMatch(n -> n.op() instanceof Op.Normalize);
    Random r = new Random(seed);
    float[] x = new float[Math.toIntExact(g.input().type().elements(batch))];
    for (int i = 0; i < x.length; i++) x[i] = raw ? r.nextInt(256) : (float) r.nextGaussian();
    return x;
  }

  public static double maxAbs(float[] a) {
    double m = 0;
    for (float v : a) m = Math.max(m, Math.abs(v));
    return m;
  }

  /** max |a - b|; NaN anywhere (or different lengths) gives infinity. */
  public static double maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) return Double.POSITIVE_INFINITY;
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      double d = Math.abs((double) a[i] - b[i]);
      if (Double.isNaN(d)) return Double.POSITIVE_INFINITY;
      m = Math.max(m, d);
    }
    return m;
  }

  /** max |actual - reference| / max |reference|: a backend's error relative to the largest output. */
  public static double relError(float[] actual, float[] reference) {
    return maxAbsDiff(actual, reference) / maxAbs(reference);
  }

  /** The outputs of both graphs on one seeded random input, as {@code {before, after}}. */
  public static float[][] outputs(Graph before, Graph after, int batch, long seed) {
    float[] x = randomInput(before, batch, seed);
    return new float[][] {new Interpreter(before).run(x, batch), new Interpreter(after).run(x, batch)};
  }

  /**
   * The error a fast path may show against the interpreter on g: {@link #TOLERANCE}, or when {@code err} exceeds
   * that, 4x the model's {@link #roundingFloor} (deep random-weight ResNets amplify any change of summation order,
   * e.g. Winograd's, past 1e-4 of their largest output).
   */
  public static double allowedError(Graph g, double err, int batch) {
    return err <= TOLERANCE ? TOLERANCE : Math.max(TOLERANCE, 4 * roundingFloor(g, batch, 11));
  }

  /**
   * Checks a fast path's output against the interpreter's on g ({@link #allowedError}), prints the error after
   * {@code what}, and returns it.
   */
  public static double assertWithinBound(String what, float[] actual, float[] reference, Graph g, int batch) {
    double err = relError(actual, reference);
    double allowed = allowedError(g, err, batch);
    System.out.printf("%s max rel error %.2e%s%n", what, err, allowed > TOLERANCE ? String.format(" (4x rounding floor %.2e)", allowed) : "");
    if (!(err < allowed)) throw new AssertionError(what + ": relative error " + err + ", allowed " + allowed);
    return err;
  }

  /**
   * How much float rounding alone moves this graph's output: the relative error of the same graph with every conv
   * and dense weight moved one ulp up or down at random. A pass that is exact up to rounding rounds its new weights
   * once, so its error is of this order. Deep random-weight ResNets amplify rounding a lot (ResNet-152: ~5e-4).
   */
  public static double roundingFloor(Graph g, int batch, long seed) {
    Map<String, Tensor> constants = new LinkedHashMap<>(g.constants());
    Random r = new Random(seed);
    for (Node n : g.nodes()) {
      if (n.op() instanceof Op.Conv2d || n.op() instanceof Op.FusedConv || n.op() instanceof Op.Dense) {
        Tensor t = constants.get(n.input(1));
        float[] w = t.data().clone();
        for (int i = 0; i < w.length; i++) w[i] = r.nextBoolean() ? Math.nextUp(w[i]) : Math.nextDown(w[i]);
        constants.put(n.input(1), new Tensor(t.type(), w));
      }
    }
    return relativeError(g, g.withConstants(constants), batch, seed);
  }

  /** max |after - before| / max |before| on one seeded random input; throws when the output is all zero. */
  public static double relativeError(Graph before, Graph after, int batch, long seed) {
    float[][] y = outputs(before, after, batch, seed);
    double scale = maxAbs(y[0]);
    if (!(scale > 0)) throw new AssertionError(before.name() + ": the output is all zero, which compares nothing");
    return maxAbsDiff(y[0], y[1]) / scale;
  }
}
