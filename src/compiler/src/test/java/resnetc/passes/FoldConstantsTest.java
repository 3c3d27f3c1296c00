package resnetc.passes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Printer;
import resnetc.ir.TensorType;
import resnetc.ir.Verifier;

/**
 * fold-constants needs data, which random weights never make an identity, so it is tested here with hand-set
 * constants: identity batch norms and normalizations disappear, near-identities stay, identical constants merge.
 */
class FoldConstantsTest {
  private static final float EPS = 1e-5f;

  private static float[] filled(int n, float v) {
    float[] a = new float[n];
    Arrays.fill(a, v);
    return a;
  }

  /** input -> normalize(div, mean, std) -> bn(gamma, 0, 0, var) -> 1x1 conv; 3 channels. */
  private static Graph chain(float div, float mean, float gamma, float var) {
    Graph.Builder b = Graph.builder("chain");
    b.input("x", TensorType.batched(3, 4, 4));
    b.add("n", new Op.Normalize(div, filled(3, mean), filled(3, 1)), List.of("x"), "");
    b.constant("g", TensorType.of(3), new float[] {1, 1, gamma}, "");
    b.constant("b", TensorType.of(3), new float[3], "");
    b.constant("m", TensorType.of(3), new float[3], "");
    b.constant("v", TensorType.of(3), filled(3, var), "");
    b.add("bn", new Op.BatchNorm(EPS), List.of("n", "g", "b", "m", "v"), "");
    b.constant("w", TensorType.of(2, 3, 1, 1), new float[] {0.5f, -1.25f, 2, 3, 0.75f, -4}, "");
    b.add("c", new Op.Conv2d(1, 1, 0, 1), List.of("bn", "w"), "");
    return b.build("c");
  }

  private static List<String> ops(Graph g) {
    return g.nodes().stream().filter(n -> !(n.op() instanceof Op.Const)).map(n -> n.op().mnemonic()).toList();
  }

  private static void assertSameOutput(Graph a, Graph b) {
    float[] x = Numerics.randomInput(a, 2, 9);
    assertArrayEquals(new Interpreter(a).run(x, 2), new Interpreter(b).run(x, 2));
  }

  @Test
  void identityBatchNormAndNormalizeDisappear() {
    float var = 1 - EPS; // sqrt(var + eps) is exactly 1 in float
    assertEquals(1f, (float) Math.sqrt(var + EPS));
    Graph g = chain(1, 0, 1, var);
    Graph out = new FoldConstants().run(g);
    Verifier.verify(out);
    // both go, one after the other: the conv now reads the input
    assertEquals(List.of("input", "conv2d"), ops(out), Printer.print(out));
    assertEquals(List.of("x", "w"), out.node("c").inputs());
    assertSameOutput(g, out);
  }

  @Test
  void nearIdentitiesStay() {
    float var = 1 - EPS;
    assertEquals(List.of("input", "batchnorm", "conv2d"), ops(new FoldConstants().run(chain(1, 0, Math.nextUp(1f), var))));
    assertEquals(List.of("input", "normalize", "conv2d"), ops(new FoldConstants().run(chain(1, 1e-7f, 1, var))));
    assertEquals(List.of("input", "normalize", "conv2d"), ops(new FoldConstants().run(chain(255, 0, 1, var))));
    assertEquals(List.of("input", "batchnorm", "conv2d"), ops(new FoldConstants().run(chain(1, 0, 1, 1))), "sqrt(1 + eps) > 1");
  }

  @Test
  void identicalConstantsMerge() {
    Graph.Builder b = Graph.builder("dups");
    b.input("x", TensorType.batched(2, 3, 3));
    float[] w = {1, -2, 3, 4};
    b.constant("w1", TensorType.of(2, 2, 1, 1), w.clone(), "");
    b.constant("z1", TensorType.of(2), new float[] {0, 0}, "");
    b.add("c1", new Op.Conv2d(1, 1, 0, 1), List.of("x", "w1", "z1"), "");
    b.constant("w2", TensorType.of(2, 2, 1, 1), w.clone(), "");     // same as w1
    b.constant("z2", TensorType.of(2), new float[] {0, -0f}, "");    // -0.0 differs from 0.0 in its bits
    b.add("c2", new Op.Conv2d(1, 1, 0, 1), List.of("c1", "w2", "z2"), "");
    b.add("gap", new Op.GlobalAvgPool(), List.of("c2"), "");
    b.constant("w3", TensorType.of(2, 2), w.clone(), "");           // same data, other type
    b.constant("z3", TensorType.of(2), new float[] {0, 0}, "");      // same as z1
    b.add("fc", new Op.Dense(), List.of("gap", "w3", "z3"), "");
    Graph g = b.build("fc");
    Graph out = new FoldConstants().run(g);
    Verifier.verify(out);
    assertEquals(List.of("c1", "w1", "z2"), out.node("c2").inputs().subList(0, 3));
    assertEquals(List.of("gap", "w3", "z1"), out.node("fc").inputs());
    assertEquals(List.of("w1", "z1", "z2", "w3"), out.constNodes().stream().map(Node::name).toList());
    assertEquals(out.constNodes().size(), out.constants().size());
    assertSameOutput(g, out);
  }

  @Test
  void doesNothingWithoutWeights() {
    Graph g = chain(1, 0, 1, 1 - EPS);
    Graph weightless = g.withConstants(java.util.Map.of());
    assertSame(weightless, new FoldConstants().run(weightless));
  }
}
