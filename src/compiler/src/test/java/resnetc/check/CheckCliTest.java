package resnetc.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.TestPaths;
import resnetc.cli.Main;

/** {@code resnetc check|summary|ir} on good and bad specs: exit codes, diagnostics on stderr, never a stack trace. */
class CheckCliTest {
  private static final String BROKEN = """
      model broken {
        input f32 [3, 32, 32]
        classes 10
        stem { conv 3x3 16  bn  relu }
        block basik
        shortcut A
        stage layer1 1 x 16
        head { avgpool  fc 100 }
      }
      """;

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    return new Run(code, out.toString(), err.toString());
  }

  static void assertNoStackTrace(Run r) {
    for (String s : List.of(r.out, r.err)) {
      assertFalse(s.contains("at resnetc."), s);
      assertFalse(s.contains("\tat "), s);
      assertFalse(s.contains("Exception"), s);
      assertFalse(s.contains("internal error"), s);
    }
  }

  static Path example(String relative) {
    return TestPaths.repoRoot().resolve("examples").resolve(relative);
  }

  @Test
  void checkValidExampleExitsZero() {
    Run r = run("check", example("cifar/resnet20.resnet").toString());
    assertEquals(0, r.code, r.err);
    assertEquals(example("cifar/resnet20.resnet") + ": ok", r.out.strip());
    assertEquals("", r.err);
  }

  @Test
  void checkEveryExampleExitsZero() throws IOException {
    List<String> args = new ArrayList<>(List.of("check"));
    try (Stream<Path> s = Files.walk(TestPaths.repoRoot().resolve("examples"))) {
      s.filter(p -> p.toString().endsWith(".resnet")).sorted().forEach(p -> args.add(p.toString()));
    }
    assertTrue(args.size() > 10);
    Run r = run(args.toArray(String[]::new));
    assertEquals(0, r.code, r.err);
    assertEquals(args.size() - 1, r.out.lines().filter(l -> l.endsWith(": ok")).count(), r.out);
  }

  @Test
  void checkBrokenSpecExitsOneWithEveryDiagnostic(@TempDir Path dir) throws IOException {
    Path spec = dir.resolve("broken.resnet");
    Files.writeString(spec, BROKEN);
    Run r = run("check", spec.toString());
    assertEquals(1, r.code);
    assertEquals("", r.out);
    assertEquals(spec + ":5:9: error: unknown block kind 'basik' (expected basic or bottleneck)\n"
        + "  block basik\n"
        + "        ^\n"
        + spec + ":8:19: error: fc has 100 outputs but the model has 10 classes\n"
        + "  head { avgpool  fc 100 }\n"
        + "                  ^\n"
        + "2 errors generated.\n", r.err);
    assertNoStackTrace(r);
  }

  @Test
  void checkReportsEachSpecAndFailsIfAnyIsBroken(@TempDir Path dir) throws IOException {
    Path bad = dir.resolve("bad.resnet");
    Files.writeString(bad, "model m {\n  input f32 [3, 32, 32] @\n  classes 10 10\n");
    Path good = example("imagenet/resnet50.resnet");
    Run r = run("check", bad.toString(), good.toString());
    assertEquals(1, r.code);
    assertEquals(good + ": ok", r.out.strip());
    assertTrue(r.err.startsWith(bad + ":2:25: error: unexpected character '@'\n  input f32 [3, 32, 32] @\n                        ^\n"), r.err);
    assertTrue(r.err.contains(bad + ":3:14: error: unexpected '10'\n"), r.err);
    assertTrue(r.err.endsWith("2 errors generated.\n"), r.err);
    assertNoStackTrace(r);
  }

  @Test
  void checkMissingFileExitsOneWithAClearMessage(@TempDir Path dir) {
    Path missing = dir.resolve("nope.resnet");
    Run r = run("check", missing.toString());
    assertEquals(1, r.code);
    assertEquals(missing + ":1:1: error: cannot read spec: no such file\n1 error generated.\n", r.err);
    assertNoStackTrace(r);
  }

  @Test
  void checkDirectoryExitsOne(@TempDir Path dir) {
    Run r = run("check", dir.toString());
    assertEquals(1, r.code);
    assertTrue(r.err.startsWith(dir + ":1:1: error: cannot read spec"), r.err);
    assertNoStackTrace(r);
  }

  @Test
  void checkNotUtf8ExitsOne(@TempDir Path dir) throws IOException {
    Path spec = dir.resolve("binary.resnet");
    Files.write(spec, new byte[] {'m', 'o', 'd', (byte) 0xff, (byte) 0xfe, 0, 1});
    Run r = run("check", spec.toString());
    assertEquals(1, r.code);
    assertEquals(spec + ":1:1: error: cannot read spec: not UTF-8 text\n1 error generated.\n", r.err);
    assertNoStackTrace(r);
  }

  @ParameterizedTest
  @ValueSource(strings = {"summary", "ir"})
  void otherCommandsOnABrokenSpecExitOneWithDiagnostics(String command, @TempDir Path dir) throws IOException {
    Path spec = dir.resolve("broken.resnet");
    Files.writeString(spec, BROKEN);
    Run r = run(command, spec.toString());
    assertEquals(1, r.code, r.err);
    assertEquals("", r.out);
    assertTrue(r.err.startsWith(spec + ":5:9: error: unknown block kind 'basik'"), r.err);
    assertTrue(r.err.contains("        ^\n"), r.err);
    assertTrue(r.err.strip().endsWith("2 errors generated."), r.err);
    assertNoStackTrace(r);
  }

  @ParameterizedTest
  @ValueSource(strings = {"summary", "ir"})
  void otherCommandsOnAShapeErrorExitOne(String command, @TempDir Path dir) throws IOException {
    Path spec = dir.resolve("shape.resnet");
    Files.writeString(spec, BROKEN.replace("basik", "basic").replace("fc 100", "fc").replace("1 x 16", "1 x 8"));
    Run r = run(command, spec.toString());
    assertEquals(1, r.code, r.err);
    assertTrue(r.err.startsWith(spec + ":7:3: error: stage 'layer1' block 0: shortcut A can only add channels"), r.err);
    assertNoStackTrace(r);
  }

  @ParameterizedTest
  @ValueSource(strings = {"summary", "ir"})
  void otherCommandsOnAMissingFileExitOne(String command, @TempDir Path dir) {
    Path missing = dir.resolve("nope.resnet");
    Run r = run(command, missing.toString());
    assertEquals(1, r.code, r.err);
    assertTrue(r.err.contains(missing + ":1:1: error: cannot read spec: no such file"), r.err);
    assertNoStackTrace(r);
  }

  /** Every diagnostics test file through the CLI: exit 1 with its diagnostics, or 0 for the valid ones. */
  @Test
  void everyDiagnosticsFileThroughTheCli() throws IOException {
    for (Path f : DiagnosticFilesTest.files()) {
      int expected = DiagnosticFilesTest.expectations(Files.readString(f)).size();
      Run r = run("check", f.toString());
      assertEquals(expected == 0 ? 0 : 1, r.code, f + "\n" + r.err);
      if (expected > 0) {
        assertTrue(r.err.startsWith(f + ":"), r.err);
        assertTrue(r.err.strip().endsWith(expected + (expected == 1 ? " error" : " errors") + " generated."), f + "\n" + r.err);
      }
      assertNoStackTrace(r);
    }
  }
}
