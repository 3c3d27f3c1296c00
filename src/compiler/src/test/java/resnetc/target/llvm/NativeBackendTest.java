package resnetc.target.llvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.passes.Numerics;
import resnetc.target.ExampleFixtures;
import resnetc.target.TestTargets;
import resnetc.cli.Main;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.F32;
import resnetc.weights.RandomWeights;

/** The native backend through its generated Java wrapper, against the interpreter, JIT against the AOT jar. */
class NativeBackendTest {
  @TempDir Path tmp;

  static float[] input(Graph g, int batch, long seed) {
    Random r = new Random(seed);
    float[] x = new float[(int) g.input().type().elements(batch)];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    return x;
  }

  @ParameterizedTest
  @MethodSource("resnetc.target.ExampleFixtures#distinctExamples")
  void matchesTheInterpreterWithRandomWeights(Path spec) {
    var f = ExampleFixtures.of(spec);
    try (CompiledModel m = TestTargets.spec(f.loaded(), f.weighted(), "native", "x86-64-v3").load(2)) {
      Numerics.assertWithinBound(String.format("native backend %-20s %s", f.loaded().model().name(), f.optimized().input().type().itemShape()),
          m.predict(f.input(), f.batch()), f.reference(), f.optimized(), f.batch());
    }
  }

  /**
   * The wrapper reuses its arena and scratch between calls of one batch size: after a call whose activations are
   * all NaN, the next call equals a fresh instance's bit for bit (Winograd's padding lanes included); and two calls
   * at once, each on its caller's thread alone (a busy server's lanes), give the same bits as the whole team.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"cifar/resnet20", "imagenet/resnet18"})
  void staleBuffersDoNotChangeAnswers(String model) throws Exception {
    Frontend.Loaded l = TestPaths.loadSmall(TestPaths.repoRoot().resolve("examples/" + model + ".resnet")); // ImageNet ones at 64x64
    var c = TestTargets.spec(l, RandomWeights.generate(l.graph(), 2), "native", "native");
    Graph g = c.graph();
    int size = (int) g.input().type().elementsPerItem();
    float[] nan = new float[2 * size], x = input(g, 2, 8);
    java.util.Arrays.fill(nan, Float.NaN);
    float[] fresh;
    try (CompiledModel m = c.load(2)) {
      fresh = m.predict(x, 2);
    }
    try (CompiledModel m = c.load(2)) {
      for (int round = 0; round < 2; round++) {
        assertTrue(Float.isNaN(m.predict(nan, 2)[0]));
        org.junit.jupiter.api.Assertions.assertArrayEquals(fresh, m.predict(x, 2));
      }
      TestTargets.assertCallersOnlyGive(fresh, m, x, 2);
    }
  }

  /** The AOT jar, run by plain `java -jar`, reproduces the in-process JIT bit for bit, and the reference accuracy. */
  @Test
  void jarMatchesJitBitForBitAndTheReferenceAccuracy() throws Exception {
    Path spec = TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet");
    var weights = TestPaths.shared("models/cifar10/resnet20.safetensors");
    var images = TestPaths.shared("data/cifar10-test-1000.bin");
    Frontend.Loaded l = Frontend.load(spec);
    Graph weighted = weights.isPresent() ? Frontend.bind(l, weights.get()) : RandomWeights.generate(l.graph(), 3);
    Path jar = tmp.resolve("r20-native.jar");
    List<String> args = weights.isPresent() ? List.of("--weights", weights.get().toString()) : List.of("--random-weights", "3");
    StringWriter out = new StringWriter(), err = new StringWriter();
    String[] cmd = Stream.concat(Stream.of("compile", spec.toString(), "--backend", "native", "-o", jar.toString()), args.stream()).toArray(String[]::new);
    assertEquals(0, Main.execute(cmd, new PrintWriter(out), new PrintWriter(err)), err.toString());

    var c = TestTargets.spec(l, weighted, "native", "x86-64-v3");
    float[] x = images.isPresent() ? Cifar.read(images.get(), 0).pixels() : input(c.graph(), 50, 1);
    int n = x.length / (3 * 32 * 32);
    float[] viaJit;
    try (CompiledModel m = c.load(2)) {
      if (images.isPresent()) m.preprocessing().apply(x, 3, 32 * 32);
      viaJit = m.predict(x, n);
    }
    Path in = tmp.resolve("in.f32"), res = tmp.resolve("out.f32");
    F32.write(in, x);
    try (var j = new java.util.jar.JarFile(jar.toFile())) {
      String index = new String(j.getInputStream(j.getEntry("native/index.txt")).readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(index.contains("/resnet20-x86-64-v4.so") && index.contains("/resnet20-x86-64-v3.so"), "AVX-512 and AVX2 code by default: " + index);
    }
    // the best instruction set of this machine, then AVX2 forced: the same bits as the JIT's AVX2 code
    for (String isa : new String[] {null, "x86-64-v3"}) {
      List<String> java = new java.util.ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
      if (isa != null) java.add("-Dresnetc.isa=" + isa);
      java.addAll(List.of("-jar", jar.toString(), "--input-f32", in.toString(), "--output", res.toString(), "--batch", Integer.toString(n)));
      Process p = new ProcessBuilder(java).redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(0, p.waitFor(), log);
      assertArrayEquals(viaJit, F32.read(res), "AOT .so (" + (isa == null ? "this CPU's best" : isa) + ") and JIT must agree bit for bit");
    }
    if (images.isPresent()) {
      int[] labels = Cifar.read(images.get(), 0).labels();
      int correct = 0;
      for (int i = 0; i < n; i++) if (F32.argmax(viaJit, i * 10, 10) == labels[i]) correct++;
      assertEquals(795, correct);
    }
  }

  @Test
  void pretrainedResnet56Accuracy() throws Exception {
    var weights = TestPaths.shared("models/cifar10/resnet56.safetensors");
    var images = TestPaths.shared("data/cifar10-test-1000.bin");
    assumeTrue(weights.isPresent() && images.isPresent(), "../shared is absent");
    Frontend.Loaded l = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet56.resnet"));
    Cifar data = Cifar.read(images.get(), 0);
    try (CompiledModel m = TestTargets.spec(l, Frontend.bind(l, weights.get()), "native", "x86-64-v3").load(2)) {
      float[] y = m.predict(m.preprocessing().apply(data.pixels().clone(), 3, 32 * 32), data.count());
      int correct = 0;
      for (int i = 0; i < data.count(); i++) if (F32.argmax(y, i * 10, 10) == data.labels()[i]) correct++;
      float[] ref = F32.read(TestPaths.shared("data/cifar10-test-1000.resnet56.logits.f32").get());
      double maxAbs = 0;
      for (int i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
      System.out.printf("native backend resnet56: accuracy %.4f, max abs error vs float64 logits %.2e%n", correct / 1000.0, maxAbs);
      assertEquals(838, correct);
      assertTrue(maxAbs < 1e-3);
    }
  }
}
