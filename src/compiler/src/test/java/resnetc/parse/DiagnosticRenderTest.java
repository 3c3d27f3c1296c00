package resnetc.parse;

import resnetc.diag.Pos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.Frontend;
import resnetc.diag.Diagnostic;
import resnetc.diag.SpecException;

/** The exact text of a rendered diagnostic: {@code path:L:C: error: msg}, the source line verbatim, a caret under C. */
class DiagnosticRenderTest {
  private static final String SPEC = """
      model m {
        input f32 [3, 32, 32]
        classes 10
        stem { conv 3x3 16  bn  relu }
        block basik
        shortcut A
        stage layer1 1 x 16
        head { avgpool  fc }
      }
      """;

  private static SpecException load(String file, String source) {
    return assertThrows(SpecException.class, () -> Frontend.load(file, source));
  }

  @Test
  void headerSourceLineAndCaret() {
    SpecException e = load("specs/m.resnet", SPEC);
    assertEquals("""
        specs/m.resnet:5:9: error: unknown block kind 'basik' (expected basic or bottleneck)
          block basik
                ^
        1 error generated.""", e.render());
  }

  @Test
  void pathFromLoadedFileIsTheHeader(@TempDir Path dir) throws Exception {
    Path spec = dir.resolve("bad.resnet");
    Files.writeString(spec, SPEC);
    SpecException e = assertThrows(SpecException.class, () -> Frontend.load(spec));
    String[] lines = e.render().split("\n", -1);
    assertEquals(spec + ":5:9: error: unknown block kind 'basik' (expected basic or bottleneck)", lines[0]);
    assertEquals("  block basik", lines[1]);
    assertEquals("        ^", lines[2]);
  }

  @Test
  void tabsAreKeptSoTheCaretLinesUp() {
    String src = "model m {\n\tinput f32 [3, 32, 32]\n\tclasses 10\n\tstem { conv 3x3 16 }\n\tblock\tbasik\n"
        + "\tshortcut A\n\tstage 1 x 16\n\thead { avgpool fc }\n}\n";
    SpecException e = load("t.resnet", src);
    String[] lines = e.render().split("\n", -1);
    // ANTLR counts a tab as one column: 'basik' is the 8th character of "\tblock\tbasik".
    assertEquals("t.resnet:5:8: error: unknown block kind 'basik' (expected basic or bottleneck)", lines[0]);
    assertEquals("\tblock\tbasik", lines[1]);
    assertEquals("\t     \t^", lines[2]);
  }

  @Test
  void caretCountsCodePointsLikeTheLexer() {
    // U+1F600 is two Java chars but one column for the lexer; the caret must still land under the '@'.
    String src = "model m { labels \"\uD83D\uDE00\" @ }\n";
    SpecException e = load("t.resnet", src);
    String[] lines = e.render().split("\n", -1);
    assertEquals("t.resnet:1:22: error: unexpected character '@'", lines[0]);
    assertEquals(src.strip(), lines[1]);
    assertEquals(" ".repeat(21) + "^", lines[2]);
  }

  @Test
  void everyDiagnosticRendersItsOwnLineThenACount() {
    String src = SPEC.replace("classes 10", "classes 0").replace("shortcut A", "shortcut Q");
    SpecException e = load("m.resnet", src);
    assertEquals(List.of(new Pos(3, 3), new Pos(5, 9), new Pos(6, 12)), e.diagnostics().stream().map(Diagnostic::pos).toList());
    String[] lines = e.render().split("\n", -1);
    assertEquals(10, lines.length, e.render());
    assertTrue(lines[0].startsWith("m.resnet:3:3: error: class count must be between 1 and"), lines[0]);
    assertEquals("  classes 0", lines[1]);
    assertEquals("  ^", lines[2]);
    assertTrue(lines[3].startsWith("m.resnet:5:9: error: unknown block kind"), lines[3]);
    assertEquals("m.resnet:6:12: error: unknown shortcut kind 'Q' (expected identity, A, B, C or D)", lines[6]);
    assertEquals("  shortcut Q", lines[7]);
    assertEquals("           ^", lines[8]);
    assertEquals("3 errors generated.", lines[9]);
  }

  @Test
  void endOfFileErrorsPointPastTheLastLine() {
    SpecException e = load("t.resnet", "model m {\n  classes");
    Diagnostic d = e.diagnostics().get(0);
    assertEquals(new Pos(2, 10), d.pos());
    assertEquals("unexpected end of file, expecting integer", d.message());
    assertEquals("t.resnet:2:10: error: unexpected end of file, expecting integer\n  classes\n         ^", d.format("model m {\n  classes"));
  }

  @Test
  void aTokenSpanningLinesIsQuotedOnOneLine() {
    // A string may continue over an escaped newline; the message must stay on the header line.
    SpecException e = load("t.resnet", "model m {\n  classes \"a\\\nb\"\n}\n");
    assertEquals(1, e.diagnostics().size());
    assertEquals("unexpected '\"a\\\\nb\"', expecting integer", e.diagnostics().get(0).message());
    assertEquals("t.resnet:2:11: error: unexpected '\"a\\\\nb\"', expecting integer\n  classes \"a\\\n          ^\n1 error generated.",
        e.render());
  }

  @Test
  void windowsLineEndingsAreNotPartOfTheSourceLine() {
    SpecException e = load("t.resnet", SPEC.replace("\n", "\r\n"));
    String[] lines = e.render().split("\n", -1);
    assertEquals("  block basik", lines[1]);
  }

  @Test
  void unreadableFileIsADiagnosticWithoutSourceLine(@TempDir Path dir) {
    Path missing = dir.resolve("missing.resnet");
    SpecException e = assertThrows(SpecException.class, () -> Frontend.load(missing));
    assertEquals(missing + ":1:1: error: cannot read spec: no such file\n1 error generated.", e.render());
  }

  @Test
  void diagnosticOutsideTheSourceHasNoSourceLine() {
    assertEquals("f:9:1: error: m", new Diagnostic("f", new Pos(9, 1), "m").format("one line\n"));
    assertEquals("f:1:1: error: m", new Diagnostic("f", new Pos(1, 1), "m").format(null));
    // A column past the end of the line puts the caret just after it.
    assertEquals("f:1:9: error: m\nab\n  ^", new Diagnostic("f", new Pos(1, 9), "m").format("ab\n"));
  }
}
