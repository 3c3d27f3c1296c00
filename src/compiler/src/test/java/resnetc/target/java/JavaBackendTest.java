package resnetc.target.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import java.util.List;
import resnetc.ir.Graph;
import resnetc.passes.Numerics;
import resnetc.ir.Op;
import resnetc.ir.SampleGraphs;
import resnetc.ir.TensorType;
import resnetc.schedule.Winograd;
import resnetc.target.ExampleFixtures;
import resnetc.target.TestTargets;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.F32;
import resnetc.weights.RandomWeights;

/** The Java backend against the reference interpreter: random weights on every example, pretrained CIFAR models. */
class JavaBackendTest {
  static CompiledModel compile(Frontend.Loaded l, Graph weighted, int threads) {
    return TestTargets.spec(l, weighted, "java").load(threads);
  }

  /**
   * The backend against the interpreter on the very graph it compiled (the pipeline's own error is
   * PipelineEquivalenceTest's business), vector path on every example, scalar path on the CIFAR ones.
   */
  @ParameterizedTest
  @MethodSource("resnetc.target.ExampleFixtures#distinctExamples")
  void matchesTheInterpreterWithRandomWeights(Path spec) {
    var f = ExampleFixtures.of(spec);
    var c = TestTargets.spec(f.loaded(), f.weighted(), "java");
    try (CompiledModel m = c.load(2)) {
      Numerics.assertWithinBound(String.format("java backend %-20s %s", f.loaded().model().name(), f.optimized().input().type().itemShape()),
          m.predict(f.input(), f.batch()), f.reference(), f.optimized(), f.batch());
    }
  }

  /**
   * An instance reuses its arena and scratch between calls of one batch size: after a call whose activations are
   * all NaN, the next call must still equal a fresh instance's answer bit for bit (no kernel reads a value it did
   * not write in the same call, except in lanes it drops), through arrays and memory segments; and two calls at once,
   * each on its caller's thread alone (a busy server's lanes), give the same bits as the whole team.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"cifar/resnet20", "cifar/wrn16_4", "imagenet/resnet18"})
  void staleBuffersDoNotChangeAnswers(String model) throws Exception {
    Frontend.Loaded l = TestPaths.loadSmall(TestPaths.repoRoot().resolve("examples/" + model + ".resnet")); // ImageNet ones at 64x64
    var c = TestTargets.spec(l, RandomWeights.generate(l.graph(), 2), "java");
    Graph g = c.graph();
    int size = (int) g.input().type().elementsPerItem();
    Random r = new Random(8);
    float[] nan = new float[2 * size], x = new float[2 * size], x1 = new float[size];
    java.util.Arrays.fill(nan, Float.NaN);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    for (int i = 0; i < x1.length; i++) x1[i] = (float) r.nextGaussian();
    float[] fresh2, fresh1;
    try (CompiledModel m = c.load(2)) {
      fresh2 = m.predict(x, 2);
    }
    try (CompiledModel m = c.load(2)) {
      fresh1 = m.predict(x1, 1);
    }
    try (CompiledModel m = c.load(2)) {
      for (int round = 0; round < 2; round++) {
        assertTrue(Float.isNaN(m.predict(nan, 2)[0]));
        org.junit.jupiter.api.Assertions.assertArrayEquals(fresh2, m.predict(x, 2));
        assertTrue(Float.isNaN(m.predict(java.util.Arrays.copyOf(nan, size), 1)[0]));
        org.junit.jupiter.api.Assertions.assertArrayEquals(fresh1, m.predict(x1, 1));
        TestTargets.assertCallersOnlyGive(fresh2, m, x, 2);
        float[] y = new float[fresh2.length];
        m.predict(java.lang.foreign.MemorySegment.ofArray(x), java.lang.foreign.MemorySegment.ofArray(y), 2);
        org.junit.jupiter.api.Assertions.assertArrayEquals(fresh2, y, "through memory segments");
      }
    }
  }

  /**
   * Every op and attribute form (SampleGraphs.allOps, raw with its input normalization and optimized) and the ops
   * that stand alone in pre-activation nets on larger planes, against the interpreter on every path: 16 lanes, 8
   * lanes and scalar, with direct convs and with Winograd wherever it applies.
   */
  @Test
  void everyOpOnEveryPath() {
    Random r = new Random(9);
    Graph unfused = SampleGraphs.unfusedOps(9);
    Graph all = SampleGraphs.allOps(true, 3);
    for (Graph g : new Graph[] {all, TestTargets.optimized(all, "java"), unfused}) {
      float[] x = new float[(int) g.input().type().elements(3)];
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * (g == all ? 100 : 1);
      float[] ref = new Interpreter(g).run(x, 3);
      for (Winograd.Mode winograd : new Winograd.Mode[] {Winograd.Mode.OFF, Winograd.Mode.ALWAYS}) {
        for (String flag : new String[] {null, "resnetc.narrow", "resnetc.scalar"}) {
          double err = TestPaths.withProperty(flag == null ? "resnetc.unused" : flag, flag == null ? null : "true", () -> {
            try (CompiledModel m = TestTargets.raw(g, "java", winograd, 2)) {
              return Numerics.relError(m.predict(x, 3), ref);
            }
          });
          System.out.printf("java backend %s (%s, winograd %s): max rel error %.2e%n", g.name(), flag == null ? "vector" : flag, winograd, err);
          assertTrue(err < 1e-5, g.name() + ", " + flag + ", winograd " + winograd + ": relative error " + err);
        }
      }
    }
  }

