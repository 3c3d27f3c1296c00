package resnetc.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.ir.Graph;
import resnetc.runtime.AtomicFile;
import resnetc.onnx.OnnxExport;
import resnetc.onnx.proto.Onnx.ModelProto;

@Command(name = "export-onnx", description = {
    "Export a spec and its weights as an ONNX model (IR version " + OnnxExport.IR_VERSION + ", opset " + OnnxExport.OPSET
        + ") with a symbolic batch dimension " + OnnxExport.BATCH + ".",
    "The model takes raw pixels and normalizes them as the spec's preprocess section says, unless --no-preprocess."})
final class ExportOnnxCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Mixin PreprocessOption preprocess = new PreprocessOption();

  @ArgGroup(exclusive = true)
  RunCommand.WeightSource weights = new RunCommand.WeightSource();

  @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "the .onnx file to write")
  Path output;

  @Option(names = "--no-preprocess", description = "leave out the input normalization: the model takes preprocessed input")
  boolean noPreprocess;

  @Option(names = "--allow-non-finite", description = "load weights that hold NaN or infinite values (refused otherwise)")
  boolean allowNonFinite;

  @Mixin OptOptions opt = new OptOptions();

  @Override
  public Integer call() throws IOException {
    Frontend.Loaded loaded = preprocess.load(spec);
    Graph g = RunCommand.weights(loaded, weights, allowNonFinite, cmd.commandLine().getErr());
    if (noPreprocess) g = Frontend.withoutPreprocess(g);
    g = opt.apply(g, cmd.commandLine().getErr());
    ModelProto model = OnnxExport.export(g, g.name());
    AtomicFile.write(output, model::writeTo);
    cmd.commandLine().getOut().printf(Locale.ROOT, "onnx: %s (%d nodes, %d initializers, %d bytes, opset %d)%n", output,
        model.getGraph().getNodeCount(), model.getGraph().getInitializerCount(), Files.size(output), OnnxExport.OPSET);
    return 0;
  }
}
