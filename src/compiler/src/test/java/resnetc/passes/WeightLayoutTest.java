package resnetc.passes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.weights.RandomWeights;

/** The weight pre-packing hook: the blocked layout puts each element where the kernels expect it, and unpacks. */
class WeightLayoutTest {
  /** O x I x k x k weights whose value encodes their index, so misplacements are visible. */
  private static Tensor indexed(int o, int i, int k) {
    float[] d = new float[o * i * k * k];
    for (int j = 0; j < d.length; j++) d[j] = j + 1;
    return Tensor.of(d, o, i, k, k);
  }

  @Test
  void blockedLayoutPlacesEachElementByHand() {
    Tensor w = indexed(13, 3, 3); // 13 output channels: two blocks of 8, the second padded with 3 zeros
    Tensor p = WeightLayout.OIHW8O.pack(w);
    assertEquals(TensorType.of(2, 3, 3, 3, 8), p.type());
    // w[o=10][i=2][ky=1][kx=0] sits at [o/8=1][2][1][0][o%8=2]: ((1*3 + 2)*3 + 1)*3*8 + 0*8 + 2
    int src = ((10 * 3 + 2) * 3 + 1) * 3, dst = (((1 * 3 + 2) * 3 + 1) * 3 + 0) * 8 + 2;
    assertEquals(w.data()[src], p.data()[dst]);
    assertEquals(src + 1, p.data()[dst], 0); // i.e. the 292nd weight
    // w[0][0][0][0] first, w[7][0][0][0] the 8th float: a tap's 8 output channels are adjacent
    assertEquals(1, p.data()[0], 0);
    assertEquals(7 * 27 + 1, p.data()[7], 0);
    // channels 13..15 of the last block are zero for every tap
    for (int tap = 0; tap < 27; tap++) {
      for (int lane = 5; lane < 8; lane++) assertEquals(0, p.data()[(27 + tap) * 8 + lane], 0);
    }
  }

  @Test
  void packUnpackRoundTrips() {
    for (int o : new int[] {1, 7, 8, 13, 16, 64}) {
      Tensor w = indexed(o, 5, 3);
      Tensor p = WeightLayout.OIHW8O.pack(w);
      assertEquals((o + 7) / 8 * 8 * 5 * 9, p.data().length, "O=" + o);
      Tensor back = WeightLayout.OIHW8O.unpack(p, o);
      assertEquals(w.type(), back.type());
      assertArrayEquals(w.data(), back.data(), "O=" + o);
    }
    Tensor w = indexed(3, 2, 1);
    assertSame(w, WeightLayout.OIHW.pack(w));
    assertSame(w, WeightLayout.OIHW.unpack(w, 3));
    assertThrows(IllegalArgumentException.class, () -> WeightLayout.OIHW8O.pack(Tensor.of(new float[6], 2, 3)));
  }

  @Test
  void packWeightsPacksEveryConvOfAnOptimizedGraph() {
    Graph g = Pipeline.defaults().run(RandomWeights.generate(
        Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet")).graph(), 1));
    Map<String, Tensor> packed = PackWeights.pack(g, WeightLayout.OIHW8O);
    assertEquals(19, packed.size());
    for (Node n : g.nodes()) {
      if (!(n.op() instanceof Op.FusedConv)) continue;
      Tensor w = g.constants().get(n.input(1));
      assertArrayEquals(w.data(), WeightLayout.OIHW8O.unpack(packed.get(n.input(1)), w.type().dim(0)).data(), n.name());
    }
    Graph weightless = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet")).graph();
    assertThrows(IllegalArgumentException.class, () -> PackWeights.pack(weightless, WeightLayout.OIHW8O));
  }
}
