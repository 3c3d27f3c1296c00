package resnetc.diag;

/** A 1-based line and column in a spec file. */
public record Pos(int line, int col) {
  public static final Pos NONE = new Pos(0, 0);
}
