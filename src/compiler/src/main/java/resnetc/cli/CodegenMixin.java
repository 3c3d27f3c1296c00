package resnetc.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import resnetc.schedule.Tuning;
import resnetc.schedule.Winograd;
import resnetc.target.CodegenOptions;

/** The code generation options of the commands that compile: they all end up in one {@link CodegenOptions}. */
final class CodegenMixin {
  @Option(names = "--cpu", paramLabel = "CPU", split = ",",
      description = "native backend: the CPU to compile for, as LLVM names it (x86-64-v3, x86-64-v4, znver4, ...; native = this machine)")
  List<String> cpus = new ArrayList<>();

  @Option(names = "--winograd", paramLabel = "MODE", defaultValue = "auto",
      description = "Winograd (F(4x4, 3x3) or F(2x2, 3x3)) for 3x3 stride-1 convs: auto (where it pays on the backend), off, always (default ${DEFAULT-VALUE})")
  String winograd;

  @Option(names = "--tuning", paramLabel = "FILE",
      description = "a tuning record (resnetc tune): the convs it names take its measured tiles, task splits and Winograd choices")
  Path tuning;

  CodegenOptions options(String target, String packageName, String className) {
    try {
      return new CodegenOptions(target, cpus, packageName, className, Winograd.Mode.parse(winograd), tuning == null ? Tuning.none() : read(tuning));
    } catch (IllegalArgumentException e) {
      throw new Main.UserError(e.getMessage());
    }
  }

  /** A tuning record's file; its problems are the user's, in one line. */
  static Tuning read(Path file) {
    try {
      return Tuning.read(file);
    } catch (IllegalArgumentException e) {
      throw new Main.UserError(e.getMessage());
    }
  }
}
