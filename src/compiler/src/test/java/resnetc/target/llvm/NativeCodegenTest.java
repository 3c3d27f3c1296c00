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
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.target.java.JavaTarget;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Op;
import resnetc.ir.SampleGraphs;
import resnetc.ir.TensorType;
import resnetc.passes.Pipeline;
import resnetc.weights.RandomWeights;

/**
 * The native backend against the reference interpreter, the shared library against the JIT. Runs for
 * {@code -Dresnetc.cpu} (default x86-64-v3; {@code native} for the host); {@code -Dresnetc.layers=true} adds a
 * per-step profile to the ResNet-50 timing.
 */
class NativeCodegenTest {
  static final String CPU = System.getProperty("resnetc.cpu", "x86-64-v3");

  static Graph optimized(String spec) {
    Graph g = Frontend.load(TestPaths.repoRoot().resolve("examples").resolve(spec)).graph();
    return JavaTarget.optimize(RandomWeights.generate(g, 11), Pipeline.defaults());
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

  /** max |a - b| / max |b|. */
  static double relError(float[] a, float[] b) {
    double num = 0, den = 0;
    for (int i = 0; i < b.length; i++) {
      num = Math.max(num, Math.abs(a[i] - b[i]));
      den = Math.max(den, Math.abs(b[i]));
    }
    return num / den;
  }

  @ParameterizedTest
  @ValueSource(strings = {"cifar/resnet20.resnet", "cifar/preact_resnet18.resnet", "imagenet/resnet50.resnet"})
  void jitMatchesTheInterpreterAndTheSharedLibraryMatchesTheJit(String spec) throws Exception {
    Graph g = optimized(spec);
    int n = batch(g);
    float[] x = input(g, n);
    float[] ref = new Interpreter(g).run(x, n);
    float[] jitOut;
    try (NativeJit jit = NativeJit.load(g, CPU); LlvmDriver d = new LlvmDriver(jit.program(), jit::address)) {
      jitOut = d.run(x, n);
      double err = relError(jitOut, ref);
      System.out.printf("native jit %-16s batch %d: max rel error %.2e%n", g.name(), n, err);
      assertTrue(err <= 1e-4, "relative error " + err);
      assertArrayEquals(jitOut, d.run(x, n, 2), "two threads give the same bits");
    }
    NativeCompiler.Library lib = NativeCompiler.sharedLibrary(g, CPU);
    Path so = Files.createTempFile("resnetc-" + g.name(), ".so");
    try (Arena arena = Arena.ofConfined()) {
      Files.write(so, lib.so());
      assertEquals("", nm(so, "--undefined-only"), "the library imports nothing");
      String exported = nm(so, "--defined-only");
      for (NativeProgram.Step s : lib.program().steps()) assertTrue(exported.contains(" T " + s.symbol() + "\n"), s.symbol() + " exported");
      SymbolLookup lookup = SymbolLookup.libraryLookup(so, arena);
      try (LlvmDriver d = new LlvmDriver(lib.program(), s -> lookup.find(s).orElseThrow())) {
        assertArrayEquals(jitOut, d.run(x, n), "the shared library gives the JIT's bits");
      }
    } finally {
      Files.deleteIfExists(so);
    }
  }

  /** The other shapes of the examples: grouped convs, ResNet-D's avgpool shortcut, a softmax head, basic blocks at 224. */
  @ParameterizedTest
  @ValueSource(strings = {"imagenet/resnext50_32x4d.resnet", "imagenet/resnet50d.resnet", "cifar/wrn16_4.resnet", "imagenet/resnet18.resnet"})
  void otherExamples(String spec) {
    Graph g = optimized(spec);
    double err = jitError(g, batch(g));
    System.out.printf("native jit %-16s batch %d: max rel error %.2e%n", g.name(), batch(g), err);
    assertTrue(err <= 1e-4, "relative error " + err);
  }

  /** The dynamic symbols of a shared library, by the llvm-nm of the LLVM jar. */
  static String nm(Path so, String filter) throws Exception {
    Process p = new ProcessBuilder(LlvmTarget.tool("llvm-nm").toString(), "-D", filter, so.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), out);
    return out;
  }

