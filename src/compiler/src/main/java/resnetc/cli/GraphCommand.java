package resnetc.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.ir.Dot;

@Command(name = "graph", description = "Write the graph as Graphviz DOT (render with: dot -Tsvg model.dot -o model.svg).")
final class GraphCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "DOT file to write (default: standard output)")
  Path output;

  @Mixin OptOptions opt = new OptOptions();

  @Override
  public Integer call() throws IOException {
    String dot = Dot.of(opt.apply(Frontend.load(spec).graph(), cmd.commandLine().getErr()));
    if (output == null) cmd.commandLine().getOut().print(dot);
    else resnetc.runtime.AtomicFile.writeString(output, dot);
    return 0;
  }
}
