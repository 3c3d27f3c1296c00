package resnetc.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Option;
import resnetc.Frontend;

/**
 * {@code --preprocess} for models that carry no preprocessing (ONNX files), and the refusal to feed raw pixels
 * to a model whose preprocessing nobody stated.
 */
final class PreprocessOption {
  static final String EXAMPLE = "\"scale 1/255 mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]\"";

  @Option(names = "--preprocess", paramLabel = "\"scale 1/255 mean [..] std [..]\"",
      description = "ONNX models: how raw pixels become model input, as in a spec's preprocess section (also resize R, crop S)")
  String text;

  Frontend.Loaded load(Path model) {
    return Frontend.load(model, text);
  }

  /** An ONNX model without stated preprocessing takes model-ready tensors only. */
  static void requireForPixels(Frontend.Loaded l, String option) {
    if (Frontend.isOnnx(l.spec()) && l.model().preprocess() == null) {
      throw new Main.UserError(l.spec().getFileName() + " carries no preprocessing, so " + option + " (raw pixels) needs it stated: "
          + "pass --preprocess " + EXAMPLE + " with the values the model was trained with (or write a spec with `resnetc import`), "
          + "or give model-ready float32 tensors with --input-f32");
    }
  }

  /** A compiled jar applies the model's preprocessing to images and CIFAR records: say when there is none. */
  static void warnForJar(Frontend.Loaded l, PrintWriter err) {
    if (Frontend.isOnnx(l.spec()) && l.model().preprocess() == null) {
      err.println("resnetc: warning: " + l.spec().getFileName() + " carries no preprocessing: the jar's image and --input-cifar inputs "
          + "would reach the model as raw 0..255 values; use the jar with --input-f32, or compile with --preprocess " + EXAMPLE);
    }
  }
}