  @Test
  void pretrainedCifarAccuracy() throws Exception {
    for (String model : new String[] {"resnet20", "resnet56"}) {
      var weights = TestPaths.shared("models/cifar10/" + model + ".safetensors");
      var images = TestPaths.shared("data/cifar10-test-1000.bin");
      assumeTrue(weights.isPresent() && images.isPresent(), "../shared is absent");
      Frontend.Loaded l = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet"));
      Graph g = Frontend.bind(l, weights.get());
      Cifar data = Cifar.read(images.get(), 0);
      try (CompiledModel m = compile(l, g, 2)) {
        float[] x = m.preprocessing().apply(data.pixels().clone(), 3, 32 * 32);
        float[] y = m.predict(x, data.count());
        int correct = 0;
        for (int i = 0; i < data.count(); i++) if (F32.argmax(y, i * 10, 10) == data.labels()[i]) correct++;
        float[] ref = F32.read(TestPaths.shared("data/cifar10-test-1000." + model + ".logits.f32").get());
        double maxAbs = 0;
        for (int i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
        System.out.printf("java backend %s: accuracy %.4f, max abs error vs float64 logits %.2e%n", model, correct / 1000.0, maxAbs);
        assertEquals(model.equals("resnet20") ? 795 : 838, correct);
        assertTrue(maxAbs < 1e-3);
      }
    }
  }

  /**
   * Wrong sizes, and batches whose arena would not fit a Java array (ResNet-20 at 65,536 threw ArithmeticException),
   * are IllegalArgumentExceptions before any work. The segments of the right sizes are never read (NULL).
   */
  @Test
  void rejectsWrongInputSizesBeforeAnyWork() {
    Frontend.Loaded l = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet"));
    var c = TestTargets.spec(l, RandomWeights.generate(l.graph(), 1), "java");
    assertTrue(c.source().contains(".maxBatch(" + c.schedule().maxBatch() + ")"), "the generated class states its batch limit");
    try (CompiledModel m = c.load(1)) {
      assertThrows(IllegalArgumentException.class, () -> m.predict(new float[3 * 32 * 32 + 1], 1));
      assertThrows(IllegalArgumentException.class, () -> m.predict(new float[3 * 32 * 32], 0));
      assertThrows(IllegalArgumentException.class, () -> m.predict(new float[3 * 32 * 32], 2));
      int most = c.schedule().maxBatch();
      assertTrue(most < 65_536, "ResNet-20's limit is below the batch of the report: " + most);
      for (int n : new int[] {65_536, most + 1, Integer.MAX_VALUE / (3 * 32 * 32)}) {
        var e = assertThrows(IllegalArgumentException.class, () -> m.predict(java.lang.foreign.MemorySegment.NULL.reinterpret(4L * n * 3 * 32 * 32),
            java.lang.foreign.MemorySegment.NULL.reinterpret(4L * n * 10), n));
        assertTrue(e.getMessage().contains("images per call"), e.getMessage());
      }
    }
  }
}
