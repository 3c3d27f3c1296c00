package resnetc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Op;
import resnetc.runtime.Cifar;
import resnetc.runtime.F32;
import resnetc.weights.RandomWeights;

/**
 * The default pipeline changes no model's numbers: the reference interpreter before and after agrees to 1e-4 of
 * the largest output for every example spec with random weights (ImageNet-size ones at 32x32 but ResNet-50: the
 * passes rewrite layers whatever their plane size), and for the shared pretrained CIFAR models, whose accuracy on the
 * shared test images is that of the float64 reference logits.
 *
 * <p>One exception to the 1e-4, measured rather than assumed: random-weight ResNet-101 and -152 amplify float
 * rounding so much that moving every weight by one ulp already changes their output by 1e-4 to 5e-4. For a model
 * whose {@link Numerics#roundingFloor rounding floor} exceeds 1e-4, the pipeline may differ by up to 4x that floor.
 */
class PipelineEquivalenceTest {
  private static final long SEED = 7;

  static List<Path> examples() throws IOException {
    try (Stream<Path> s = Files.walk(TestPaths.repoRoot().resolve("examples"))) {
      return s.filter(p -> p.toString().endsWith(".resnet")).sorted().toList();
    }
  }

  @TestFactory
  Stream<DynamicTest> everyExampleWithRandomWeights() throws IOException {
    List<Path> specs = examples();
    assertTrue(specs.size() >= 16, "examples: " + specs);
    return specs.stream().map(spec -> DynamicTest.dynamicTest(spec.getFileName().toString(), () -> checkExample(spec)));
  }

  private static void checkExample(Path spec) {
    long t0 = System.nanoTime();
    String name = spec.getFileName().toString();
    // ImageNet examples at 32x32 (the same layers and ops), but ResNet-50 at full size
    Graph before = RandomWeights.generate((name.equals("resnet50.resnet") ? Frontend.load(spec) : TestPaths.loadSmall(spec, 32)).graph(), SEED);
    Graph after = Pipeline.defaults().run(before);
    assertFalse(after.nodes().stream().anyMatch(n -> n.op() instanceof Op.Conv2d), name + ": every conv is fused");
    int batch = before.input().type().elementsPerItem() > 100_000 ? 1 : 2;
    double rel = Numerics.relativeError(before, after, batch, SEED);
    double allowed = Numerics.TOLERANCE;
    String floor = "";
    if (rel > allowed) {
      double f = Numerics.roundingFloor(before, batch, SEED);
      allowed = Math.max(allowed, 4 * f);
      floor = String.format(Locale.ROOT, ", one ulp on every weight alone: %.2e", f);
    }
    System.out.printf(Locale.ROOT, "%-24s batch %d  relative error %.2e%s  (%.1f s)%n", name, batch, rel, floor, (System.nanoTime() - t0) / 1e9);
    assertTrue(rel <= allowed, name + ": before and after the default pipeline differ by " + rel + " of the largest output" + floor);
  }

  /**
   * Accuracy after the pipeline is that of the float64 reference logits on the same images (0.795 for ResNet-20 on
   * all 1000; ResNet-56 on the first 300, since its 1000 run through the optimized graph in both backends'
   * tests); the logits match the unoptimized ones on the first 100 images to 1e-4 relative, and the float64
   * reference logits to 1e-3 absolute, as the unoptimized ones do.
   */
  @ParameterizedTest
  @CsvSource({"resnet20, 1000", "resnet56, 300"})
  void pretrainedCifarAccuracyAndLogitsUnchanged(String model, int count) throws IOException {
    Optional<Path> weights = TestPaths.shared("models/cifar10/" + model + ".safetensors");
    Optional<Path> images = TestPaths.shared("data/cifar10-test-1000.bin");
    Optional<Path> reference = TestPaths.shared("data/cifar10-test-1000." + model + ".logits.f32");
    assumeTrue(weights.isPresent() && images.isPresent() && reference.isPresent(), "../shared is absent");
    long t0 = System.nanoTime();
    Graph before = Frontend.bind(Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet")), weights.get());
    Graph after = Pipeline.defaults().run(before);
    Cifar data = Cifar.read(images.get(), 0);
    assertEquals(1000, data.count());
    int item = 3 * 32 * 32;
    int[] labels = Arrays.copyOf(data.labels(), count);

    float[] optimized = new Interpreter(after).run(Arrays.copyOf(data.pixels(), count * item), count);
    int classes = optimized.length / count;
    float[] referenceLogits = Arrays.copyOf(F32.read(reference.get()), count * classes);
    double acc = accuracy(optimized, labels), referenceAcc = accuracy(referenceLogits, labels);
    double vsReference = Numerics.maxAbsDiff(optimized, referenceLogits);

    int some = 100;
    float[] unoptimized = new Interpreter(before).run(Arrays.copyOf(data.pixels(), some * item), some);
    double rel = Numerics.maxAbsDiff(unoptimized, Arrays.copyOf(optimized, some * classes)) / Numerics.maxAbs(unoptimized);

    System.out.printf(Locale.ROOT, "%-24s pretrained, %d images: accuracy %.4f (float64 reference %.4f), relative error %.2e vs unoptimized, %.2e abs vs float64 reference  (%.1f s)%n",
        model, count, acc, referenceAcc, rel, vsReference, (System.nanoTime() - t0) / 1e9);
    if (count == 1000 && model.equals("resnet20")) assertEquals(0.795, referenceAcc, 1e-9, "the shared reference accuracy");
    assertEquals(referenceAcc, acc, 1e-9, "accuracy after the pipeline");
    assertTrue(rel <= Numerics.TOLERANCE, model + ": relative error vs unoptimized " + rel);
    assertTrue(vsReference < 1e-3, model + ": max abs error vs float64 reference logits " + vsReference);
  }

  static double accuracy(float[] logits, int[] labels) {
    int classes = logits.length / labels.length, right = 0;
    for (int i = 0; i < labels.length; i++) if (F32.argmax(logits, i * classes, classes) == labels[i]) right++;
    return (double) right / labels.length;
  }
}
