package resnetc.target.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.Driver;
import resnetc.target.CodegenOptions;

/**
 * {@code generated/} holds the Java source resnetc emits for examples/cifar/resnet20 (a golden file). The
 * source depends on the spec and the compiler only, never on weight values. To refresh it after an intended
 * change: {@code mvn -pl src/compiler test -Dtest=GoldenTest -Dresnetc.refreshGolden=true} (or
 * {@code ./resnetc compile examples/cifar/resnet20.resnet --emit-source generated/cifar/resnet20}).
 */
class GoldenTest {
  static final String SPEC = "examples/cifar/resnet20.resnet";
  static final String GOLDEN = "generated/cifar/resnet20/resnetc/models/Resnet20.java";

  static String generate(boolean withSharedWeights) {
    Frontend.Loaded l = Frontend.load(TestPaths.repoRoot().resolve(SPEC));
    var graph = withSharedWeights ? Frontend.bind(l, TestPaths.shared("models/cifar10/resnet20.safetensors").orElseThrow()) : l.graph();
    // The spec path as the CLI sees it from the repository root, so the header comment is the same either way.
    return Driver.compile(l, graph, CodegenOptions.defaults()).source();
  }

  @Test
  void generatedSourceMatchesTheCommittedGolden() throws Exception {
    Path golden = TestPaths.repoRoot().resolve(GOLDEN);
    String source = generate(false);
    if (Boolean.getBoolean("resnetc.refreshGolden")) {
      Files.createDirectories(golden.getParent());
      Files.writeString(golden, source);
    }
    assertEquals(Files.readString(golden), source,
        "generated source differs from " + GOLDEN + "; if the change is intended, rerun with -Dresnetc.refreshGolden=true");
  }

  @Test
  void sourceDoesNotDependOnWeightValues() {
    assumeTrue(TestPaths.shared("models/cifar10/resnet20.safetensors").isPresent(), "../shared is absent");
    assertEquals(generate(false), generate(true));
  }
}
