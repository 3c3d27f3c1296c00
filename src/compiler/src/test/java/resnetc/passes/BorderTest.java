package resnetc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.IrParser;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Printer;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.weights.RandomWeights;

/**
 * Why an affine op before a padded conv must not be folded into it, shown numerically: a hand-made fold (the math
 * fold-bn and fold-preprocess use for unpadded convs) agrees with the original in the interior but not on the
 * border, where the padding reads zeros instead of the affine op's shift. Without padding the same fold agrees
 * everywhere. And the passes fold exactly the unpadded case.
 */
class BorderTest {
  private static final String AFFINE_CONV = """
      graph border {
        %x = input : f32[N,4,6,6]
        %r = relu %x : f32[N,4,6,6]
        AFFINE
        %w = const : f32[5,4,3,3]
        %c = conv2d %a, %w kernel=3x3 stride=1 pad=PAD groups=1 : f32[N,5,SIZE,SIZE]
        return %c
      }
      """;

  private static final String BN = """
      %g = const : f32[4]
        %b = const : f32[4]
        %m = const : f32[4]
        %v = const : f32[4]
        %a = batchnorm %r, %g, %b, %m, %v eps=1.0E-5 : f32[N,4,6,6]""";

  private static final String NORMALIZE = "%a = normalize %r div=255.0 mean=[0.4,0.5,0.6,0.7] std=[0.2,0.25,0.3,0.35] : f32[N,4,6,6]";

  private static Graph graph(String affine, int pad) {
    String text = AFFINE_CONV.replace("AFFINE", affine).replace("PAD", "" + pad).replace("SIZE", "" + (6 + 2 * pad - 2));
    return RandomWeights.generate(IrParser.parse(text), 3);
  }

  /** Per input channel, the affine op as y = s x + t. */
  private static double[][] affine(Graph g) {
    Node a = g.node("a");
    double[] s = new double[4], t = new double[4];
    for (int c = 0; c < 4; c++) {
      if (a.op() instanceof Op.BatchNorm bn) {
        float[] gamma = data(g, a, 1), beta = data(g, a, 2), mean = data(g, a, 3), var = data(g, a, 4);
        s[c] = gamma[c] / Math.sqrt((double) var[c] + bn.eps());
        t[c] = beta[c] - mean[c] * s[c];
      } else if (a.op() instanceof Op.Normalize n) {
        s[c] = 1 / ((double) n.div() * n.std()[c]);
        t[c] = -(double) n.mean()[c] / n.std()[c];
      }
    }
    return new double[][] {s, t};
  }

  private static float[] data(Graph g, Node n, int operand) {
    return g.constants().get(n.input(operand)).data();
  }

  /** conv(s x + t) as conv'(x): weights scaled per input channel, W t summed into a bias; the affine op dropped. */
  private static Graph foldByHand(Graph g) {
    double[][] st = affine(g);
    float[] w0 = g.constants().get("w").data(), w = new float[w0.length], bias = new float[5];
    for (int o = 0; o < 5; o++) {
      double acc = 0;
      for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 9; k++) {
          int idx = (o * 4 + i) * 9 + k;
          w[idx] = (float) (w0[idx] * st[0][i]);
          acc += w0[idx] * st[1][i];
        }
      }
      bias[o] = (float) acc;
    }
    Map<String, Tensor> constants = new LinkedHashMap<>(g.constants());
    constants.put("fw", Tensor.of(w, 5, 4, 3, 3));
    constants.put("fb", Tensor.of(bias, 5));
    List<Node> nodes = new ArrayList<>();
    for (Node n : g.nodes()) {
      if (n.name().equals("c")) {
        nodes.add(new Node("fw", new Op.Const(), List.of(), TensorType.of(5, 4, 3, 3)));
        nodes.add(new Node("fb", new Op.Const(), List.of(), TensorType.of(5)));
        nodes.add(n.withInputs(List.of("r", "fw", "fb")));
      } else if (!n.name().equals("a")) {
        nodes.add(n);
      }
    }
    return new Graph(g.name(), nodes, g.output(), constants);
  }

  /** Largest |difference| on the border (first/last row or column) and in the interior of the output planes. */
  private static double[] borderAndInterior(Graph a, Graph b) {
    float[][] y = Numerics.outputs(a, b, 2, 5);
    int size = a.outputType().dim(2);
    double border = 0, interior = 0, scale = Numerics.maxAbs(y[0]);
    for (int i = 0; i < y[0].length; i++) {
      int row = i / size % size, col = i % size;
      double d = Math.abs(y[0][i] - y[1][i]) / scale;
      if (row == 0 || col == 0 || row == size - 1 || col == size - 1) border = Math.max(border, d);
      else interior = Math.max(interior, d);
    }
    return new double[] {border, interior};
  }

  @ParameterizedTest
  @ValueSource(strings = {"batchnorm", "normalize"})
  void foldingIntoAPaddedConvIsWrongOnTheBorder(String kind) {
    Graph padded = graph(kind.equals("batchnorm") ? BN : NORMALIZE, 1);
    double[] err = borderAndInterior(padded, foldByHand(padded));
    System.out.printf("%s before a padded conv, folded by hand: border error %.3g, interior error %.3g%n", kind, err[0], err[1]);
    assertTrue(err[0] > 0.05, "the border differs: " + err[0]);
    assertTrue(err[1] < 1e-5, "the interior agrees: " + err[1]);

    Graph unpadded = graph(kind.equals("batchnorm") ? BN : NORMALIZE, 0);
    double[] ok = borderAndInterior(unpadded, foldByHand(unpadded));
    assertTrue(ok[0] < 1e-5 && ok[1] < 1e-5, "without padding the fold is exact: " + ok[0] + ", " + ok[1]);

    // The passes: no fold with padding; without padding, the same result as the fold by hand.
    Pass pass = kind.equals("batchnorm") ? new FoldBatchNorm() : new FoldPreprocess();
    assertEquals(Printer.print(padded), Printer.print(pass.run(padded)));
    Graph folded = new DeadCodeElimination().run(pass.run(unpadded));
    assertTrue(folded.nodes().stream().noneMatch(n -> n.name().equals("a")), Printer.print(folded));
    float[] x = Numerics.randomInput(unpadded, 2, 5);
    float[] byHand = new Interpreter(foldByHand(unpadded)).run(x, 2), byPass = new Interpreter(folded).run(x, 2);
    assertTrue(Numerics.maxAbsDiff(byHand, byPass) <= 1e-6 * Numerics.maxAbs(byHand));
  }
}
