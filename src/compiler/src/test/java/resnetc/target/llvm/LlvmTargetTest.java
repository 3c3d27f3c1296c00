package resnetc.target.llvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.passes.Numerics;
import resnetc.ir.Op;
import resnetc.ir.SampleGraphs;
import resnetc.ir.TensorType;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.CpuModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Step;
import resnetc.schedule.Winograd;
import resnetc.target.Artifact;
import resnetc.target.CodegenOptions;
import resnetc.target.InMemoryJavac;
import resnetc.target.ModelInfo;
import resnetc.target.TestTargets;
import resnetc.weights.RandomWeights;

/**
 * The native target against the reference interpreter, the shared library against the JIT, one thread against
 * three. Runs for {@code -Dresnetc.cpu} (default x86-64-v3; {@code native} for the host).
 */
class LlvmTargetTest {
  static final String CPU = System.getProperty("resnetc.cpu", "x86-64-v3");

  static Graph optimized(String spec) {
    Graph g = Frontend.load(TestPaths.repoRoot().resolve("examples").resolve(spec)).graph();
    return TestTargets.optimized(RandomWeights.generate(g, 11), "native");
  }

  static Schedule plan(Graph g, String cpu, Winograd.Mode winograd) {
    return Scheduler.plan(g, LlvmMachine.resolve(cpu), winograd);
  }

  /** Runs g (already optimized) through the JIT and the interpreter at batch n, on 1 and 3 threads. */
  /**
   * Runs g (legalized here, otherwise as given) JIT-compiled once for {@code cpu}, at batch n on each of
   * {@code threads}: one output per thread count.
   */
  static List<float[]> run(Graph g, String cpu, Winograd.Mode winograd, float[] x, int n, int... threads) {
    LlvmTarget target = new LlvmTarget();
    Schedule s = plan(target.legalization().run(g), cpu, winograd);
    List<String> symbols = LlvmTarget.symbols(s);
    String source = NativeClassEmitter.source(List.of(s), ModelInfo.of(g.name(), g.input().type().dim(1)), List.of(symbols), "resnetc.test", "Jit", "jit");
    var resources = java.util.Map.of("resnetc/test/Jit.weights", Artifact.blobBytes(s.weights()));
    var classes = InMemoryJavac.compile("resnetc.test.Jit", source);
    List<float[]> out = new ArrayList<>();
    try (NativeJit jit = NativeJit.load(s, symbols)) {
      for (int t : threads) {
        var loader = new InMemoryJavac.Loader(classes, resources, LlvmTargetTest.class.getClassLoader());
        try (CompiledModel m = (CompiledModel) loader.loadClass("resnetc.test.Jit").getConstructor(int.class, SymbolLookup.class)
            .newInstance(t, jit.lookup())) {
          out.add(m.predict(x, n));
        } catch (ReflectiveOperationException e) {
          throw new IllegalStateException(e);
        }
      }
    }
    return out;
  }

  static int batch(Graph g) {
    return g.input().type().dim(2) > 64 ? 1 : 2;
  }

  static float[] input(Graph g, int n) {
    Random r = new Random(5);
    float[] x = new float[(int) g.input().type().elements(n)];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    return x;
  }

  @ParameterizedTest
  @ValueSource(strings = {"cifar/resnet20.resnet", "cifar/preact_resnet18.resnet", "imagenet/resnet50.resnet"})
  void jitMatchesTheInterpreterAndTheSharedLibraryMatchesTheJit(String spec) throws Exception {
    Graph g = optimized(spec);
    int n = batch(g);
    float[] x = input(g, n);
    float[] ref = new Interpreter(g).run(x, n);
    List<float[]> runs = run(g, CPU, Winograd.Mode.AUTO, x, n, 1, 2);
    float[] jitOut = runs.get(0);
    double err = Numerics.relError(jitOut, ref);
    System.out.printf("native jit %-16s batch %d: max rel error %.2e%n", g.name(), n, err);
    assertTrue(err <= 1e-4, "relative error " + err);
    assertArrayEquals(jitOut, runs.get(1), "two threads give the same bits");

    Schedule s = plan(g, CPU, Winograd.Mode.AUTO);
    List<String> symbols = LlvmTarget.symbols(s);
    Path so = Files.createTempFile("resnetc-" + g.name(), ".so");
    try (Arena arena = Arena.ofShared()) {
      Files.write(so, SharedLibrary.build(s, symbols));
      assertEquals("", nm(so, "--undefined-only"), "the library imports nothing");
      String exported = nm(so, "--defined-only");
      for (String symbol : symbols) assertTrue(exported.contains(" T " + symbol + "\n"), symbol + " exported");
      CodegenOptions o = CodegenOptions.defaults().withTarget("native").withCpus(List.of(CPU));
      Artifact a = new LlvmTarget().emit(List.of(s), ModelInfo.of(g.name(), g.input().type().dim(1)), o);
      var loader = new InMemoryJavac.Loader(a.compile(), a.resources(), getClass().getClassLoader());
      SymbolLookup lookup = SymbolLookup.libraryLookup(so, arena);
      try (CompiledModel m = (CompiledModel) loader.loadClass(a.qualifiedName()).getConstructor(int.class, SymbolLookup.class).newInstance(2, lookup)) {
        assertArrayEquals(jitOut, m.predict(x, n), "the shared library gives the JIT's bits");
      }
    } finally {
      Files.deleteIfExists(so);
    }
  }

