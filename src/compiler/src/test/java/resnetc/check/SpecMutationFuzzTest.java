package resnetc.check;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.diag.Diagnostic;
import resnetc.diag.SpecException;

/**
 * Feeds deterministic mutants of every example spec (truncations, deleted and replaced tokens, duplicated and
 * swapped lines, odd numbers, stray characters, inserted fragments) to the front end. Each mutant must either
 * load or fail with positioned diagnostics that render; any other exception is a front-end bug.
 */
class SpecMutationFuzzTest {
  private static final long SEED = 0x5eed_2e5L;

  private static final List<String> KEYWORDS = List.of(
      "model", "input", "preprocess", "classes", "labels", "bn_eps", "stem", "block", "shortcut", "stage", "head",
      "weights", "scale", "mean", "std", "resize", "crop", "conv", "bn", "relu", "maxpool", "avgpool", "fc",
      "softmax", "stride", "pad", "bias", "nobias", "expansion", "stride_on", "groups", "width_per_group", "widen",
      "preact", "prefix", "rename", "file", "x", "identity", "A", "B", "C", "D", "basic", "bottleneck", "split",
      "end", "torchvision", "cifar", "f32", "nchw", "nhwc", "3x3", "1x1", "7x7", "0x0", "1x3");

  private static final List<String> NUMBERS = List.of("0", "-1", "99999999999", "7");

  private static final List<String> CHARS = List.of("@", "}", "{", "\"", "[", "]", ",", "-", "/", "->", "x");

  /** Whole fragments that are valid syntax in some places, to reach the checker and lowering with odd models. */
  private static final List<String> FRAGMENTS = List.of(
      "avgpool", "avgpool 2x2", "avgpool 3x3 stride 2 pad 1", "fc", "fc 7", "softmax", "bn", "relu",
      "maxpool 3x3 stride 2 pad 1", "maxpool 9x9 pad 4", "conv 3x3 16", "conv 1x1 5 stride 3 pad 0 bias",
      "conv 99x99 8 pad 0", "conv 3x3 8 pad 99999999999", "groups 3", "groups 0", "width_per_group 4", "widen 3",
      "expansion 3", "expansion 0", "preact", "stride_on 3x3", "stride_on 1x1", "stride_on 2x2", "block basic",
      "block bottleneck groups 32", "shortcut identity", "shortcut A", "shortcut A end", "shortcut B", "shortcut C",
      "shortcut D", "stage 2 x 7 stride 2", "stage 1 x 3 stride 3", "stage 1x8", "stage extra 1 x 5 stride 9",
      "stage 1 x 16 { block bottleneck groups 5 }", "stage 1 x 16 { shortcut identity stride_on 3x3 }",
      "head { avgpool fc }", "stem { conv 3x3 16 }", "stem { avgpool }", "classes 3", "input f32 [1, 8, 8]",
      "input f32 [3, 1, 1]", "preprocess { mean [1] std [0] }", "preprocess { scale 0/0 crop 5 }", "bn_eps 0",
      "bn_eps 1e-300", "weights cifar { rename \"fc.weight\" -> \"conv1.weight\" }",
      "weights torchvision { rename \"conv1.weight\" -> \"fc.weight\" prefix \"m.\" }",
      "weights torchvision { rename \"nothing\" -> \"x\" }", "labels \"nope\"");

  /** What a message must not show: ANTLR's token names and phrases, IR value names. */
  private static final Pattern INTERNALS = Pattern.compile(
      "<EOF>|no viable alternative|mismatched input|extraneous input|token recognition|\\b(INT|FLOAT|KERNEL|ID|STRING|ERRCHAR)\\b"
          + "|(^|[ (])%[A-Za-z0-9_]|Exception");

  private static final Pattern TOKEN = Pattern.compile("[A-Za-z_][A-Za-z_0-9.]*|[0-9]+(x[0-9]+)?|\"[^\"\\n]*\"|->|\\S");
  private static final Pattern WORD = Pattern.compile("[A-Za-z_][A-Za-z_0-9.]*");
  private static final Pattern NUMBER = Pattern.compile("[0-9]+(\\.[0-9]*)?");

