package resnetc.diag;

import resnetc.diag.Pos;

/** One error in a spec, printed as {@code file:line:col: error: message}, the source line and a caret. */
public record Diagnostic(String file, Pos pos, String message) {
  public String format(String source) {
    StringBuilder sb = new StringBuilder();
    sb.append(file).append(':').append(pos.line()).append(':').append(pos.col()).append(": error: ").append(message);
    String line = sourceLine(source, pos.line());
    if (line != null) {
      sb.append('\n').append(line).append('\n');
      // Keep tabs so the caret lines up under the same column in a terminal. Columns count code points, as the
      // lexer does, so a character outside the BMP before the error is one column, not two chars.
      int[] cps = line.codePoints().toArray();
      for (int i = 0; i < pos.col() - 1 && i < cps.length; i++) sb.append(cps[i] == '\t' ? '\t' : ' ');
      sb.append('^');
    }
    return sb.toString();
  }

  static String sourceLine(String source, int line) {
    if (source == null || line < 1) return null;
    String[] lines = source.split("\r?\n", -1);
    return line <= lines.length ? lines[line - 1] : null;
  }
}
