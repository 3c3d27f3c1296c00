package resnetc.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.ir.Graph;
import resnetc.packaging.ModelJar;
import resnetc.runtime.AtomicFile;
import resnetc.runtime.NativeLibrary;
import resnetc.target.Artifact;
import resnetc.target.Targets;
import resnetc.runtime.Progress;

@Command(name = "compile", description = "Compile a spec and its weights into a runnable inference jar (java -jar model.jar --help).")
final class CompileCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Mixin PreprocessOption preprocess = new PreprocessOption();

  @ArgGroup(exclusive = true)
  RunCommand.WeightSource weights = new RunCommand.WeightSource();

  @Option(names = "--backend", defaultValue = "java", description = "code generator: one of the registered backends, java or native (default ${DEFAULT-VALUE})")
  String backend;

  @Option(names = {"-o", "--output"}, paramLabel = "JAR", description = "the jar to write")
  Path output;

  @Option(names = "--package", paramLabel = "P", description = "package of the generated class (default resnetc.models)")
  String packageName;

  @Option(names = "--class", paramLabel = "C", description = "name of the generated class (default: the model name, capitalized)")
  String className;

  @Option(names = "--emit-source", paramLabel = "DIR", description = "also write the generated Java source under DIR")
  Path sourceDir;

  @Option(names = "--allow-non-finite", description = "load weights that hold NaN or infinite values (refused otherwise)")
  boolean allowNonFinite;

  @Mixin OptOptions opt = new OptOptions();

  @Mixin CodegenMixin codegen = new CodegenMixin();

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
    Frontend.Loaded l = preprocess.load(spec);
    PreprocessOption.warnForJar(l, cmd.commandLine().getErr());
    Graph g = weightsOrNone(l);
    var options = codegen.options(backend, packageName, className);
    var target = Targets.get(backend);
    progress.stage("optimizing and planning");
    Driver.Compilation c = Driver.compile(l, g, options, opt.compiledPipeline(), opt.instruments(target.legalization(), cmd.commandLine().getErr()));
    String qn = options.qualifiedName(c.info().name());
    if (sourceDir != null) {
      Path file = sourceDir.resolve(qn.replace('.', '/') + ".java");
      Files.createDirectories(file.getParent());
      AtomicFile.writeString(file, c.source());
      progress.close(); // a clean line for the result
      out.println("source: " + file);
    }
    if (output != null) {
      if (!g.hasWeights()) throw new Main.UserError("a jar needs weights: pass --weights FILE or --random-weights SEED");
      progress.stage(backend.equals("native") ? "compiling native code (LLVM) and the class" : "generating and compiling Java");
      Artifact a = c.emit();
      progress.stage("writing " + output.getFileName());
      ModelJar.write(output, a);
      progress.close();
      long weightBytes = 4 * c.schedule().weightFloats();
      long library = a.resources().entrySet().stream().filter(e -> e.getKey().startsWith("native/") && !e.getKey().equals(NativeLibrary.INDEX))
          .mapToLong(e -> e.getValue().length).sum();
      out.printf(Locale.ROOT, "jar: %s (%d bytes, %sweights %d bytes)%n", output, Files.size(output),
          library > 0 ? "shared libraries " + library + " bytes, " : "", weightBytes);
      out.println("class: " + a.qualifiedName());
    }
    for (var schedule : c.schedules()) out.println("cpu: " + schedule.cpu().describe());
    out.printf(Locale.ROOT, "compile_s: %.2f%n", (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  /** The graph with weights when given; without, only --emit-source is possible (the source never depends on them). */
  private Graph weightsOrNone(Frontend.Loaded l) {
    if (weights.seed == null && weights.file == null && l.specWeights() == null) return l.graph();
    return RunCommand.weights(l, weights, allowNonFinite, cmd.commandLine().getErr());
  }
}