  @Test
  void mutatedExamplesGiveDiagnosticsNeverExceptions() throws IOException {
    Path examples = TestPaths.repoRoot().resolve("examples");
    List<Path> specs = new ArrayList<>();
    try (Stream<Path> s = Files.walk(examples)) {
      s.filter(p -> p.toString().endsWith(".resnet")).sorted().forEach(specs::add);
    }
    assertFalse(specs.isEmpty(), "no example specs under " + examples);
    // The valid diagnostics test files use options no example does (renames, prefix, tweaks, every layer).
    for (Path p : DiagnosticFilesTest.files()) {
      if (DiagnosticFilesTest.expectations(Files.readString(p)).isEmpty()) specs.add(p);
    }

    List<String> failures = new ArrayList<>();
    int mutants = 0, rejected = 0;
    for (Path spec : specs) {
      String source = Files.readString(spec);
      String name = spec.getFileName().toString();
      Random rnd = new Random(SEED ^ name.hashCode());
      for (String mutant : mutants(source, rnd)) {
        mutants++;
        if (!check(name, mutant, failures)) rejected++;
      }
    }
    if (!failures.isEmpty()) {
      // One example of each distinct failure (same first two lines), then the count.
      java.util.Map<String, String> distinct = new java.util.LinkedHashMap<>();
      for (String f : failures) {
        String[] l = f.split("\n", 3);
        distinct.putIfAbsent(l[0] + (l.length > 1 ? l[1] : ""), f);
      }
      fail(failures.size() + " of " + mutants + " mutants broke the front end (" + distinct.size() + " distinct):\n\n"
          + String.join("\n\n", distinct.values().stream().limit(12).toList()));
    }
    // Sanity: most mutants must be rejected, or the mutations are not reaching the checks.
    if (rejected < mutants / 3) fail("only " + rejected + " of " + mutants + " mutants were rejected");
  }

  /** False when the spec was rejected (correctly); failures get a description of anything else. */
  static boolean check(String name, String text, List<String> failures) {
    try {
      Frontend.load(name, text);
      return true;
    } catch (SpecException e) {
      int lines = text.split("\n", -1).length;
      String problem = null;
      if (e.diagnostics().isEmpty()) problem = "SpecException without diagnostics";
      for (Diagnostic d : e.diagnostics()) {
        if (d.pos().line() < 1 || d.pos().line() > lines + 1 || d.pos().col() < 1) {
          problem = "diagnostic outside the file (" + lines + " lines): " + d;
        } else if (d.message() == null || d.message().isBlank()) {
          problem = "diagnostic without a message: " + d;
        } else if (d.message().contains("\n")) {
          problem = "diagnostic message over several lines: " + d.message();
        } else if (INTERNALS.matcher(d.message()).find()) {
          problem = "diagnostic in the parser's or the IR's terms, not the user's: " + d.message();
        }
      }
      try {
        String r = e.render();
        if (!r.startsWith(name + ":")) problem = "render does not start with the file name: " + r;
      } catch (RuntimeException re) {
        problem = "render() threw " + stack(re);
      }
      if (problem != null) failures.add(problem + "\n--- mutant:\n" + text);
      return false;
    } catch (Throwable t) {
      failures.add(stack(t) + "--- mutant:\n" + text);
      return false;
    }
  }

  private static String stack(Throwable t) {
    StringWriter sw = new StringWriter();
    t.printStackTrace(new PrintWriter(sw));
    String[] lines = sw.toString().split("\n");
    return String.join("\n", List.of(lines).subList(0, Math.min(8, lines.length))) + "\n";
  }

