package resnetc.diag;

import java.util.List;
import java.util.stream.Collectors;

/** A spec with errors: carries every diagnostic, formatted against the source. */
public class SpecException extends RuntimeException {
  private final List<Diagnostic> diagnostics;
  private final String source;

  public SpecException(List<Diagnostic> diagnostics, String source) {
    super(diagnostics.size() + " error(s)");
    this.diagnostics = List.copyOf(diagnostics);
    this.source = source;
  }

  public List<Diagnostic> diagnostics() {
    return diagnostics;
  }

  /** All diagnostics, each with its source line and caret, then a count. */
  public String render() {
    String body = diagnostics.stream().map(d -> d.format(source)).collect(Collectors.joining("\n"));
    int n = diagnostics.size();
    return body + "\n" + n + (n == 1 ? " error" : " errors") + " generated.";
  }

  @Override
  public String getMessage() {
    return render();
  }
}
