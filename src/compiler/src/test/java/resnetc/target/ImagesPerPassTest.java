package resnetc.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.TestPaths;
import resnetc.passes.Numerics;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.GeneratedModel;

/** A batch run as several passes through the layers gives what it gives in one, bit for bit, on both targets. */
class ImagesPerPassTest {
  @ParameterizedTest
  @ValueSource(strings = {"java", "native"})
  void passesOfABatchGiveTheWholeBatchsOutputs(String target) {
    var f = ExampleFixtures.of(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet"));
    var c = TestTargets.spec(f.loaded(), f.weighted(), target, target.equals("native") ? new String[] {"x86-64-v3"} : new String[0]);
    int n = 7;
    float[] x = Numerics.randomInput(c.graph(), n, 3);
    float[] whole, passes;
    try (CompiledModel m = TestPaths.withProperty(GeneratedModel.IMAGES_PER_PASS_PROPERTY, "all", () -> c.load(2))) {
      assertEquals(Integer.MAX_VALUE, m.imagesPerPass());
      whole = m.predict(x, n);
    }
    Numerics.assertWithinBound(target + " resnet20, batch " + n, whole, new resnetc.interp.Interpreter(c.graph()).run(x, n), c.graph(), n);
    try (CompiledModel m = TestPaths.withProperty(GeneratedModel.IMAGES_PER_PASS_PROPERTY, "3", () -> c.load(2))) {
      assertEquals(3, m.imagesPerPass());
      passes = m.predict(x, n);
      assertArrayEquals(whole, passes, target + ": passes of 3, 3 and 1 images");
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x), out = arena.allocate(4L * n * m.classes());
        m.predict(in, out, n);
        assertArrayEquals(whole, out.toArray(ValueLayout.JAVA_FLOAT), target + ": the same through memory segments");
      }
    }
  }
}
