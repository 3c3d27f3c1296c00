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
import java.util.List;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.packaging.ModelJar;
import resnetc.target.CodegenOptions;
import resnetc.runtime.CompiledModel;
import resnetc.weights.RandomWeights;

/**
 * One prediction of a batch, per backend, on identical deterministic weights (seed 1, batch norm calibrated).
 * {@code reference} is the interpreter on the unoptimized graph; {@code java} the Java backend with the Vector API;
 * {@code java-narrow} the same class with 8-float vectors forced; {@code java-scalar} on its scalar path. {@code native}
 * runs the LLVM kernels of a native jar as {@code compile} makes it by default (x86-64-v4 and x86-64-v3 libraries,
 * the best this CPU runs chosen at load); {@code native-host} compiled for this machine's CPU ({@code --cpu
 * native}); {@code native-v3} x86-64-v3 only; {@code native-jit} the default's first CPU from the in-process ORC JIT.
 * {@code ort} is ONNX Runtime (CPU provider, optimization level ALL, as many intra-op threads as ours) on the
 * model {@code resnetc export-onnx} writes from the same weights. Reports time per batch; {@link Table} divides by
 * the batch.
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

  @Param({"reference", "java", "native", "ort"})
  public String backend;

  /** A tuning record (resnetc tune) the java and native backends compile with, relative to the repository; empty for the rules. */
  @Param({""})
  public String tuning;

  private CompiledModel compiled;
  private Interpreter interpreter;
  private float[] input;
  private ai.onnxruntime.OrtEnvironment ortEnv;
  private ai.onnxruntime.OrtSession ort;
  private ai.onnxruntime.OnnxTensor ortInput;

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
    if (backend.equals("ort")) {
      ortEnv = ai.onnxruntime.OrtEnvironment.getEnvironment();
      try (ai.onnxruntime.OrtSession.SessionOptions o = new ai.onnxruntime.OrtSession.SessionOptions()) {
        o.setOptimizationLevel(ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT);
        o.setIntraOpNumThreads(threads);
        o.setInterOpNumThreads(1);
        o.setExecutionMode(ai.onnxruntime.OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        ort = ortEnv.createSession(resnetc.onnx.OnnxExport.export(g, model).toByteArray(), o);
        long[] shape = {batch, g.input().type().dim(1), g.input().type().dim(2), g.input().type().dim(3)};
        ortInput = ai.onnxruntime.OnnxTensor.createTensor(ortEnv, java.nio.FloatBuffer.wrap(input), shape);
      } catch (ai.onnxruntime.OrtException e) {
        throw new IllegalStateException(e);
      }
      return;
    }
    // java, java-narrow (8-float vectors forced), java-scalar; native (the default compile: x86-64-v4 and v3, the jar
    // runs the best this CPU has), native-host (--cpu native: this CPU as LLVM names it), native-v3 (x86-64-v3 only),
    // native-jit (the default's first CPU in process): the code a jar runs, through the same driver as the CLI
    String target = backend.startsWith("native") ? "native" : "java";
    List<String> cpus = switch (backend) {
      case "native-host" -> List.of("native");
      case "native-v3" -> List.of("x86-64-v3");
      default -> List.of();
    };
    var options = CodegenOptions.defaults().withTarget(target).withCpus(cpus);
    if (!tuning.isEmpty()) options = options.withTuning(resnetc.schedule.Tuning.read(root().resolve(tuning)));
    var compilation = Driver.compile(l, weighted, options);
    if (backend.equals("java-narrow")) System.setProperty("resnetc.narrow", "true");
    if (backend.equals("java-scalar")) System.setProperty("resnetc.scalar", "true");
    compiled = backend.equals("native-jit") || target.equals("java") ? compilation.load(threads) : ModelJar.load(compilation.emit(), threads);
  }

  @Benchmark
  public float[] predict() throws ai.onnxruntime.OrtException {
    if (ort != null) {
      try (ai.onnxruntime.OrtSession.Result r = ort.run(java.util.Map.of(ort.getInputNames().iterator().next(), ortInput))) {
        java.nio.FloatBuffer out = ((ai.onnxruntime.OnnxTensor) r.get(0)).getFloatBuffer();
        float[] y = new float[out.remaining()];
        out.get(y);
        return y;
      }
    }
    return interpreter != null ? interpreter.run(input, batch) : compiled.predict(input, batch);
  }

  @TearDown(Level.Trial)
  public void close() {
    if (compiled != null) compiled.close();
    try {
      if (ortInput != null) ortInput.close();
      if (ort != null) ort.close();
    } catch (ai.onnxruntime.OrtException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The repository root: the nearest directory up from here with examples/ and the parent pom. */
  static Path root() {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      if (java.nio.file.Files.isDirectory(d.resolve("examples")) && java.nio.file.Files.isRegularFile(d.resolve("pom.xml"))) return d;
    }
    throw new IllegalStateException("run the benchmark from inside the resnetc repository");
  }
}
