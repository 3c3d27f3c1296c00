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

@Command(name = "compile", description = "Compile a spec and its weights into a runnable inference jar (java -jar model.jar --help).")
final class CompileCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC") Path spec;

  @ArgGroup(exclusive = true)
  RunCommand.WeightSource weights = new RunCommand.WeightSource();

  @Option(names = "--backend", defaultValue = "java", description = "code generator: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE})")
  Backend backend;

  @Option(names = {"-o", "--output"}, paramLabel = "JAR", description = "the jar to write")
  Path output;

  @Option(names = "--package", paramLabel = "P", description = "package of the generated class (default resnetc.models)")
  String packageName;

  @Option(names = "--class", paramLabel = "C", description = "name of the generated class (default: the model name, capitalized)")
  String className;

  @Option(names = "--emit-source", paramLabel = "DIR", description = "also write the generated Java source under DIR")
  Path sourceDir;

  @Mixin OptOptions opt = new OptOptions();

  enum Backend { java }

  @Override
  public Integer call() throws IOException {
    PrintWriter out = cmd.commandLine().getOut();
    if (output == null && sourceDir == null) throw new Main.UserError("give --output JAR (and/or --emit-source DIR)");
    long t0 = System.nanoTime();
    Frontend.Loaded l = Frontend.load(spec);
    Graph g = weightsOrNone(l);
    Pipeline pipeline = opt.passes != null ? Pipeline.parse(opt.passes) : Pipeline.defaults();
    Graph optimized = pipeline.run(Frontend.withoutPreprocess(g),
        new Pipeline.Instruments(opt.dumpAfter, opt.dumpDir, opt.timePasses ? cmd.commandLine().getErr() : null));
    JavaBackend.Output src = JavaTarget.generate(l, optimized, JavaTarget.defaultOptions(l.model(), packageName, className));
    if (sourceDir != null) {
      Path file = sourceDir.resolve(src.qualifiedName().replace('.', '/') + ".java");
      Files.createDirectories(file.getParent());
      Files.writeString(file, src.source());
      out.println("source: " + file);
    }
    if (output != null) {
      if (!g.hasWeights()) throw new Main.UserError("a jar needs weights: pass --weights FILE or --random-weights SEED");
      JavaTarget.Compiled c = JavaTarget.compile(src);
      ModelJar.write(output, src.qualifiedName(), c.classes(), Map.of(c.resourcePath(), c.blob()));
      out.printf(Locale.ROOT, "jar: %s (%d bytes, weights %d bytes)%n", output, Files.size(output), c.blob().length);
      out.println("class: " + src.qualifiedName());
    }
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
