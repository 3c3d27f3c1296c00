package resnetc.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import resnetc.diag.SpecException;
import resnetc.ir.IrException;
import resnetc.weights.WeightException;

/** {@code resnetc}: user errors print a message and exit 1; never a stack trace unless RESNETC_DEBUG is set. */
@Command(name = "resnetc", mixinStandardHelpOptions = true, version = "resnetc 0.1.0",
    description = "Ahead-of-time compiler for residual convolutional networks.",
    subcommands = {CheckCommand.class, SummaryCommand.class, IrCommand.class, GraphCommand.class, PlanCommand.class, RunCommand.class, CompileCommand.class, TuneCommand.class, ExportOnnxCommand.class, ConvertCommand.class, ImportCommand.class, CommandLine.HelpCommand.class})
public final class Main {
  public static void main(String[] args) {
    System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** Runs the CLI with the given streams; returns the exit code (tests call this). */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      err.println(message(e));
      if (System.getenv("RESNETC_DEBUG") != null) e.printStackTrace(err);
      err.flush();
      return isUserError(e) ? 1 : 2;
    });
    int code = cl.execute(args);
    out.flush();
    err.flush();
    return code == 2 && !cl.getParseResult().hasSubcommand() ? 1 : code;
  }

  static boolean isUserError(Throwable e) {
    return e instanceof SpecException || e instanceof WeightException || e instanceof IllegalArgumentException
        || e instanceof java.io.IOException || e instanceof java.io.UncheckedIOException || e instanceof UserError;
  }

  static String message(Throwable e) {
    if (e instanceof SpecException s) return s.render();
    if (e instanceof java.nio.file.NoSuchFileException n) return "resnetc: error: no such file: " + n.getFile();
    if (isUserError(e)) return "resnetc: error: " + e.getMessage();
    if (e instanceof IrException) return "resnetc: internal error: invalid IR: " + e.getMessage() + " (please report this)";
    return "resnetc: internal error: " + e + " (set RESNETC_DEBUG=1 for a stack trace)";
  }

  /** A problem with how the command was used, reported as a plain message. */
  static final class UserError extends RuntimeException {
    UserError(String message) {
      super(message);
    }
  }
}
