package resnetc.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.ir.Printer;

@Command(name = "ir", description = "Print the IR of a spec, optionally after the optimizer.")
final class IrCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Option(names = "--origins", description = "annotate each node with the spec line it came from")
  boolean origins;

  @Mixin OptOptions opt = new OptOptions();

  @Override
  public Integer call() {
    cmd.commandLine().getOut().print(Printer.print(opt.apply(Frontend.load(spec).graph(), cmd.commandLine().getErr()), origins));
    return 0;
  }
}
