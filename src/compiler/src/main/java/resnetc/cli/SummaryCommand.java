package resnetc.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.ir.Summary;

@Command(name = "summary", description = "Per-layer table (name, op, output shape, params, MACs per image) and totals.")
final class SummaryCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC") Path spec;

  @Override
  public Integer call() {
    cmd.commandLine().getOut().print(Summary.of(Frontend.load(spec).graph()).table());
    return 0;
  }
}
