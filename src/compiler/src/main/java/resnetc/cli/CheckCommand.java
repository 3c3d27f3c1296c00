package resnetc.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.diag.SpecException;

@Command(name = "check", description = "Check specs; print every error as file:line:col. Exit 1 if any spec has errors.")
final class CheckCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(arity = "1..*", paramLabel = "SPEC", description = "model specs (.resnet), or ONNX models (.onnx) to check that they import")
  List<Path> specs;

  @Override
  public Integer call() {
    int failed = 0;
    for (Path spec : specs) {
      try {
        Frontend.load(spec);
        cmd.commandLine().getOut().println(spec + ": ok");
      } catch (SpecException e) {
        failed++;
        cmd.commandLine().getErr().println(e.render());
      } catch (resnetc.onnx.OnnxImportException e) {
        failed++;
        cmd.commandLine().getErr().println("resnetc: error: " + e.getMessage());
      }
    }
    return failed == 0 ? 0 : 1;
  }
}
