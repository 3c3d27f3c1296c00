package example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.models.Resnet20;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.weights.RandomWeights;

/** Classifies images through resnetc.models.Resnet20, which the resnetc Maven plugin generated at build time. */
class ClassifyTest {
  static final String WEIGHTS = System.getProperty("model.weights", "");

  @Test
  void generatedClassDescribesTheModel() {
    try (CompiledModel m = new Resnet20(1)) {
      assertEquals("resnet20", m.name());
      assertEquals(3 * 32 * 32, m.inputSize());
      assertEquals(10, m.classes());
      assertEquals("airplane", m.labels().get(0));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void pretrainedAccuracyOnTheSharedImages() throws Exception {
    if (WEIGHTS.isBlank()) {
      System.out.println("no ../shared: pretrained accuracy check skipped");
      return;
    }
    Cifar data = Cifar.read(Path.of(System.getProperty("cifar.images")), 0);
    try (CompiledModel m = new Resnet20(2)) {
      float[] x = m.preprocessing().apply(data.pixels(), 3, 32 * 32);
      float[] logits = m.predict(x, data.count());
      int correct = 0;
      for (int i = 0; i < data.count(); i++) {
        int best = 0;
        for (int c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
        if (best == data.labels()[i]) correct++;
      }
      double accuracy = correct / (double) data.count();
      System.out.printf("accuracy: %.4f%n", accuracy);
      assertEquals(1000, data.count());
      assertEquals(0.795, accuracy, 1e-9);
    }
  }

  @Test
  void randomWeightsMatchTheReferenceInterpreter() throws Exception {
    if (!WEIGHTS.isBlank()) {
      System.out.println("pretrained weights in use: reference comparison on random weights skipped");
      return;
    }
    Path spec = Path.of(System.getProperty("resnetc.spec"));
    assertTrue(Files.isRegularFile(spec), spec.toString());
    long seed = Long.parseLong(System.getProperty("model.seed"));
    Graph g = Frontend.withoutPreprocess(RandomWeights.generate(Frontend.load(spec).graph(), seed));
    int batch = 4;
    float[] x = new float[batch * 3 * 32 * 32];
    Random r = new Random(7);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    float[] expected = new Interpreter(g).run(x, batch);
    try (CompiledModel m = new Resnet20(1)) {
      float[] got = m.predict(x, batch);
      assertEquals(expected.length, got.length);
      double maxAbs = 0, scale = 0;
      for (int i = 0; i < got.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(got[i] - expected[i]));
        scale = Math.max(scale, Math.abs(expected[i]));
      }
      System.out.printf("max abs error vs reference: %.3g (max |logit| %.3g)%n", maxAbs, scale);
      assertTrue(maxAbs <= 1e-4 * Math.max(1, scale), "max abs error " + maxAbs);
    }
  }
}