  /**
   * The other shapes of the examples at full size (NativeBackendTest runs every example at 64x64): grouped convs,
   * ResNet-D's avgpool shortcut, basic blocks at 224.
   */
  @ParameterizedTest
  @ValueSource(strings = {"imagenet/resnext50_32x4d.resnet", "imagenet/resnet50d.resnet", "imagenet/resnet18.resnet"})
  void otherExamples(String spec) {
    Graph g = optimized(spec);
    double err = jitError(g, batch(g));
    System.out.printf("native jit %-16s batch %d: max rel error %.2e%n", g.name(), batch(g), err);
    assertTrue(err <= 1e-4, "relative error " + err);
  }

  /** The dynamic symbols of a shared library, by the llvm-nm of the LLVM jar. */
  static String nm(Path so, String filter) throws Exception {
    Process p = new ProcessBuilder(LlvmMachine.tool("llvm-nm").toString(), "-D", filter, so.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), out);
    return out;
  }

  /** Runs g through the JIT and the interpreter at batch n; returns max |diff| / max |ref|. */
  static double jitError(Graph g, int n) {
    float[] x = input(g, n);
    float[] ref = new Interpreter(g).run(x, n);
    List<float[]> runs = run(g, CPU, Winograd.Mode.AUTO, x, n, 1, 3);
    float[] y = runs.get(0);
    assertArrayEquals(y, runs.get(1), "three threads give the same bits");
    return Numerics.relError(y, ref);
  }

  /** Every op and attribute form, small odd shapes: optimized as the backends get it, and raw (only the convs fused). */
  @Test
  void everyOp() {
    Graph raw = SampleGraphs.allOps(true, 3);
    for (Graph g : new Graph[] {TestTargets.optimized(SampleGraphs.allOps(true, 3), "native"), raw}) {
      String kinds = String.join(" ", plan(new LlvmTarget().legalization().run(g), CPU, Winograd.Mode.AUTO).steps().stream().map(Step::kind).distinct().toList());
      double err = jitError(g, 3);
      System.out.printf("native jit all_ops (%s): max rel error %.2e%n", kinds, err);
      assertTrue(err <= 1e-5, "relative error " + err);
    }
  }

  /** The ops that stand alone in pre-activation nets and heads, unfused, on a plane wide enough for vector pooling. */
  @Test
  void unfusedOps() {
    Graph g = SampleGraphs.unfusedOps(9);
    double err = jitError(g, 3);
    System.out.printf("native jit unfused ops: max rel error %.2e%n", err);
    assertTrue(err <= 1e-6, "relative error " + err);
  }

  /**
   * One fused conv per case against the interpreter, bit for bit: kernel, stride, padding, groups, odd sizes that
   * leave partial tiles, each residual form (add reads a conv of the same input; subsample reads the input).
   */
  @ParameterizedTest
  @CsvSource({
      // c, h, w, o, k, s, p, groups, residual, relu
      "3, 17, 23, 8, 3, 1, 1, 1, none, true",
      "5, 9, 9, 12, 5, 2, 2, 1, none, false",
      "4, 30, 30, 16, 7, 2, 3, 1, add, true",
      "8, 7, 7, 16, 1, 1, 0, 1, add, false",
      "8, 13, 11, 6, 1, 2, 0, 1, none, true",
      "8, 6, 6, 8, 3, 1, 1, 4, add, true",
      "16, 5, 5, 32, 3, 1, 1, 2, none, true",
      "4, 10, 10, 8, 3, 2, 1, 1, subsample, true",
      "6, 3, 40, 10, 3, 1, 0, 1, none, false",
      "2, 1, 1, 3, 1, 1, 0, 1, none, true",
      "3, 12, 12, 5, 3, 3, 1, 1, none, true",
  })
  void convShapes(int c, int h, int w, int o, int k, int s, int p, int groups, String residual, boolean relu) {
    Random r = new Random(c * 31 + h * 7 + o);
    Graph.Builder b = Graph.builder("conv");
    b.input("x", TensorType.batched(c, h, w));
    int fanIn = c / groups * k * k;
    b.constant("w", TensorType.of(o, c / groups, k, k), SampleGraphs.random(r, o * fanIn, (float) Math.sqrt(3.0 / fanIn)), "");
    b.constant("b", TensorType.of(o), SampleGraphs.random(r, o, 0.5f), "");
    var res = Op.FusedConv.Residual.valueOf(residual.toUpperCase(Locale.ROOT));
    List<String> ins = new ArrayList<>(List.of("x", "w", "b"));
    int offset = 0;
    if (res == Op.FusedConv.Residual.ADD) {
      b.constant("w2", TensorType.of(o, c / groups, k, k), SampleGraphs.random(r, o * fanIn, 0.3f), "");
      b.add("r", new Op.FusedConv(k, s, p, groups, false, Op.FusedConv.Residual.NONE, 1, 0), List.of("x", "w2", "b"), "");
      ins.add("r");
    } else if (res == Op.FusedConv.Residual.SUBSAMPLE) {
      offset = (o - c) / 2;
      ins.add("x");
    }
    b.add("y", new Op.FusedConv(k, s, p, groups, relu, res, s, offset), ins, "");
    Graph g = b.build("y");
    double err = jitError(g, 2);
    System.out.printf("native jit conv %dx%dx%d -> %d k%d s%d p%d g%d %s%s: max rel error %.2e%n", c, h, w, o, k, s, p, groups, residual,
        relu ? " relu" : "", err);
    assertTrue(err == 0, "relative error " + err);
  }

  /**
   * Convs that run by Winograd, F(4x4, 3x3) or F(2x2, 3x3) as the plane decides, for 8- and 16-lane CPUs: odd and
   * even planes (partial tiles, partial tile rows), aligned residual, ReLU. Not bit-exact any more (another summation order): within 1e-5 of the
   * interpreter, relative to the largest output.
   */
  @ParameterizedTest
  @CsvSource({
      "16, 32, 32, 16, add, true, x86-64-v3", "16, 32, 32, 16, add, true, x86-64-v4", "16, 7, 7, 24, none, true, x86-64-v3",
      "16, 7, 7, 24, none, false, x86-64-v4", "32, 13, 9, 16, add, false, x86-64-v3", "32, 13, 9, 16, add, true, x86-64-v4",
      "64, 14, 14, 64, add, true, x86-64-v4", "24, 1, 1, 8, none, true, x86-64-v4",
      "16, 4, 9, 16, none, false, x86-64-v3", "16, 4, 9, 16, none, false, x86-64-v4", "16, 3, 9, 16, add, true, x86-64-v3",
      "16, 3, 9, 16, add, true, x86-64-v4", "16, 56, 56, 16, add, true, x86-64-v4", "16, 15, 15, 32, add, true, x86-64-v3",
  })
  void winogradConvs(int c, int h, int w, int o, String residual, boolean relu, String cpu) {
    org.junit.jupiter.api.Assumptions.assumeTrue(!cpu.equals("x86-64-v4") || LlvmMachine.resolve("native").lanes() == 16, "no AVX-512 here");
    Random r = new Random(c * 31 + h * 7 + o);
    Graph.Builder b = Graph.builder("wino");
    b.input("x", TensorType.batched(c, h, w));
    int fanIn = c * 9;
    b.constant("w", TensorType.of(o, c, 3, 3), SampleGraphs.random(r, o * fanIn, (float) Math.sqrt(3.0 / fanIn)), "");
    b.constant("b", TensorType.of(o), SampleGraphs.random(r, o, 0.5f), "");
    var res = Op.FusedConv.Residual.valueOf(residual.toUpperCase(Locale.ROOT));
    List<String> ins = new ArrayList<>(List.of("x", "w", "b"));
    if (res == Op.FusedConv.Residual.ADD) {
      b.constant("w2", TensorType.of(o, c, 1, 1), SampleGraphs.random(r, o * c, 0.3f), "");
      b.add("r", new Op.FusedConv(1, 1, 0, 1, false, Op.FusedConv.Residual.NONE, 1, 0), List.of("x", "w2", "b"), "");
      ins.add("r");
    }
    b.add("y", new Op.FusedConv(3, 1, 1, 1, relu, res, 1, 0), ins, "");
    Graph g = b.build("y");
    float[] x = input(g, 3);
    float[] ref = new Interpreter(g).run(x, 3);
    // always: small shapes too, where it would not pay
    assertTrue(plan(g, cpu, Winograd.Mode.ALWAYS).steps().stream().anyMatch(k -> k instanceof Step.WinogradInput), "planned by Winograd");
    List<float[]> runs = run(g, cpu, Winograd.Mode.ALWAYS, x, 3, 1, 2);
    float[] y = runs.get(0);
    assertArrayEquals(y, runs.get(1), "two threads give the same bits");
    double err = Numerics.relError(y, ref);
    System.out.printf("native winograd %dx%dx%d -> %d %s%s %s: max rel error %.2e%n", c, h, w, o, residual, relu ? " relu" : "", cpu, err);
    assertTrue(err < 1e-5, "relative error " + err);
  }

  /**
   * Where Winograd pays, by the measured rule, and which: every stride-1 3x3 conv with 16+ input channels (not
   * ResNet-20's 3-channel stem, nor its two convs with an option-A shortcut), F(4x4, 3x3) where a plane has a vector
   * of 4x4 tiles, else F(2x2, 3x3).
   */
  @Test
  void winogradWhereItPays() {
    assertEquals(Map.of(4, 11L, 2, 2L), winogradTiles("imagenet/resnet50.resnet", "x86-64-v3"), "56x56 to 14x14 by 4x4 tiles, 7x7 by 2x2");
    assertEquals(Map.of(4, 11L, 2, 2L), winogradTiles("imagenet/resnet50.resnet", "x86-64-v4"), "14x14 has 16 tiles of 4x4: a 16-lane vector");
    assertEquals(Map.of(4, 10L, 2, 4L), winogradTiles("cifar/resnet20.resnet", "x86-64-v4"), "32x32 and 16x16 by 4x4 tiles, 8x8 by 2x2");
    assertEquals(Map.of(2, 14L), winogradTiles("cifar/resnet20.resnet", "jvm"), "the Java target has F(2x2, 3x3) only");
  }

  private static Map<Integer, Long> winogradTiles(String spec, String cpu) {
    CpuModel model = cpu.equals("jvm") ? CpuModel.jvm() : CpuModel.x86(cpu, "");
    return Scheduler.plan(optimized(spec), model, Winograd.Mode.AUTO).steps().stream().filter(k -> k instanceof Step.WinogradInput)
        .collect(java.util.stream.Collectors.groupingBy(k -> ((Step.WinogradInput) k).m(), java.util.stream.Collectors.counting()));
  }

  @Test
  void cpusWithoutFmaAreRefused() {
    var e = assertThrows(IllegalArgumentException.class, () -> LlvmMachine.resolve("x86-64"));
    assertTrue(e.getMessage().contains("FMA"), e.getMessage());
    List<CpuModel> cpus = new LlvmTarget().cpus(CodegenOptions.defaults().withTarget("native"));
    assertEquals(List.of("x86-64-v4", "x86-64-v3"), cpus.stream().map(CpuModel::name).toList(), "AVX-512 and AVX2 by default, best first");
    assertEquals(List.of(16, 8), cpus.stream().map(CpuModel::lanes).toList());
    assertEquals(List.of("x86-64-v4", "x86-64-v3"), new LlvmTarget().cpus(CodegenOptions.defaults().withTarget("native")
        .withCpus(List.of("x86-64-v3", "x86-64-v4", "x86-64-v3"))).stream().map(CpuModel::name).toList(), "a list, deduplicated, best first");
  }
}
