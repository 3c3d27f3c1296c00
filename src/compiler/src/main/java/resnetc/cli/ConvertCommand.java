package resnetc.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.weights.SafeTensorsWriter;
import resnetc.weights.SafeTensorsWriter.RawTensor;
import resnetc.weights.TorchCheckpoint;
import resnetc.weights.WeightFile;

@Command(name = "convert", description = {
    "Convert a PyTorch checkpoint to safetensors: every tensor of its state dict, under the names and in the dtypes the "
        + "checkpoint gives them (views made contiguous). The output appears whole or not at all."})
final class ConvertCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "WEIGHTS", description = "model.pth (or .pt/.th; model.pth#KEY for the state dict under KEY)")
  Path input;

  @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "the .safetensors file to write")
  Path output;

  @Override
  public Integer call() throws IOException {
    try (WeightFile in = WeightFile.open(input)) {
      Map<String, RawTensor> tensors = new LinkedHashMap<>();
      for (WeightFile.Entry e : in.tensors().values()) {
        tensors.put(e.name(), new RawTensor(e.dtype(), e.shape(), () -> in.readBytes(e.name())));
      }
      SafeTensorsWriter.writeRaw(output, tensors, Map.of("format", "pt"));
      String from = in instanceof TorchCheckpoint t && t.selectedKey() != null ? in.path() + "#" + t.selectedKey() : in.path().toString();
      cmd.commandLine().getOut().printf(Locale.ROOT, "safetensors: %s (%d tensor%s, %d bytes, from %s)%n", output, tensors.size(),
          tensors.size() == 1 ? "" : "s", Files.size(output), from);
    }
    return 0;
  }
}