  /** Seconds per call of r after one warm-up call, averaged over runs. */
  static double time(Runnable r, int runs) {
    r.run();
    long t0 = System.nanoTime();
    for (int i = 0; i < runs; i++) r.run();
    return (System.nanoTime() - t0) / 1e9 / runs;
  }

  /** Runs g through the JIT and the interpreter at batch n; returns max |diff| / max |ref|. */
  static double jitError(Graph g, int n) {
    float[] x = input(g, n);
    float[] ref = new Interpreter(g).run(x, n);
    try (NativeJit jit = NativeJit.load(g, CPU); LlvmDriver d = new LlvmDriver(jit.program(), jit::address)) {
      float[] y = d.run(x, n);
      assertArrayEquals(y, d.run(x, n, 3), "three threads give the same bits");
      return relError(y, ref);
    }
  }

  /** Every op and attribute form, small odd shapes: optimized as the backends get it, and raw (only the convs fused). */
  @Test
  void everyOp() {
    Graph raw = Frontend.withoutPreprocess(SampleGraphs.allOps(true, 3));
    for (Graph g : new Graph[] {JavaTarget.optimize(SampleGraphs.allOps(true, 3), Pipeline.defaults()), raw}) {
      String kinds = String.join(" ", NativeCodegen.plan(g, CPU).kernels().stream().map(k -> k.getClass().getSimpleName()).distinct().toList());
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
   * Convs that run by Winograd F(2x2, 3x3), for 8- and 16-lane CPUs: odd and even planes (partial tiles, partial
   * tile rows), aligned residual, ReLU. Not bit-exact any more (another summation order): within 1e-5 of the
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
    org.junit.jupiter.api.Assumptions.assumeTrue(!cpu.equals("x86-64-v4") || LlvmTarget.resolve("native").avx512(), "no AVX-512 here");
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
    System.setProperty("resnetc.winograd", "always"); // small shapes too, where it would not pay
    try (NativeJit jit = NativeJit.load(g, cpu); LlvmDriver d = new LlvmDriver(jit.program(), jit::address)) {
      assertTrue(NativeCodegen.plan(g, cpu).kernels().stream().anyMatch(k -> k instanceof NativeCodegen.WinoIn), "planned by Winograd");
      float[] y = d.run(x, 3);
      assertArrayEquals(y, d.run(x, 3, 2), "two threads give the same bits");
      double err = relError(y, ref);
      System.out.printf("native winograd %dx%dx%d -> %d %s%s %s: max rel error %.2e%n", c, h, w, o, residual, relu ? " relu" : "", cpu, err);
      assertTrue(err < 1e-5, "relative error " + err);
    } finally {
      System.clearProperty("resnetc.winograd");
    }
  }

  /** Where Winograd pays, by the measured rule: ResNet-50's stride-1 3x3 convs, none of CIFAR ResNet-20's. */
  @Test
  void winogradWhereItPays() {
    long r50 = NativeCodegen.plan(optimized("imagenet/resnet50.resnet"), "x86-64-v3").kernels().stream().filter(k -> k instanceof NativeCodegen.WinoIn).count();
    long r20 = NativeCodegen.plan(optimized("cifar/resnet20.resnet"), "x86-64-v3").kernels().stream().filter(k -> k instanceof NativeCodegen.WinoIn).count();
    assertEquals(13, r50, "the stride-1 3x3 convs of ResNet-50 (the first of stages 2-4 has stride 2)");
    assertEquals(0, r20);
  }

  @Test
  void cpusWithoutFmaAreRefused() {
    Graph g = optimized("cifar/resnet20.resnet");
    var e = assertThrows(IllegalArgumentException.class, () -> NativeCodegen.program(g, "x86-64"));
    assertTrue(e.getMessage().contains("FMA"), e.getMessage());
    NativeProgram p = NativeCodegen.program(g, null);
    assertEquals("x86-64-v3", p.cpu());
    assertEquals("", p.features());
  }

  /**
   * Compile time and size of the ResNet-50 library, and throughput of the JIT'ed code after warm-up: batch 1 on one
   * thread (the number to watch), then two threads and batch 8. The per-step profile also times each step
   * repeated back to back ("warm": its weights cached, unlike in a full pass).
   */
  @Test
  void resnet50CompileTimeAndSpeed() throws Exception {
    Graph g = optimized("imagenet/resnet50.resnet");
    long t0 = System.nanoTime();
    NativeCompiler.Library lib = NativeCompiler.sharedLibrary(g, CPU);
    double compile = (System.nanoTime() - t0) / 1e9;
    System.out.printf("resnet50 to .so: %.1f s, %d bytes (%d steps)%n", compile, lib.so().length, lib.program().steps().size());
    assertTrue(compile < 30, "compiling took " + compile + " s");

    try (NativeJit jit = NativeJit.load(g, CPU); LlvmDriver d = new LlvmDriver(jit.program(), jit::address)) {
      NativeProgram p = jit.program();
      LlvmDriver.Buffers b = d.buffers(1);
      Random r = new Random(5);
      for (int i = 0; i < p.inputSize(); i++) b.a().setAtIndex(ValueLayout.JAVA_FLOAT, p.inputOffset() + i, (float) r.nextGaussian());
      for (int i = 0; i < 3; i++) d.forward(b);
      int runs = 10;
      long[] nanos = new long[p.steps().size()];
      long start = System.nanoTime();
      for (int run = 0; run < runs; run++) {
        for (int i = 0; i < nanos.length; i++) {
          long s = System.nanoTime();
          d.call(i, b, 0, p.steps().get(i).tasksPerImage());
          nanos[i] += System.nanoTime() - s;
        }
      }
      double secs = (System.nanoTime() - start) / 1e9 / runs;
      System.out.printf("resnet50 jit, batch 1, 1 thread: %.2f ms per image, %.1f GFLOP/s%n", secs * 1e3, p.flopsPerImage() / secs / 1e9);
      double two = time(() -> d.forward(b, 2), 10);
      System.out.printf("resnet50 jit, batch 1, 2 threads: %.2f ms per image, %.1f GFLOP/s%n", two * 1e3, p.flopsPerImage() / two / 1e9);
      LlvmDriver.Buffers b8 = d.buffers(8);
      double eight = time(() -> d.forward(b8, 1), 3) / 8;
      System.out.printf("resnet50 jit, batch 8, 1 thread: %.2f ms per image, %.1f GFLOP/s%n", eight * 1e3, p.flopsPerImage() / eight / 1e9);
      double eight2 = time(() -> d.forward(b8, 2), 3) / 8;
      System.out.printf("resnet50 jit, batch 8, 2 threads: %.2f ms per image, %.1f GFLOP/s%n", eight2 * 1e3, p.flopsPerImage() / eight2 / 1e9);
      if (Boolean.getBoolean("resnetc.layers")) {
        for (int i = 0; i < nanos.length; i++) {
          NativeProgram.Step s = p.steps().get(i);
          double ms = nanos[i] / 1e6 / runs;
          long w0 = System.nanoTime();
          for (int k = 0; k < 5; k++) d.call(i, b, 0, s.tasksPerImage());
          double warm = (System.nanoTime() - w0) / 1e6 / 5;
          System.out.printf("  %-40s %4d tasks %8.3f ms %6.1f GFLOP/s (warm %6.1f)%n", s.symbol(), s.tasksPerImage(), ms,
              s.flopsPerImage() / ms / 1e6, s.flopsPerImage() / warm / 1e6);
        }
      }
    }
  }
}
