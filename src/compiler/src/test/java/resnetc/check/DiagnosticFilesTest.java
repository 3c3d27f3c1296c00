package resnetc.check;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import resnetc.Frontend;
import resnetc.diag.Diagnostic;
import resnetc.diag.SpecException;
import resnetc.diag.Pos;

/**
 * FileCheck-style diagnostics tests. Each {@code diagnostics/*.resnet} resource is a small spec with deliberate
 * errors and the diagnostics it must produce written in it as comments:
 *
 * <pre>  # ERROR: 12:9: unknown block kind 'basik'</pre>
 *
 * (line:col of the diagnostic and a substring of its message). The front end must report exactly those: the same
 * number of diagnostics, each at its position with a message containing the text. A file without ERROR lines
 * must load.
 */
class DiagnosticFilesTest {
  private static final Pattern EXPECT = Pattern.compile("#\\s*ERROR:\\s*(\\d+):(\\d+):\\s?(.*)$");

  record Expected(int line, int col, String message) {
    boolean matches(Diagnostic d) {
      return d.pos().line() == line && d.pos().col() == col && d.message().contains(message);
    }

    @Override
    public String toString() {
      return line + ":" + col + ": " + message;
    }
  }

  static Path dir() {
    URL url = DiagnosticFilesTest.class.getResource("/diagnostics");
    if (url == null) throw new IllegalStateException("no diagnostics/ test resources");
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static List<Path> files() throws IOException {
    try (Stream<Path> s = Files.list(dir())) {
      return s.filter(p -> p.toString().endsWith(".resnet")).sorted().toList();
    }
  }

  static List<Expected> expectations(String source) {
    List<Expected> out = new ArrayList<>();
    String[] lines = source.split("\n", -1);
    for (String line : lines) {
      Matcher m = EXPECT.matcher(line.strip());
      if (m.find()) out.add(new Expected(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), m.group(3).strip()));
    }
    return out;
  }

  @TestFactory
  Stream<DynamicTest> everyFileGivesExactlyItsExpectedDiagnostics() throws IOException {
    List<Path> files = files();
    assertFalse(files.isEmpty());
    return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> checkFile(f)));
  }

  static void checkFile(Path file) throws IOException {
    String source = Files.readString(file);
    String name = "diagnostics/" + file.getFileName();
    List<Expected> expected = expectations(source);
    List<Diagnostic> actual;
    try {
      Frontend.load(name, source);
      actual = List.of();
    } catch (SpecException e) {
      actual = e.diagnostics();
      // Whatever the errors, the rendering works and names the file on every diagnostic.
      String rendered = e.render();
      for (Diagnostic d : actual) {
        assertTrue(rendered.contains(name + ":" + d.pos().line() + ":" + d.pos().col() + ": error: " + d.message()), rendered);
      }
    }

    List<Diagnostic> unmatched = new ArrayList<>(actual);
    List<Expected> missing = new ArrayList<>();
    for (Expected x : expected) {
      Diagnostic hit = unmatched.stream().filter(x::matches).findFirst().orElse(null);
      if (hit == null) missing.add(x);
      else unmatched.remove(hit);
    }
    if (!missing.isEmpty() || !unmatched.isEmpty()) {
      StringBuilder sb = new StringBuilder(name).append(": diagnostics differ from the ERROR lines\n");
      for (Expected x : missing) sb.append("  expected, not reported: ").append(x).append('\n');
      for (Diagnostic d : unmatched) {
        sb.append("  reported, not expected: ").append(d.pos().line()).append(':').append(d.pos().col()).append(": ")
            .append(d.message()).append('\n');
      }
      sb.append("all reported:\n");
      for (Diagnostic d : actual) sb.append("  # ERROR: ").append(d.pos().line()).append(':').append(d.pos().col()).append(": ")
          .append(d.message()).append('\n');
      fail(sb.toString());
    }
  }

  /** Diagnostics come in file order, whichever check found them. */
  @Test
  void diagnosticsAreInFileOrder() throws IOException {
    for (Path f : files()) {
      try {
        Frontend.load(f.getFileName().toString(), Files.readString(f));
      } catch (SpecException e) {
        List<Diagnostic> d = e.diagnostics();
        for (int i = 1; i < d.size(); i++) {
          Pos a = d.get(i - 1).pos(), b = d.get(i).pos();
          assertTrue(a.line() < b.line() || a.line() == b.line() && a.col() <= b.col(), f.getFileName() + ": " + d);
        }
      }
    }
  }

  /** Guards the harness itself: the expectation syntax is read, and a wrong expectation fails. */
  @Test
  void harnessReadsExpectationsAndRejectsWrongOnes() throws IOException {
    List<Expected> x = expectations("# ERROR: 12:9: unknown block kind 'basik'\n  #ERROR: 3:1:   x y  \nmodel m {}\n");
    assertTrue(x.equals(List.of(new Expected(12, 9, "unknown block kind 'basik'"), new Expected(3, 1, "x y"))), x.toString());

    Path tmp = Files.createTempFile("diag", ".resnet");
    try {
      Files.writeString(tmp, "# ERROR: 1:1: no such message\nmodel m {}\n");
      boolean failed = false;
      try {
        checkFile(tmp);
      } catch (AssertionError e) {
        failed = true;
        assertTrue(e.getMessage().contains("expected, not reported: 1:1: no such message"), e.getMessage());
        assertTrue(e.getMessage().contains("reported, not expected: 2:7: model 'm' has no 'input' section"), e.getMessage());
      }
      assertTrue(failed, "a wrong expectation must fail");
    } finally {
      Files.delete(tmp);
    }
  }

  /** The suite covers several errors in one file (every error is reported, not just the first). */
  @Test
  void someFilesExpectSeveralErrors() throws IOException {
    long multi = 0;
    for (Path f : files()) if (expectations(Files.readString(f)).size() >= 3) multi++;
    assertTrue(multi >= 5, "only " + multi + " files expect several errors");
  }
}
