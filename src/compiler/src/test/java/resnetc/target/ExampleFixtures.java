package resnetc.target;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.weights.RandomWeights;

/**
 * Every shipped example with random weights, as both targets' tests check it, computed once per test JVM: the
 * graph a target compiles (default pipeline and legalization: the same for java and native), a seeded input and the
 * interpreter's output on it. ImageNet examples run at 64x64 (the same layers, ops, tiles and Winograd choices as
 * at 224 but a twelfth of the work; ResNet-50 at full size has tests of its own).
 */
public final class ExampleFixtures {
  /** A spec with its random weights, the optimized graph, an input of {@code batch} images and the reference output. */
  public record Fixture(Frontend.Loaded loaded, Graph weighted, Graph optimized, int batch, float[] input, float[] reference) {}

  private static final Map<Path, Fixture> FIXTURES = new ConcurrentHashMap<>();

  private ExampleFixtures() {}

  public static Stream<Path> examples() throws IOException {
    try (Stream<Path> s = Files.walk(TestPaths.repoRoot().resolve("examples"))) {
      return s.filter(p -> p.toString().endsWith(".resnet") && !p.toString().contains("maven-consumer")).sorted().toList().stream();
    }
  }

  /**
   * The examples the backends' numeric tests run: every one but ResNet-101, whose layers (bottleneck blocks of the
   * same widths, planes and strides, the same tiles and Winograd choices) ResNet-152 has all of, in more blocks;
   * the cheap structural tests and the ONNX round trip still take every example.
   */
  public static Stream<Path> distinctExamples() throws IOException {
    return examples().filter(p -> !p.getFileName().toString().equals("resnet101.resnet"));
  }

  /** The fixture of an example: random weights from seed 11, batch 3 (CIFAR) or 2 (ImageNet at 64x64), input seed 5. */
  public static Fixture of(Path spec) {
    return FIXTURES.computeIfAbsent(spec, ExampleFixtures::make);
  }

  private static Fixture make(Path spec) {
    try {
      boolean imagenet = Files.readString(spec).contains("[3, 224, 224]");
      Frontend.Loaded l = TestPaths.loadSmall(spec);
      Graph weighted = RandomWeights.generate(l.graph(), 11);
      Graph optimized = TestTargets.optimized(weighted, "java");
      int batch = imagenet ? 2 : 3;
      Random r = new Random(5);
      float[] x = new float[(int) optimized.input().type().elements(batch)];
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      return new Fixture(l, weighted, optimized, batch, x, new Interpreter(optimized).run(x, batch));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
