package resnetc.filecheck;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small matcher in the style of LLVM's FileCheck. Directives are read from comment lines of a test file
 * ({@code #} or {@code //}, then the directive), and matched against an output text:
 *
 * <ul>
 *   <li>{@code CHECK: pat} — the next occurrence of {@code pat} at or after the current position; the position
 *       moves to the end of the match (so a later CHECK may match further along the same line);
 *   <li>{@code CHECK-NEXT: pat} — {@code pat} on the line right after the line of the previous match;
 *   <li>{@code CHECK-NOT: pat} — {@code pat} does not occur between the previous match (or the start of the
 *       section) and the next positive match (or the end of the section);
 *   <li>{@code CHECK-COUNT-n: pat} — <em>exactly</em> n occurrences of {@code pat} from the current position to the
 *       end of the section; an assertion about the rest of the output that leaves the position where it is, so
 *       {@code CHECK-COUNT-0} at the top means "nowhere" (unlike LLVM, where it means "n more matches in order");
 *   <li>{@code CHECK-LABEL: pat} — as CHECK, but labels are matched first, in order, and split the output into
 *       sections: the directives after a label only see the output between its match and the next label's.
 * </ul>
 *
 * A pattern matches within one line. It is a plain substring, except that {@code {{regex}}} blocks are Java regexes,
 * leading and trailing blanks are ignored, and a run of blanks matches any run of blanks. An unknown directive
 * ({@code CHECK-NXT:}) or an empty pattern is an error in the test file, not a silent no-op.
 */
public final class FileCheck {
  public enum Kind {
    CHECK("CHECK"), NEXT("CHECK-NEXT"), NOT("CHECK-NOT"), COUNT("CHECK-COUNT"), LABEL("CHECK-LABEL");

    final String spelling;

    Kind(String spelling) {
      this.spelling = spelling;
    }
  }

  /** One directive; {@code line} is its 1-based line in the test file, {@code count} is n for CHECK-COUNT-n. */
  public record Directive(Kind kind, String pattern, int count, int line) {
    Pattern regex() {
      return compile(pattern);
    }

    @Override
    public String toString() {
      return (kind == Kind.COUNT ? "CHECK-COUNT-" + count : kind.spelling) + ": " + pattern;
    }
  }

  /** A check that did not hold; the message names the directive, its line, and shows the output where it failed. */
  public static final class Failure extends AssertionError {
    Failure(String message) {
      super(message);
    }
  }

  private static final Pattern DIRECTIVE = Pattern.compile("(?:#|//)\\s*(CHECK(?:-[A-Z]+(?:-\\d+)?)?):(.*)$");
  private static final Pattern ANY_CHECK = Pattern.compile("(?:#|//)\\s*CHECK[-A-Z0-9]*\\s*:");

  private final String testName;
  private final List<Directive> directives;

  private FileCheck(String testName, List<Directive> directives) {
    this.testName = testName;
    this.directives = directives;
  }

  /** Reads the directives of a test file; {@code testName} prefixes every message ({@code name:line}). */
  public static FileCheck parse(String testName, String testFile) {
    List<Directive> out = new ArrayList<>();
    String[] lines = testFile.split("\r?\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String where = testName + ":" + (i + 1) + ": ";
      Matcher m = DIRECTIVE.matcher(lines[i]);
      if (!m.find()) {
        if (ANY_CHECK.matcher(lines[i]).find()) throw new IllegalArgumentException(where + "malformed directive: " + lines[i].strip());
        continue;
      }
      String word = m.group(1), pattern = m.group(2).strip();
      Kind kind;
      int count = 0;
      if (word.startsWith("CHECK-COUNT-")) {
        kind = Kind.COUNT;
        count = Integer.parseInt(word.substring("CHECK-COUNT-".length()));
      } else {
        kind = switch (word) {
          case "CHECK" -> Kind.CHECK;
          case "CHECK-NEXT" -> Kind.NEXT;
          case "CHECK-NOT" -> Kind.NOT;
          case "CHECK-LABEL" -> Kind.LABEL;
          default -> throw new IllegalArgumentException(where + "unknown directive " + word);
        };
      }
      if (pattern.isEmpty()) throw new IllegalArgumentException(where + word + " has an empty pattern");
      if (kind == Kind.NEXT && out.stream().noneMatch(d -> d.kind() != Kind.NOT)) {
        throw new IllegalArgumentException(where + "CHECK-NEXT needs a match before it");
      }
      try {
        compile(pattern);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where + "bad pattern: " + e.getMessage());
      }
      out.add(new Directive(kind, pattern, count, i + 1));
    }
    return new FileCheck(testName, List.copyOf(out));
  }

  public List<Directive> directives() {
    return directives;
  }

  public boolean isEmpty() {
    return directives.isEmpty();
  }

  /** Matches every directive against {@code output}; throws {@link Failure} at the first one that fails. */
  public void match(String output) {
    new Run(output).all();
  }

  // ---- patterns ----

  /** Literal text with {@code {{regex}}} blocks; blank runs in the literal text match any blank run. */
  static Pattern compile(String pattern) {
    StringBuilder re = new StringBuilder();
    int i = 0;
    while (i < pattern.length()) {
      int open = pattern.indexOf("{{", i);
      String literal = pattern.substring(i, open < 0 ? pattern.length() : open);
      String[] words = literal.split("[ \\t]+", -1);
      for (int w = 0; w < words.length; w++) {
        if (w > 0) re.append("[ \\t]+");
        if (!words[w].isEmpty()) re.append(Pattern.quote(words[w]));
      }
      if (open < 0) break;
      int close = pattern.indexOf("}}", open + 2);
      if (close < 0) throw new IllegalArgumentException("unclosed {{ in '" + pattern + "'");
      re.append("(?:").append(pattern, open + 2, close).append(')');
      i = close + 2;
    }
    try {
      return Pattern.compile(re.toString());
    } catch (java.util.regex.PatternSyntaxException e) {
      throw new IllegalArgumentException(e.getDescription() + " in '" + pattern + "'");
    }
  }

  // ---- matching ----

  /** A match: its line (0-based) and its start and end offsets in the whole output. */
  private record Hit(int line, int start, int end) {}

  private final class Run {
    private final String text;
    private final int[] lineStart; // offset of each line; one extra entry past the end

    Run(String output) {
      this.text = output;
      List<Integer> starts = new ArrayList<>();
      starts.add(0);
      for (int i = 0; i < output.length(); i++) if (output.charAt(i) == '\n') starts.add(i + 1);
      starts.add(output.length() + 1);
      lineStart = starts.stream().mapToInt(Integer::intValue).toArray();
    }

    int lines() {
      return lineStart.length - 1;
    }

    int lineOf(int offset) {
      int lo = 0, hi = lines() - 1;
      while (lo < hi) {
        int mid = (lo + hi + 1) >>> 1;
        if (lineStart[mid] <= offset) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    }

    String lineText(int line) {
      return text.substring(lineStart[line], Math.min(text.length(), lineStart[line + 1] - 1));
    }

    /** First match of p in [from, to), line by line (a pattern never spans lines). */
    Hit find(Pattern p, int from, int to) {
      for (int line = lineOf(from); line < lines() && lineStart[line] <= to; line++) {
        int ls = lineStart[line];
        String s = lineText(line);
        Matcher m = p.matcher(s);
        int end = Math.clamp(to - ls, 0, s.length());
        m.region(Math.clamp(from - ls, 0, end), end);
        m.useTransparentBounds(true).useAnchoringBounds(false);
        if (m.find()) return new Hit(line, ls + m.start(), ls + m.end());
      }
      return null;
    }

    void all() {
      // Labels first: each after the previous one; they bound the sections the other directives see.
      List<Integer> labelIdx = new ArrayList<>();
      List<Hit> labelHits = new ArrayList<>();
      int pos = 0;
      for (int i = 0; i < directives.size(); i++) {
        Directive d = directives.get(i);
        if (d.kind() != Kind.LABEL) continue;
        Hit h = find(d.regex(), pos, text.length());
        if (h == null) throw fail(d, "no match", pos);
        labelIdx.add(i);
        labelHits.add(h);
        pos = h.end();
      }
      int from = 0, sectionStart = 0;
      for (int s = 0; s <= labelIdx.size(); s++) {
        int to = s < labelIdx.size() ? labelIdx.get(s) : directives.size();
        int sectionEnd = s < labelHits.size() ? labelHits.get(s).start() : text.length();
        section(directives.subList(from, to), sectionStart, sectionEnd, s > 0 ? labelHits.get(s - 1) : null);
        if (s < labelIdx.size()) {
          from = to + 1;
          sectionStart = labelHits.get(s).end();
        }
      }
    }

    /** The directives of one section, matched within [start, end); {@code previous} is the label before it. */
    private void section(List<Directive> ds, int start, int end, Hit previous) {
      int pos = start;
      Hit last = previous;
      List<Directive> nots = new ArrayList<>();
      for (Directive d : ds) {
        if (d.kind() == Kind.NOT) {
          nots.add(d);
          continue;
        }
        if (d.kind() == Kind.COUNT) { // an assertion about the rest of the section; the position stays
          List<Hit> hits = new ArrayList<>();
          for (Hit x = find(d.regex(), pos, end); x != null; x = find(d.regex(), Math.max(x.end(), x.start() + 1), end)) hits.add(x);
          if (hits.size() != d.count()) {
            int at = hits.size() > d.count() ? hits.get(d.count()).start() : pos;
            throw fail(d, "expected exactly " + d.count() + " occurrences, found " + hits.size()
                + (hits.size() > d.count() ? " (the first extra one is marked)" : ""), at);
          }
          continue;
        }
        Hit h = find(d.regex(), pos, end);
        if (h == null) throw fail(d, "no match", pos);
        if (d.kind() == Kind.NEXT) {
          if (last == null) throw fail(d, "nothing matched before it", pos);
          if (h.line() != last.line() + 1) {
            throw fail(d, h.line() == last.line() ? "matched on the same line as the previous match, not the next"
                : "the next match is on output line " + (h.line() + 1) + ", not on the line after the previous match",
                lineStart[Math.min(last.line() + 1, lines() - 1)]);
          }
        }
        checkNots(nots, pos, h.start());
        nots.clear();
        pos = h.end();
        last = h;
      }
      checkNots(nots, pos, end);
    }

    private void checkNots(List<Directive> nots, int from, int to) {
      for (Directive n : nots) {
        Hit bad = find(n.regex(), from, to);
        if (bad != null) throw fail(n, "excluded pattern found", bad.start());
      }
    }

    private Failure fail(Directive d, String why, int offset) {
      int line = lineOf(Math.min(offset, Math.max(0, text.length())));
      StringBuilder sb = new StringBuilder();
      sb.append(testName).append(':').append(d.line()).append(": ").append(d).append('\n');
      sb.append("  error: ").append(why).append('\n');
      sb.append("  output around line ").append(line + 1).append(" (>> marks where matching stopped):\n");
      int lo = Math.max(0, line - 3), hi = Math.min(lines(), line + 6);
      for (int i = lo; i < hi; i++) {
        sb.append(i == line ? ">> " : "   ").append(String.format("%4d | ", i + 1)).append(lineText(i)).append('\n');
      }
      return new Failure(sb.toString());
    }
  }
}
