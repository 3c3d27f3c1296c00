package resnetc.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.check.Model;
import resnetc.ir.Tensor;
import resnetc.recover.SpecRecovery;
import resnetc.runtime.AtomicFile;
import resnetc.weights.SafeTensorsWriter;

@Command(name = "import", description = {
    "Recover a readable spec from an ONNX model of a ResNet-family network (stem, stages, block and shortcut kinds, head; "
        + "'bn folded' when the batch norms were folded into the convs), and with --weights-out its weights named as the spec names them.",
    "Spec and weights compile to the same graph as the ONNX file, bit for bit. A network the spec language cannot describe is "
        + "reported with the part that did not match; it still compiles directly (resnetc compile model.onnx)."})
final class ImportCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "ONNX", description = "the ONNX model (.onnx)") Path model;

  @Option(names = {"-o", "--output"}, paramLabel = "SPEC", required = true, description = "the spec to write (.resnet)")
  Path output;

  @Option(names = "--weights-out", paramLabel = "FILE", description = "also write the weights as safetensors, named in the spec's weights { file }")
  Path weightsOut;

  @Mixin PreprocessOption preprocess = new PreprocessOption();

  @Override
  public Integer call() throws IOException {
    PrintWriter out = cmd.commandLine().getOut();
    if (!Frontend.isOnnx(model)) throw new Main.UserError("import reads an ONNX model (.onnx), not " + model);
    if (weightsOut != null && weightsOut.toAbsolutePath().normalize().equals(output.toAbsolutePath().normalize())) {
      throw new Main.UserError("--output and --weights-out name the same file");
    }
    Frontend.Loaded l = preprocess.load(model);
    List<String> header = new ArrayList<>(List.of("Recovered by resnetc import from " + model.getFileName() + "."));
    if (l.model().preprocess() == null) {
      header.add("The ONNX file states no preprocessing: add a preprocess section (and labels) before feeding it images.");
    }
    SpecRecovery.Recovered r;
    try {
      r = SpecRecovery.recover(l.graph(), output.toString(), weightsOut == null ? null : relative(output, weightsOut), header);
    } catch (SpecRecovery.NotAResNet e) {
      throw new Main.UserError(model.getFileName() + " is not a ResNet-family network that a spec can describe: " + e.getMessage()
          + ". It still compiles as it is: resnetc compile " + model + " -o model.jar");
    }
    if (weightsOut != null) {
      SafeTensorsWriter.write(weightsOut, r.weights(), null); // written whole or not at all
      long values = r.weights().values().stream().mapToLong(t -> t.data().length).sum();
      out.printf(Locale.ROOT, "weights: %s (%d tensors, %d bytes)%n", weightsOut, r.weights().size(), Files.size(weightsOut));
      if (values == 0) out.println("note: the model has no weights");
    }
    AtomicFile.writeString(output, r.spec());
    out.println("spec: " + output + " (" + describe(r.model()) + ")");
    return 0;
  }

  /** {@code weights} as the spec should name it: relative to the spec's directory when possible. */
  private static String relative(Path spec, Path weights) {
    Path dir = spec.toAbsolutePath().getParent();
    Path w = weights.toAbsolutePath().normalize();
    try {
      return dir == null ? w.toString() : dir.normalize().relativize(w).toString();
    } catch (IllegalArgumentException e) {
      return w.toString();
    }
  }

  private static String describe(Model m) {
    StringBuilder sb = new StringBuilder("model ").append(m.name()).append(": ");
    int blocks = m.stages().stream().mapToInt(Model.Stage::blocks).sum();
    Model.Block b = m.stages().get(0).block();
    sb.append(m.stages().size()).append(" stages, ").append(blocks).append(' ')
        .append(b.preact() ? "pre-activation " : "").append(b.kind().name().toLowerCase(Locale.ROOT)).append(" blocks, shortcut ")
        .append(m.stages().stream().map(s -> s.shortcut().kind().name()).distinct().reduce((x, y) -> x + "/" + y).orElse("?"));
    if (m.bnFolded()) sb.append(", batch norms folded");
    return sb.toString();
  }
}
