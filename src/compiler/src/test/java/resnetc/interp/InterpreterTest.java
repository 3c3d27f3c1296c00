package resnetc.interp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.SampleGraphs;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

class InterpreterTest {
  /** Runs {@code op} on the input followed by the constants as further operands. */
  private static float[] runOp(Op op, TensorType in, float[] x, int batch, Tensor... consts) {
    Graph.Builder b = Graph.builder("op");
    List<String> inputs = new ArrayList<>(List.of(b.input("x", in)));
    for (int i = 0; i < consts.length; i++) inputs.add(b.constant("c" + i, consts[i].type(), consts[i].data(), ""));
    b.add("y", op, inputs, "");
    return new Interpreter(b.build("y")).run(x, batch);
  }

  private static float[] iota(int n, float from) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = from + i;
    return a;
  }

  private static float[] random(long seed, int n) {
    return SampleGraphs.random(new Random(seed), n, 1f);
  }

  private static final float[] X16 = iota(16, 1); // 4x4: rows 1..4, 5..8, 9..12, 13..16

  @Test
  void convSumsNeighbourhoods() {
    float[] ones = new float[9];
    Arrays.fill(ones, 1f);
    float[] y = runOp(new Op.Conv2d(3, 1, 1, 1), TensorType.batched(1, 4, 4), X16, 1, Tensor.of(ones, 1, 1, 3, 3));
    assertArrayEquals(new float[] {14, 24, 30, 22, 33, 54, 63, 45, 57, 90, 99, 69, 46, 72, 78, 54}, y);
  }

  @Test
  void convIsCrossCorrelationWithBias() {
    // w[0][0] = 1 reads x[oy-1][ox-1], w[1][2] = 10 reads x[oy][ox+1]; not flipped, as in PyTorch
    float[] w = new float[9];
    w[0] = 1;
    w[5] = 10;
    float[] y = runOp(new Op.Conv2d(3, 1, 1, 1), TensorType.batched(1, 4, 4), X16, 1, Tensor.of(w, 1, 1, 3, 3), Tensor.of(new float[] {0.5f}, 1));
    assertArrayEquals(new float[] {20.5f, 30.5f, 40.5f, 0.5f, 60.5f, 71.5f, 82.5f, 3.5f, 100.5f, 115.5f, 126.5f, 7.5f,
        140.5f, 159.5f, 170.5f, 11.5f}, y);
  }

  @Test
  void convStrideWithPadding() {
    float[] ones = new float[9];
    Arrays.fill(ones, 1f);
    float[] y = runOp(new Op.Conv2d(3, 2, 1, 1), TensorType.batched(1, 4, 4), X16, 1, Tensor.of(ones, 1, 1, 3, 3));
    assertArrayEquals(new float[] {14, 30, 57, 99}, y);
    // 1x1 stride 2 on an odd size keeps rows and columns 0, 2, 4
    float[] y2 = runOp(new Op.Conv2d(1, 2, 0, 1), TensorType.batched(1, 5, 5), iota(25, 1), 1, Tensor.of(new float[] {2}, 1, 1, 1, 1));
    assertArrayEquals(new float[] {2, 6, 10, 22, 26, 30, 42, 46, 50}, y2);
  }

  /** The definition, one output at a time, in double. */
  private static float[] naiveConv(float[] x, int batch, int c, int h, int wd, float[] w, int o, int k, int s, int p, int g, float[] bias) {
    int oh = (h + 2 * p - k) / s + 1, ow = (wd + 2 * p - k) / s + 1, cg = c / g, og = o / g;
    float[] y = new float[batch * o * oh * ow];
    for (int b = 0; b < batch; b++) {
      for (int m = 0; m < o; m++) {
        for (int oy = 0; oy < oh; oy++) {
          for (int ox = 0; ox < ow; ox++) {
            double sum = bias == null ? 0 : bias[m];
            for (int ci = 0; ci < cg; ci++) {
              for (int ky = 0; ky < k; ky++) {
                for (int kx = 0; kx < k; kx++) {
                  int iy = oy * s - p + ky, ix = ox * s - p + kx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                  sum += (double) x[((b * c + m / og * cg + ci) * h + iy) * wd + ix] * w[((m * cg + ci) * k + ky) * k + kx];
                }
              }
            }
            y[((b * o + m) * oh + oy) * ow + ox] = (float) sum;
          }
        }
      }
    }
    return y;
  }

  @Test
  void convMatchesDefinition() {
    int[][] configs = { // c, h, w, o, k, s, p, groups, bias
        {3, 7, 9, 4, 3, 1, 1, 1, 0}, {4, 8, 8, 6, 3, 2, 1, 2, 1}, {3, 11, 10, 5, 7, 2, 3, 1, 1},
        {6, 5, 5, 6, 3, 1, 1, 6, 0}, {4, 9, 7, 8, 1, 2, 0, 1, 0}, {2, 6, 6, 2, 5, 3, 2, 1, 1}, {3, 4, 4, 2, 4, 1, 0, 1, 0}};
    int seed = 0;
    for (int[] cf : configs) {
      int c = cf[0], h = cf[1], wd = cf[2], o = cf[3], k = cf[4], s = cf[5], p = cf[6], g = cf[7], batch = 2;
      float[] x = random(seed++, batch * c * h * wd), w = random(seed++, o * c / g * k * k);
      float[] bias = cf[8] == 1 ? random(seed++, o) : null;
      Tensor[] consts = bias == null ? new Tensor[] {Tensor.of(w, o, c / g, k, k)} : new Tensor[] {Tensor.of(w, o, c / g, k, k), Tensor.of(bias, o)};
      float[] y = runOp(new Op.Conv2d(k, s, p, g), TensorType.batched(c, h, wd), x, batch, consts);
      assertArrayEquals(naiveConv(x, batch, c, h, wd, w, o, k, s, p, g, bias), y, 1e-5f, Arrays.toString(cf));
    }
  }

  @Test
  void groupedConvEqualsSeparateConvs() {
    int c = 4, o = 6, hw = 25, batch = 2;
    float[] x = random(1, batch * c * hw), w = random(2, o * 2 * 9);
    float[] y = runOp(new Op.Conv2d(3, 1, 1, 2), TensorType.batched(c, 5, 5), x, batch, Tensor.of(w, o, 2, 3, 3));
    for (int g = 0; g < 2; g++) {
      float[] xg = new float[batch * 2 * hw];
      for (int b = 0; b < batch; b++) System.arraycopy(x, (b * c + 2 * g) * hw, xg, b * 2 * hw, 2 * hw);
      float[] wg = Arrays.copyOfRange(w, g * 3 * 18, (g + 1) * 3 * 18);
      float[] yg = runOp(new Op.Conv2d(3, 1, 1, 1), TensorType.batched(2, 5, 5), xg, batch, Tensor.of(wg, 3, 2, 3, 3));
      for (int b = 0; b < batch; b++) {
        assertArrayEquals(Arrays.copyOfRange(yg, b * 3 * hw, (b + 1) * 3 * hw), Arrays.copyOfRange(y, (b * o + 3 * g) * hw, (b * o + 3 * g + 3) * hw));
      }
    }
  }

  @Test
  void normalize() {
    Op op = new Op.Normalize(255f, new float[] {0.5f, 0.25f}, new float[] {0.5f, 0.25f});
    float[] y = runOp(op, TensorType.batched(2, 1, 2), new float[] {51, 255, 0, 127.5f}, 1);
    assertArrayEquals(new float[] {-0.6f, 1, -1, 1}, y, 1e-6f);
  }

  @Test
  void batchNorm() {
    Tensor gamma = Tensor.of(new float[] {2, 1}, 2), beta = Tensor.of(new float[] {0, 1}, 2);
    Tensor mean = Tensor.of(new float[] {1, 3}, 2), var = Tensor.of(new float[] {4, 0.25f}, 2);
    float[] y4 = runOp(new Op.BatchNorm(0f), TensorType.batched(2, 1, 2), new float[] {1, 2, 3, 4}, 1, gamma, beta, mean, var);
    assertArrayEquals(new float[] {0, 1, 1, 3}, y4);
    // rank 2: channels are the columns
    float[] y2 = runOp(new Op.BatchNorm(0f), TensorType.batched(2), new float[] {1, 3, 2, 4}, 2, gamma, beta, mean, var);
    assertArrayEquals(new float[] {0, 1, 1, 3}, y2);
    // eps is added to the variance: (3 - 1) / sqrt(3 + 1) = 1
    float[] ye = runOp(new Op.BatchNorm(1f), TensorType.batched(1), new float[] {3}, 1,
        Tensor.of(new float[] {1}, 1), Tensor.of(new float[] {0}, 1), Tensor.of(new float[] {1}, 1), Tensor.of(new float[] {3}, 1));
    assertArrayEquals(new float[] {1}, ye);
  }

  @Test
  void reluAndAdd() {
    assertArrayEquals(new float[] {0, 0, 2.5f}, runOp(new Op.Relu(), TensorType.batched(3), new float[] {-1, 0, 2.5f}, 1));
    Graph.Builder b = Graph.builder("add");
    b.input("x", TensorType.batched(3));
    b.add("r", new Op.Relu(), List.of("x"), "");
    b.add("y", new Op.Add(), List.of("x", "r"), "");
    assertArrayEquals(new float[] {-1, 0, 5}, new Interpreter(b.build("y")).run(new float[] {-1, 0, 2.5f}, 1));
  }

  @Test
  void maxPoolPaddingNeverWins() {
    // 3x3 all negative, kernel 3 stride 2 pad 1: each window holds a 2x2 corner block and padding
    float[] x = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
    assertArrayEquals(new float[] {-1, -2, -4, -5}, runOp(new Op.MaxPool(3, 2, 1), TensorType.batched(1, 3, 3), x, 1));
    assertArrayEquals(new float[] {6, 8, 14, 16}, runOp(new Op.MaxPool(2, 2, 0), TensorType.batched(1, 4, 4), iota(16, 1), 1)); // 4x4 of 1..16, 2x2 blocks
  }

  @Test
  void avgPoolCountPad() {
    float[] x = iota(9, 1); // 3x3: window sums of the corner blocks are 12, 16, 24, 28
    TensorType t = TensorType.batched(1, 3, 3);
    assertArrayEquals(new float[] {12 / 9f, 16 / 9f, 24 / 9f, 28 / 9f}, runOp(new Op.AvgPool(3, 2, 1, false, true), t, x, 1), 1e-6f);
    assertArrayEquals(new float[] {3, 4, 6, 7}, runOp(new Op.AvgPool(3, 2, 1, false, false), t, x, 1), 1e-6f);
  }

  @Test
  void avgPoolCeilModeClipsWindows() {
    // kernel 2 stride 2 ceil on 3x3: the last windows hang past the input and divide by what is left, either way
    TensorType t = TensorType.batched(1, 3, 3);
    assertArrayEquals(new float[] {3, 4.5f, 7.5f, 9}, runOp(new Op.AvgPool(2, 2, 0, true, true), t, iota(9, 1), 1));
    assertArrayEquals(new float[] {3, 4.5f, 7.5f, 9}, runOp(new Op.AvgPool(2, 2, 0, true, false), t, iota(9, 1), 1));
    // kernel 3 stride 2 pad 1 ceil on 4x4: windows start at -1, 1, 3; the last one spans row/column 3 and one pad
    float[] cp = runOp(new Op.AvgPool(3, 2, 1, true, true), TensorType.batched(1, 4, 4), X16, 1);
    float[] nocp = runOp(new Op.AvgPool(3, 2, 1, true, false), TensorType.batched(1, 4, 4), X16, 1);
    assertEquals(9, cp.length);
    assertArrayEquals(new float[] {14 / 9f, 11, 2, 4}, new float[] {cp[0], cp[4], cp[2], cp[8]}, 1e-6f);
    assertArrayEquals(new float[] {14 / 4f, 11, 6, 16}, new float[] {nocp[0], nocp[4], nocp[2], nocp[8]}, 1e-6f);
  }

  @Test
  void globalAvgPool() {
    float[] y = runOp(new Op.GlobalAvgPool(), TensorType.batched(2, 2, 2), iota(16, 1), 2);
    assertArrayEquals(new float[] {2.5f, 6.5f, 10.5f, 14.5f}, y);
  }

  @Test
  void subsamplePadOddSizes() {
    // 2 channels 3x3 -> rows/columns 0 and 2, one zero channel before, two after
    float[] y = runOp(new Op.SubsamplePad(2, 1, 2), TensorType.batched(2, 3, 3), iota(18, 1), 1);
    assertArrayEquals(new float[] {0, 0, 0, 0, 1, 3, 7, 9, 10, 12, 16, 18, 0, 0, 0, 0, 0, 0, 0, 0}, y);
  }

  @Test
  void dense() {
    float[] x = {1, 2, 3, 4, 5, 6};
    Tensor w = Tensor.of(new float[] {1, 0, -1, 0.5f, 0.5f, 0.5f}, 2, 3);
    assertArrayEquals(new float[] {8, 2, 8, 6.5f}, runOp(new Op.Dense(), TensorType.batched(3), x, 2, w, Tensor.of(new float[] {10, -1}, 2)));
    assertArrayEquals(new float[] {-2, 3, -2, 7.5f}, runOp(new Op.Dense(), TensorType.batched(3), x, 2, w));
  }

  @Test
  void softmaxIsStable() {
    float[] expected = {0.09003057f, 0.24472847f, 0.66524096f};
    float[] y = runOp(new Op.Softmax(), TensorType.batched(3), new float[] {1, 2, 3, 1001, 1002, 1003, -5000, 0, 88.8f}, 3);
    assertArrayEquals(expected, Arrays.copyOfRange(y, 0, 3), 1e-7f);
    assertArrayEquals(expected, Arrays.copyOfRange(y, 3, 6), 1e-7f); // shift invariant, no overflow
    assertArrayEquals(new float[] {0, 0, 1}, Arrays.copyOfRange(y, 6, 9), 1e-7f);
    for (int b = 0; b < 3; b++) assertEquals(1.0, y[3 * b] + y[3 * b + 1] + (double) y[3 * b + 2], 1e-6);
  }

  private static float[] item(float[] all, int b, int per) {
    return Arrays.copyOfRange(all, b * per, (b + 1) * per);
  }

  @Test
  void batchItemsAreIndependent() {
    // batch 3 of every op; batch 37 of a ResNet-20 also spans several conv chunks (16 items of 8x8, then 5)
    assertBatchEqualsSingles(SampleGraphs.allOps(true, 7), 3);
    assertBatchEqualsSingles(CifarNets.resnet(20, 7), 37);
  }

  private static void assertBatchEqualsSingles(Graph g, int batch) {
    Interpreter interp = new Interpreter(g);
    int in = (int) g.input().type().elementsPerItem(), out = (int) g.outputType().elementsPerItem();
    float[] x = new float[batch * in];
    Random r = new Random(3);
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    float[] y = interp.run(x, batch);
    assertEquals(batch * out, y.length);
    for (int b = 0; b < batch; b++) assertArrayEquals(interp.run(item(x, b, in), 1), item(y, b, out), g.name() + " item " + b);
    for (float v : y) assertTrue(Float.isFinite(v));
  }

  @Test
  void runAllKeepsEveryActivation() {
    Graph g = SampleGraphs.allOps(true, 7);
    Interpreter interp = new Interpreter(g);
    float[] x = random(5, 2 * 3 * 81);
    Map<String, float[]> all = interp.runAll(x, 2);
    List<String> activations = g.nodes().stream().filter(n -> !(n.op() instanceof Op.Const)).map(Node::name).toList();
    assertEquals(activations, List.copyOf(all.keySet()));
    for (Node n : g.nodes()) {
      if (all.containsKey(n.name())) assertEquals(n.type().elements(2), all.get(n.name()).length, n.name());
    }
    assertArrayEquals(interp.run(x, 2), all.get("prob"));
    assertArrayEquals(x, all.get("input"));
  }

  @Test
  void evalOneNode() {
    // eval drives a graph node by node, e.g. to calibrate batchnorm statistics
    Graph g = SampleGraphs.allOps(true, 7);
    Map<String, float[]> all = new Interpreter(g).runAll(random(5, 3 * 81), 1);
    Node bn = g.node("bn");
    List<float[]> operands = bn.inputs().stream().map(in -> all.containsKey(in) ? all.get(in) : g.constants().get(in).data()).toList();
    List<TensorType> types = bn.inputs().stream().map(in -> g.node(in).type()).toList();
    assertArrayEquals(all.get("bn"), Interpreter.eval(bn, operands, types, 1));
    assertThrows(IllegalArgumentException.class, () -> Interpreter.eval(bn, operands, types, 2)); // operand sizes
    assertThrows(IllegalArgumentException.class, () -> Interpreter.eval(g.node("input"), List.of(), List.of(), 1));
  }

  @Test
  void rejectsBadInputsAndUnboundWeights() {
    Interpreter interp = new Interpreter(SampleGraphs.allOps(true, 1));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> interp.run(new float[3 * 81 + 1], 1));
    assertTrue(e.getMessage().contains("243"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> interp.run(new float[3 * 81], 2));
    assertThrows(IllegalArgumentException.class, () -> interp.runAll(new float[0], 0));
    IllegalArgumentException unbound = assertThrows(IllegalArgumentException.class, () -> new Interpreter(SampleGraphs.allOps(false, 1)));
    assertTrue(unbound.getMessage().contains("%stem.w") && unbound.getMessage().contains("%fc2.w"), unbound.getMessage());
  }

  /** ResNet-56 over 1000 images; run with -Dresnetc.perf=true. */
  @Test
  @EnabledIfSystemProperty(named = "resnetc.perf", matches = "true")
  void resnet56Throughput() {
    Interpreter interp = new Interpreter(CifarNets.resnet(56, 1));
    int batch = 1000;
    float[] x = new float[batch * 3 * 32 * 32];
    Random r = new Random(1);
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    interp.run(Arrays.copyOf(x, 50 * 3 * 32 * 32), 50); // warm up
    long t0 = System.nanoTime();
    float[] y = interp.run(x, batch);
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("ResNet-56, %d images: %.1f s (%d cores)%n", batch, seconds, Runtime.getRuntime().availableProcessors());
    assertTrue(IntStream.range(0, y.length).allMatch(i -> Float.isFinite(y[i])));
    assertTrue(seconds < 60, seconds + " s");
  }
}
