package resnetc.target;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
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
   * The examples the backends' numeric tests run: each one whose layers are not all in a smaller example. A layer
   * is its op with attributes and its input and output types, so ResNet-32..110 (ResNet-20's layers in more blocks),
   * ResNet-34 (ResNet-18's) and ResNet-101/152 (ResNet-50's) add only depth, which the pipeline-equivalence,
   * lowering and ONNX round-trip tests still cover on every example.
   */
  public static Stream<Path> distinctExamples() throws IOException {
    List<Path> bySize = examples().sorted(Comparator.comparingInt((Path p) -> TestPaths.loadSmall(p).graph().nodes().size()).thenComparing(p -> p))
        .toList();
    List<Set<String>> kept = new ArrayList<>();
    List<Path> distinct = new ArrayList<>();
    for (Path p : bySize) {
      Set<String> layers = layers(TestPaths.loadSmall(p).graph());
      if (kept.stream().anyMatch(k -> k.containsAll(layers))) continue;
      kept.add(layers);
      distinct.add(p);
    }
    return distinct.stream().sorted();
  }

  /** A graph's distinct layers: op kind and attributes, input types, output type. */
  static Set<String> layers(Graph g) {
    Set<String> layers = new HashSet<>();
    for (Node n : g.nodes()) {
      String op = n.op() instanceof Op.Normalize ? "normalize" : n.op().toString();
      layers.add(op + n.inputs().stream().map(i -> " " + g.node(i).type()).collect(Collectors.joining()) + " -> " + n.type());
    }
    return layers;
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
