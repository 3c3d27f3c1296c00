package resnetc.filecheck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.schedule.ScheduleText;
import resnetc.schedule.Winograd;
import resnetc.target.CodegenOptions;
import resnetc.target.ModelInfo;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.ir.Graph;
import resnetc.ir.IrParser;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Printer;
import resnetc.ir.Verifier;
import resnetc.passes.Numerics;
import resnetc.passes.Pass;
import resnetc.passes.Pipeline;
import resnetc.weights.RandomWeights;

/**
 * Runs every file under {@code src/test/resources/filecheck/} (Cranelift-filetest style). Each file has one
 * {@code RUN:} line in a comment ({@code #} or {@code //}) saying what to do, and {@link FileCheck} directives
 * over the result. The input is the file itself unless the RUN line names one ({@code %root} is the repository
 * root, {@code %s} the test file):
 *
 * <ul>
 *   <li>{@code RUN: lower [INPUT]} — a spec lowered to IR text;
 *   <li>{@code RUN: opt PASSES [INPUT]} — a spec or IR (verified), with random weights bound, through {@code PASSES}
 *       ({@code default} or {@code fold-bn,fuse-conv,...}); the checks run over the printed result. Also, every opt
 *       test is a numerical test: the reference interpreter on the graph before and after, on a seeded random
 *       input of batch 2 (1 for ImageNet-sized inputs), must agree to 1e-4 of the largest output; and unless the
 *       pipeline has fold-constants (which needs data), the passes must give the same IR on the weightless graph;
 *   <li>{@code RUN: verify} / {@code RUN: verify-fails} — the verifier accepts the IR, or rejects it and the
 *       checks run over its problems, one per line;
 *   <li>{@code RUN: plan [--backend B] [--cpu C] [--winograd M] [INPUT]} — the schedule a backend compiles, in its
 *       text form (see {@code ScheduleText});
 *   <li>{@code RUN: resnetc ARGS} — the CLI, which must exit 0; the checks run over its standard output.
 * </ul>
 */
class FileCheckTest {
  static final Path DIR = TestPaths.repoRoot().resolve("src/compiler/src/test/resources/filecheck");
  private static final Pattern RUN = Pattern.compile("(?:#|//)\\s*RUN:(.*)$");
  private static final long SEED = 2024;

