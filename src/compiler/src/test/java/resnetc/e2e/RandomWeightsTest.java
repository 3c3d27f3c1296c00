package resnetc.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Tensor;
import resnetc.weights.RandomWeights;

class RandomWeightsTest {
  static Graph load(String spec) {
    return Frontend.load(TestPaths.repoRoot().resolve("examples").resolve(spec)).graph();
  }

  static float[] pixels(Graph g, int batch, long seed) {
    Random r = new Random(seed);
    float[] x = new float[(int) g.input().type().elements(batch)];
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    return x;
  }

  @Test
  void deterministicPerSeed() {
    Graph a = RandomWeights.generate(load("cifar/resnet20.resnet"), 7);
    Graph b = RandomWeights.generate(load("cifar/resnet20.resnet"), 7);
    Graph c = RandomWeights.generate(load("cifar/resnet20.resnet"), 8);
    for (String name : a.constants().keySet()) {
      assertArrayEquals(a.constants().get(name).data(), b.constants().get(name).data(), name);
    }
    Tensor wa = a.constants().get("layer2.0.conv1.weight"), wc = c.constants().get("layer2.0.conv1.weight");
    assertTrue(!java.util.Arrays.equals(wa.data(), wc.data()));
  }

  /** Calibrated statistics keep the deepest ImageNet model's logits of order 1 on unseen inputs. */
  @Test
  void resnet50LogitsStayOfOrderOne() {
    Graph g = RandomWeights.generate(load("imagenet/resnet50.resnet"), 1);
    float[] y = new Interpreter(g).run(pixels(g, 1, 99), 1);
    assertEquals(1000, y.length);
    double max = 0, sq = 0;
    for (float v : y) {
      assertTrue(Float.isFinite(v));
      max = Math.max(max, Math.abs(v));
      sq += v * v;
    }
    double rms = Math.sqrt(sq / y.length);
    System.out.printf("resnet50 random weights: logits rms %.3f, max %.3f%n", rms, max);
    assertTrue(rms > 0.05 && max < 50, "rms " + rms + " max " + max);
  }

  /** The running statistics are the batch statistics of the calibration batch: bn outputs have mean 0, var 1. */
  @Test
  void batchNormOutputsAreStandardizedOnTheCalibrationDistribution() {
    Graph g = RandomWeights.generate(load("cifar/resnet20.resnet"), 3);
    var values = new Interpreter(g).runAll(pixels(g, 16, 5), 16);
    float[] pre = values.get("layer3.2.bn2");
    Tensor gamma = g.constants().get("layer3.2.bn2.weight"), beta = g.constants().get("layer3.2.bn2.bias");
    int c = 64, spatial = 8 * 8;
    for (int ch = 0; ch < c; ch++) {
      double sum = 0, sq = 0;
      for (int b = 0; b < 16; b++) {
        for (int i = 0; i < spatial; i++) {
          double z = (pre[(b * c + ch) * spatial + i] - beta.data()[ch]) / gamma.data()[ch];
          sum += z;
          sq += z * z;
        }
      }
      double mean = sum / (16 * spatial), var = sq / (16 * spatial) - mean * mean;
      assertEquals(0, mean, 0.35, "channel " + ch);
      assertEquals(1, var, 0.6, "channel " + ch);
    }
  }
}
