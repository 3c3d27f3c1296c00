package resnetc.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.backend.java.JavaBackend;
import resnetc.backend.java.JavaTarget;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.pkg.ModelJar;
import resnetc.runtime.Progress;

@Command(name = "compile", description = "Compile a spec and its weights into a runnable inference jar (java -jar model.jar --help).")
final class CompileCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC") Path spec;

  @ArgGroup(exclusive = true)
  RunCommand.WeightSource weights = new RunCommand.WeightSource();

  @Option(names = "--backend", defaultValue = "java", description = "code generator: java or native (default ${DEFAULT-VALUE})")
  String backend;

  @Option(names = {"-o", "--output"}, paramLabel = "JAR", description = "the jar to write")
  Path output;

  @Option(names = "--package", paramLabel = "P", description = "package of the generated class (default resnetc.models)")
  String packageName;

  @Option(names = "--class", paramLabel = "C", description = "name of the generated class (default: the model name, capitalized)")
  String className;

  @Option(names = "--emit-source", paramLabel = "DIR", description = "also write the generated Java source under DIR")
  Path sourceDir;

  @Mixin OptOptions opt = new OptOptions();

  @Option(names = "--cpu", defaultValue = "x86-64-v3", description = "native backend: target CPU (default ${DEFAULT-VALUE}; 'native' = this machine)")
  String cpu;



  @Override
  public Integer call() throws IOException {
    // ResNet-50 takes a while (javac, LLVM): name the stage on a terminal, nothing elsewhere
    try (Progress progress = Progress.of(cmd.commandLine().getErr(), "compile", 0)) {
      return compile(progress);
    }
  }

  private Integer compile(Progress progress) throws IOException {
    PrintWriter out = cmd.commandLine().getOut();
    if (output == null && sourceDir == null) throw new Main.UserError("give --output JAR (and/or --emit-source DIR)");
    long t0 = System.nanoTime();
    progress.stage("loading " + spec.getFileName());
    Frontend.Loaded l = Frontend.load(spec);
    Graph g = weightsOrNone(l);
    progress.stage("optimizing");
    Pipeline pipeline = opt.passes != null ? Pipeline.parse(opt.passes) : Pipeline.defaults();
    Graph optimized = pipeline.run(Frontend.withoutPreprocess(g),
        new Pipeline.Instruments(opt.dumpAfter, opt.dumpDir, opt.timePasses ? cmd.commandLine().getErr() : null));
    if (!backend.equals("java") && !backend.equals("native")) throw new Main.UserError("unknown backend '" + backend + "' (expected java or native)");
    if (backend.equals("native")) return compileNative(l, g, optimized, out, t0, progress);
    progress.stage("generating Java");
    JavaBackend.Output src = JavaTarget.generate(l, optimized, JavaTarget.defaultOptions(l.model(), packageName, className));
    if (sourceDir != null) {
      Path file = sourceDir.resolve(src.qualifiedName().replace('.', '/') + ".java");
      Files.createDirectories(file.getParent());
      Files.writeString(file, src.source());
      progress.close(); // a clean line for the result
      out.println("source: " + file);
    }
    if (output != null) {
      if (!g.hasWeights()) throw new Main.UserError("a jar needs weights: pass --weights FILE or --random-weights SEED");
      progress.stage("compiling Java");
      JavaTarget.Compiled c = JavaTarget.compile(src);
      progress.stage("writing " + output.getFileName());
      ModelJar.write(output, src.qualifiedName(), c.classes(), Map.of(c.resourcePath(), c.blob()));
      progress.close();
      out.printf(Locale.ROOT, "jar: %s (%d bytes, weights %d bytes)%n", output, Files.size(output), c.blob().length);
      out.println("class: " + src.qualifiedName());
    }
    out.printf(Locale.ROOT, "compile_s: %.2f%n", (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  /** LLVM kernels in a shared library, a generated Java class binding them through the FFM API, one jar. */
  private Integer compileNative(Frontend.Loaded l, Graph g, Graph optimized, PrintWriter out, long t0, Progress progress) throws IOException {
    if (output == null) throw new Main.UserError("the native backend writes a jar: give --output JAR");
    if (!g.hasWeights()) throw new Main.UserError("a jar needs weights: pass --weights FILE or --random-weights SEED");
    JavaBackend.Options names = JavaTarget.defaultOptions(l.model(), packageName, className);
    progress.stage("compiling native code (LLVM)");
    resnetc.backend.nat.NativeCompiler.Library lib = resnetc.backend.nat.NativeCompiler.sharedLibrary(optimized, cpu);
    String libName = names.className().toLowerCase(Locale.ROOT);
    progress.stage("compiling the Java wrapper");
    var c = resnetc.backend.nat.NativeTarget.compileWrapper(lib.program(), JavaTarget.info(l), names, libName,
        l.model().input().channels(), l.model().input().height(), l.model().input().width());
    if (sourceDir != null) {
      Path file = sourceDir.resolve(c.qualifiedName().replace('.', '/') + ".java");
      Files.createDirectories(file.getParent());
      Files.writeString(file, c.source());
    }
    progress.stage("writing " + output.getFileName());
    resnetc.backend.nat.NativeTarget.writeJar(output, c, lib.so());
    progress.close();
    out.printf(Locale.ROOT, "jar: %s (%d bytes, shared library %d bytes, weights %d bytes)%n", output, Files.size(output), lib.so().length, c.blob().length);
    out.println("class: " + c.qualifiedName());
    out.println("cpu: " + lib.program().cpu() + " (" + lib.program().features() + ")");
    out.printf(Locale.ROOT, "compile_s: %.2f%n", (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  /** The graph with weights when given; without, only --emit-source is possible (the source never depends on them). */
  private Graph weightsOrNone(Frontend.Loaded l) {
    if (weights.seed != null) return resnetc.weights.RandomWeights.generate(l.graph(), weights.seed);
    Path file = weights.file != null ? weights.file : l.specWeights();
    return file == null ? l.graph() : Frontend.bind(l, file);
  }
}