  @TestFactory
  Stream<DynamicTest> everyFile() throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.walk(DIR)) {
      files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
    }
    assertFalse(files.isEmpty(), "no tests in " + DIR);
    return files.stream().map(f -> DynamicTest.dynamicTest(DIR.relativize(f).toString(), () -> run(f)));
  }

  private static final String SMALL = """
      graph small {
        %x = input : f32[N,4,5,5]
        %g = const : f32[4]
        %b = const : f32[4]
        %m = const : f32[4]
        %v = const : f32[4]
        %bn = batchnorm %x, %g, %b, %m, %v eps=1.0E-5 : f32[N,4,5,5]
        %r = relu %bn : f32[N,4,5,5]
        return %r
      }
      """;

  /** The runner itself fails a file whose checks do not hold, or a pass that changes the numbers. */
  @Test
  void failsWrongChecksAndWrongNumbers(@TempDir Path tmp) throws IOException {
    Path ok = tmp.resolve("ok.ir"), wrong = tmp.resolve("wrong.ir"), none = tmp.resolve("none.ir"), mode = tmp.resolve("mode.ir");
    Files.writeString(ok, "// RUN: opt dce\n// CHECK: %r = relu %bn\n" + SMALL);
    run(ok);
    Files.writeString(wrong, "// RUN: opt dce\n// CHECK: %r = relu %x\n" + SMALL);
    assertThrows(FileCheck.Failure.class, () -> run(wrong));
    Files.writeString(none, "// RUN: opt dce\n" + SMALL);
    assertTrue(assertThrows(AssertionFailedError.class, () -> run(none)).getMessage().contains("needs CHECK lines"));
    Files.writeString(mode, "// RUN: optimize dce\n// CHECK: relu\n" + SMALL);
    assertTrue(assertThrows(AssertionFailedError.class, () -> run(mode)).getMessage().contains("unknown RUN mode 'optimize'"));

    // An inexact "pass" that drops every batch norm: the structure checks pass, the numbers do not.
    Pass drop = new Pass() {
      public String name() {
        return "drop-bn";
      }

      public Graph run(Graph g) {
        List<Node> nodes = g.nodes().stream().filter(n -> !(n.op() instanceof Op.BatchNorm))
            .map(n -> n.withInputs(n.inputs().stream().map(in -> g.node(in).op() instanceof Op.BatchNorm ? g.node(in).input(0) : in).toList()))
            .toList();
        return g.withNodes(nodes, g.output());
      }
    };
    FileCheck checks = FileCheck.parse("t", "// CHECK: %r = relu %x");
    AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> opt("t", new Pipeline(List.of(drop)), IrParser.parse(SMALL), checks));
    assertTrue(e.getMessage().contains("the interpreter before and after drop-bn differs by"), e.getMessage());
  }

  static void run(Path file) throws IOException {
    String text = Files.readString(file);
    String name = TestPaths.repoRoot().relativize(file).toString();
    List<String> runs = text.lines().map(RUN::matcher).filter(Matcher::find).map(m -> m.group(1).strip()).toList();
    if (runs.size() != 1) fail(name + ": expected exactly one RUN: line, found " + runs.size());
    List<String> run = Arrays.stream(runs.get(0).replace("%root", TestPaths.repoRoot().toString()).replace("%s", file.toString())
        .split("\\s+")).toList();
    FileCheck checks = FileCheck.parse(name, text);
    String mode = run.get(0);
    if (!mode.equals("verify") && checks.isEmpty()) fail(name + ": RUN: " + mode + " needs CHECK lines");
    switch (mode) {
      case "lower" -> checks.match(Printer.print(load(input(run, 1, file))));
      case "opt" -> opt(name, Pipeline.parse(run.get(1).equals("default") ? Pipeline.DEFAULT : run.get(1)), load(input(run, 2, file)), checks);
      case "verify" -> assertEquals(List.of(), Verifier.problems(IrParser.parse(Files.readString(input(run, 1, file)))), name);
      case "verify-fails" -> {
        List<String> problems = Verifier.problems(IrParser.parse(Files.readString(input(run, 1, file))));
        assertFalse(problems.isEmpty(), name + ": the verifier accepted the graph");
        checks.match(String.join("\n", problems) + "\n");
      }
      case "plan" -> checks.match(plan(run.subList(1, run.size()), file));
      case "resnetc" -> {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.execute(run.subList(1, run.size()).toArray(String[]::new), new PrintWriter(out), new PrintWriter(err));
        assertEquals(0, code, name + ": resnetc failed:\n" + err);
        checks.match(out.toString());
      }
      default -> fail(name + ": unknown RUN mode '" + mode + "' (lower, opt, verify, verify-fails, plan, resnetc)");
    }
  }

  /**
   * {@code plan [--backend B] [--cpu C] [--winograd M] [INPUT]}: the schedule's text form for a spec or IR through
   * the default pipeline and the backend's legalization (default java).
   */
  static String plan(List<String> args, Path file) throws IOException {
    CodegenOptions o = CodegenOptions.defaults();
    Path input = file;
    for (int i = 0; i < args.size(); i++) {
      switch (args.get(i)) {
        case "--backend" -> o = o.withTarget(args.get(++i));
        case "--cpu" -> o = o.withCpus(List.of(args.get(++i).split(",")));
        case "--winograd" -> o = o.withWinograd(Winograd.Mode.parse(args.get(++i)));
        default -> input = Path.of(args.get(i));
      }
    }
    Graph g = load(input);
    var c = Driver.compile(ModelInfo.of(g.name(), g.input().type().dim(1)), g, o, Pipeline.defaults(), Pipeline.Instruments.NONE);
    return ScheduleText.print(c.schedule());
  }

  private static Path input(List<String> run, int index, Path file) {
    if (run.size() > index + 1) fail("RUN line has extra words: " + String.join(" ", run));
    return run.size() > index ? Path.of(run.get(index)) : file;
  }

  /** A spec is parsed, checked and lowered; IR text is parsed and must verify. */
  static Graph load(Path input) throws IOException {
    if (input.toString().endsWith(".resnet")) return Frontend.load(input).graph();
    Graph g = IrParser.parse(Files.readString(input));
    Verifier.verify(g);
    return g;
  }

  static void opt(String name, Pipeline pipeline, Graph input, FileCheck checks) {
    Graph before = RandomWeights.generate(input, SEED);
    Graph after = pipeline.run(before);
    String printed = Printer.print(after);
    checks.match(printed);
    if (!pipeline.text().contains("fold-constants")) {
      assertEquals(printed, Printer.print(pipeline.run(input)), name + ": the passes give other IR without weights");
    }
    int batch = before.input().type().elementsPerItem() > 100_000 ? 1 : 2;
    double rel = Numerics.relativeError(before, after, batch, SEED);
    assertTrue(rel <= Numerics.TOLERANCE, name + ": the interpreter before and after " + pipeline.text() + " differs by " + rel
        + " of the largest output");
  }
}