  /** Deterministic mutants of one spec. */
  static List<String> mutants(String src, Random rnd) {
    List<String> out = new ArrayList<>();
    // Truncations: at every line end, and at many random offsets (inside words, numbers, strings, braces).
    List<int[]> tokens = spans(TOKEN, src), words = spans(WORD, src), numbers = spans(NUMBER, src);
    String[] lines = src.split("\n", -1);
    for (int i = src.indexOf('\n'); i >= 0; i = src.indexOf('\n', i + 1)) out.add(src.substring(0, i));
    for (int[] t : tokens) out.add(src.substring(0, rnd.nextBoolean() ? t[0] : t[1]));
    for (int i = 0; i < 40; i++) out.add(src.substring(0, rnd.nextInt(src.length())));
    for (int i = 0; i < 15; i++) {
      List<String> l = new ArrayList<>(List.of(lines));
      l.remove(rnd.nextInt(l.size()));
      out.add(String.join("\n", l));
    }
    for (int i = 0; i < 40; i++) {
      int[] t = tokens.get(rnd.nextInt(tokens.size()));
      out.add(src.substring(0, t[0]) + src.substring(t[1]));
    }
    for (int i = 0; i < 15; i++) {
      List<String> l = new ArrayList<>(List.of(lines));
      int k = rnd.nextInt(l.size());
      l.add(k, l.get(k));
      out.add(String.join("\n", l));
    }
    for (int i = 0; i < 15; i++) {
      List<String> l = new ArrayList<>(List.of(lines));
      int a = rnd.nextInt(l.size()), b = rnd.nextInt(l.size());
      String tmp = l.get(a);
      l.set(a, l.get(b));
      l.set(b, tmp);
      out.add(String.join("\n", l));
    }
    for (int i = 0; i < 40 && !numbers.isEmpty(); i++) {
      int[] n = numbers.get(rnd.nextInt(numbers.size()));
      out.add(src.substring(0, n[0]) + NUMBERS.get(i % NUMBERS.size()) + src.substring(n[1]));
    }
    for (int i = 0; i < 40; i++) {
      int[] w = words.get(rnd.nextInt(words.size()));
      out.add(src.substring(0, w[0]) + KEYWORDS.get(rnd.nextInt(KEYWORDS.size())) + src.substring(w[1]));
    }
    for (int i = 0; i < 30; i++) {
      int at = rnd.nextInt(src.length() + 1);
      out.add(src.substring(0, at) + CHARS.get(rnd.nextInt(CHARS.size())) + src.substring(at));
    }
    // Fragments inserted at token boundaries: mostly syntax errors, some odd but parseable models.
    for (int i = 0; i < 40; i++) {
      int[] t = tokens.get(rnd.nextInt(tokens.size()));
      int at = rnd.nextBoolean() ? t[0] : t[1];
      out.add(src.substring(0, at) + " " + FRAGMENTS.get(rnd.nextInt(FRAGMENTS.size())) + " " + src.substring(at));
    }
    // Every fragment just before the closing brace of the model and of each section: parseable more often.
    int close = src.lastIndexOf('}');
    for (String f : FRAGMENTS) {
      out.add(src.substring(0, close) + "  " + f + "\n" + src.substring(close));
      int brace = nthBrace(src, rnd);
      if (brace >= 0) out.add(src.substring(0, brace) + " " + f + " " + src.substring(brace));
    }
    // Two mutations at once.
    for (int i = 0; i < 20; i++) {
      int[] t = tokens.get(rnd.nextInt(tokens.size()));
      String once = src.substring(0, t[0]) + src.substring(t[1]);
      int at = rnd.nextInt(once.length() + 1);
      out.add(once.substring(0, at) + CHARS.get(rnd.nextInt(CHARS.size())) + once.substring(at));
    }
    return out;
  }

  /** A random '}' that closes a section (not the model), or -1. */
  private static int nthBrace(String src, Random rnd) {
    List<Integer> braces = new ArrayList<>();
    int last = src.lastIndexOf('}');
    for (int i = src.indexOf('}'); i >= 0 && i < last; i = src.indexOf('}', i + 1)) braces.add(i);
    return braces.isEmpty() ? -1 : braces.get(rnd.nextInt(braces.size()));
  }

  private static List<int[]> spans(Pattern p, String s) {
    List<int[]> out = new ArrayList<>();
    // Skip comments: mutating them tests nothing.
    Matcher m = p.matcher(s);
    while (m.find()) {
      int lineStart = s.lastIndexOf('\n', m.start()) + 1;
      int hash = s.indexOf('#', lineStart);
      if (hash >= 0 && hash < m.start() && s.indexOf('\n', lineStart) > hash) continue;
      out.add(new int[] {m.start(), m.end()});
    }
    return out;
  }
}
