package resnetc.bench;

import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import resnetc.Frontend;
import resnetc.backend.java.JavaTarget;
import resnetc.backend.nat.NativeCompiler;
import resnetc.backend.nat.NativeJit;
import resnetc.backend.nat.NativeTarget;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.weights.RandomWeights;

/**
 * One prediction of a batch, per backend, on identical deterministic weights (seed 1, batch norm calibrated).
 * {@code reference} is the interpreter on the unoptimized graph; {@code java} the Java backend with the Vector API;
 * {@code java-scalar} the same generated class on its scalar path. Reports time per batch; bench/table.sh divides by
 * the batch. {@code native-jit} runs the LLVM kernels from the in-process ORC JIT, {@code native-aot} from the
 * shared library a native jar carries (x86-64-v3 both).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx8g", "-Xss4m"})
public class InferenceBench {
  @Param({"resnet20", "resnet50"})
  public String model;

  @Param({"1", "8"})
  public int batch;

  @Param({"1", "2"})
  public int threads;

  @Param({"reference", "java", "java-scalar", "native-jit", "native-aot"})
  public String backend;

  private CompiledModel compiled;
  private NativeJit jit;
  private Interpreter interpreter;
  private float[] input;

  @Setup(Level.Trial)
  public void setup() {
    String spec = java.nio.file.Files.exists(root().resolve("examples/cifar/" + model + ".resnet"))
        ? "examples/cifar/" + model + ".resnet" : "examples/imagenet/" + model + ".resnet";
    Frontend.Loaded l = Frontend.load(root().resolve(spec));
    Graph weighted = RandomWeights.generate(l.graph(), 1);
    Graph g = Frontend.withoutPreprocess(weighted);
    input = new float[(int) g.input().type().elements(batch)];
    Random r = new Random(42);
    for (int i = 0; i < input.length; i++) input[i] = (float) r.nextGaussian();
    if (backend.equals("reference")) {
      // The interpreter parallelizes over batch items with the common pool; size it like the others.
      System.setProperty("java.util.concurrent.ForkJoinPool.common.parallelism", Integer.toString(Math.max(1, threads - 1)));
      interpreter = new Interpreter(g);
      return;
    }
    if (backend.startsWith("native")) {
      Graph optimized = JavaTarget.optimize(weighted, Pipeline.defaults());
      var names = JavaTarget.defaultOptions(l.model(), null, null);
      int c = l.model().input().channels(), h = l.model().input().height(), w = l.model().input().width();
      if (backend.equals("native-jit")) {
        jit = NativeJit.load(optimized, "x86-64-v3");
        compiled = NativeTarget.instantiate(NativeTarget.compileWrapper(jit.program(), JavaTarget.info(l), names, "bench", c, h, w), threads, jit::address);
      } else {
        NativeCompiler.Library lib = NativeCompiler.sharedLibrary(optimized, "x86-64-v3");
        var wrapper = NativeTarget.compileWrapper(lib.program(), JavaTarget.info(l), names, "bench", c, h, w);
        compiled = NativeTarget.instantiate(wrapper, threads, java.util.Map.of(resnetc.runtime.NativeLibrary.platform(), lib.so()));
      }
      return;
    }
    if (backend.equals("java-scalar")) System.setProperty("resnetc.scalar", "true");
    JavaTarget.Compiled c = JavaTarget.compile(JavaTarget.generate(l, JavaTarget.optimize(weighted, Pipeline.defaults()),
        JavaTarget.defaultOptions(l.model(), null, null)));
    compiled = JavaTarget.instantiate(c, threads);
  }

  @Benchmark
  public float[] predict() {
    return interpreter != null ? interpreter.run(input, batch) : compiled.predict(input, batch);
  }

  @TearDown(Level.Trial)
  public void close() {
    if (compiled != null) compiled.close();
    if (jit != null) jit.close();
  }

  /** The repository root: the nearest directory up from here with examples/ and the parent pom. */
  static Path root() {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      if (java.nio.file.Files.isDirectory(d.resolve("examples")) && java.nio.file.Files.isRegularFile(d.resolve("pom.xml"))) return d;
    }
    throw new IllegalStateException("run the benchmark from inside the resnetc repository");
  }
}
