package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static resnetc.onnx.ExportOnnxCliTest.assertNoStackTrace;
import static resnetc.onnx.ExportOnnxCliTest.example;
import static resnetc.onnx.ExportOnnxCliTest.run;
import static resnetc.onnx.OnnxModels.i;
import static resnetc.onnx.OnnxModels.ints;
import static resnetc.onnx.OnnxModels.list;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.onnx.ExportOnnxCliTest.Run;
import resnetc.runtime.F32;

/**
 * The CLI with an ONNX file in place of a spec: summary, ir, graph, run, compile and export-onnx take it; raw
 * pixels need its preprocessing stated; {@code import} writes a spec and its weights that give the same outputs.
 * The ONNX files are resnetc's own exports of ResNet-20 (random weights), so no shared data is needed.
 */
class ImportCliTest {
  @TempDir static Path dir;
  static Path withPreprocess, withoutPreprocess, pixels, cifar;
  static final String SPEC = example("cifar/resnet20.resnet").toString();
  static final String IMAGENET = "scale 1/255 mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]";

  @BeforeAll
  static void export() throws Exception {
    withPreprocess = dir.resolve("r20.onnx");
    withoutPreprocess = dir.resolve("r20_raw.onnx");
    assertEquals(0, run("export-onnx", SPEC, "--random-weights", "5", "-o", withPreprocess.toString()).code());
    assertEquals(0, run("export-onnx", SPEC, "--random-weights", "5", "--no-preprocess", "-o", withoutPreprocess.toString()).code());
    Random r = new Random(1);
    float[] x = new float[3 * 3 * 32 * 32];
    byte[] records = new byte[3 * 3073];
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    for (int k = 0; k < 3; k++) {
      records[k * 3073] = (byte) k;
      for (int i = 0; i < 3072; i++) records[k * 3073 + 1 + i] = (byte) x[k * 3072 + i];
    }
    pixels = dir.resolve("pixels.f32");
    F32.write(pixels, x);
    cifar = dir.resolve("three.bin");
    Files.write(cifar, records);
  }

  static Run ok(String... args) {
    Run r = run(args);
    assertEquals(0, r.code(), String.join(" ", args) + "\n" + r.err());
    assertNoStackTrace(r);
    return r;
  }

  static String refused(String... args) {
    Run r = run(args);
    assertEquals(1, r.code(), String.join(" ", args) + "\n" + r.out());
    assertNoStackTrace(r);
    return r.err();
  }

  static float[] outputs(String... args) throws Exception {
    Path out = Files.createTempFile(dir, "out", ".f32");
    String[] all = Stream.concat(Stream.of(args), Stream.of("--output", out.toString())).toArray(String[]::new);
    ok(all);
    return F32.read(out);
  }

  @Test
  void summaryIrAndGraphReadTheOnnxFile() {
    assertTrue(ok("summary", withPreprocess.toString()).out().contains("params: 269722\n"), "the spec's parameter count");
    String ir = ok("ir", withPreprocess.toString(), "--opt").out();
    assertTrue(ir.startsWith("graph r20 {") && ir.contains("fused_conv") && ir.contains("residual=subsample"), ir);
    assertTrue(ok("graph", withPreprocess.toString()).out().startsWith("digraph"));
    assertTrue(ok("check", withPreprocess.toString()).out().contains("r20.onnx: ok"));
  }

  @Test
  void runGivesTheSpecsOutputsAndRawPixelsNeedStatedPreprocessing() throws Exception {
    float[] spec = outputs("run", SPEC, "--random-weights", "5", "--input-cifar", cifar.toString());
    assertArrayEquals(spec, outputs("run", withPreprocess.toString(), "--input-cifar", cifar.toString()), "the export normalizes as the spec");
    String err = refused("run", withoutPreprocess.toString(), "--input-cifar", cifar.toString());
    assertTrue(err.startsWith("resnetc: error: r20_raw.onnx carries no preprocessing") && err.contains("--preprocess \"scale 1/255")
        && err.contains("--input-f32") && err.strip().lines().count() == 1, err);
    assertArrayEquals(spec, outputs("run", withoutPreprocess.toString(), "--preprocess", IMAGENET, "--input-cifar", cifar.toString()));
    float[] java = outputs("run", withoutPreprocess.toString(), "--preprocess", IMAGENET, "--input-cifar", cifar.toString(), "--backend", "java");
    assertTrue(Ort.Error.of(java, spec).ok(), "the Java backend: " + Ort.Error.of(java, spec));
    float[] raw = outputs("run", withoutPreprocess.toString(), "--input-f32", pixels.toString());
    assertArrayEquals(raw, outputs("run", withPreprocess.toString(), "--input-f32", pixels.toString()), "--input-f32 takes model-ready tensors");

    assertTrue(refused("run", SPEC, "--preprocess", IMAGENET, "--random-weights", "1", "--input-f32", pixels.toString())
        .contains("is a spec: state the preprocessing in its preprocess section"));
    String bad = refused("run", withoutPreprocess.toString(), "--preprocess", "scale 1/255 mean [0.5]", "--input-f32", pixels.toString());
    assertTrue(bad.contains("--preprocess:1:26: error: mean has 1 values for 3 input channels"), bad);
    assertTrue(refused("run", withPreprocess.toString(), "--preprocess", IMAGENET, "--input-f32", pixels.toString())
        .contains("normalizes its input itself"));
  }

  @Test
  void compileAndExportTakeTheOnnxFile() throws Exception {
    Path src = dir.resolve("src");
    Run c = ok("compile", withoutPreprocess.toString(), "--emit-source", src.toString());
    assertTrue(c.err().contains("warning: r20_raw.onnx carries no preprocessing"), c.err());
    assertTrue(Files.readString(src.resolve("resnetc/models/R20_raw.java")).contains("class R20_raw"));
    Path again = dir.resolve("again.onnx");
    ok("export-onnx", withoutPreprocess.toString(), "--preprocess", IMAGENET, "-o", again.toString());
    assertArrayEquals(outputs("run", withPreprocess.toString(), "--input-cifar", cifar.toString()),
        outputs("run", again.toString(), "--input-cifar", cifar.toString()));
  }

  @Test
  void importWritesASpecAndWeightsThatGiveTheSameOutputs() throws Exception {
    Path out = Files.createDirectories(dir.resolve("imported"));
    Path spec = out.resolve("r20.resnet"), weights = out.resolve("r20.safetensors");
    Run r = ok("import", withPreprocess.toString(), "-o", spec.toString(), "--weights-out", weights.toString());
    assertTrue(r.out().contains("weights: " + weights + " (97 tensors, "), r.out());
    assertTrue(r.out().contains("spec: " + spec + " (model r20: 3 stages, 9 basic blocks, shortcut A)"), r.out());
    String text = Files.readString(spec);
    assertTrue(text.contains("weights cifar { file \"r20.safetensors\" }") && text.contains("shortcut A split"), text);
    try (Stream<Path> files = Files.list(out)) {
      assertEquals(List.of("r20.resnet", "r20.safetensors"), files.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary files left");
    }
    assertArrayEquals(outputs("run", withPreprocess.toString(), "--input-cifar", cifar.toString()),
        outputs("run", spec.toString(), "--input-cifar", cifar.toString()), "the spec finds its weights and computes the same bits");
    assertTrue(refused("import", withPreprocess.toString(), "-o", spec.toString(), "--weights-out", spec.toString()).contains("name the same file"));
    assertTrue(refused("import", SPEC, "-o", spec.toString()).contains("import reads an ONNX model (.onnx)"));
  }

  @Test
  void importSaysWhichPartIsNotAResnetAndTheModelStillCompiles() throws Exception {
    OnnxModels.Builder b = new OnnxModels.Builder("x", "N", 3, 8, 8).init("w", OnnxModels.gaussian(4 * 3 * 9, 0.3, 1), 4, 3, 3, 3)
        .init("fc", OnnxModels.gaussian(2 * 4, 0.3, 2), 2, 4);
    b.node("Conv", list("x", "w"), "conv", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)).node("Relu", list("conv"), "relu")
        .node("GlobalAveragePool", list("relu"), "pool").node("Flatten", list("pool"), "flat", i("axis", 1))
        .node("Gemm", list("flat", "fc"), "y", i("transB", 1)).output("y");
    Path plain = dir.resolve("plain.onnx");
    Files.write(plain, b.build().toByteArray());
    Path spec = dir.resolve("plain.resnet");
    String err = refused("import", plain.toString(), "-o", spec.toString());
    assertEquals("resnetc: error: plain.onnx is not a ResNet-family network that a spec can describe: blocks: the graph adds no residuals "
        + "(no add), so it is not a ResNet. It still compiles as it is: resnetc compile " + plain + " -o model.jar", err.strip());
    assertFalse(Files.exists(spec));
    ok("compile", plain.toString(), "--emit-source", dir.resolve("plain-src").toString());
    assertEquals(2 * 2, outputs("run", plain.toString(), "--input-f32", dir.resolve("small.f32").toString()).length);
  }

  @BeforeAll
  static void smallInput() throws Exception {
    F32.write(dir.resolve("small.f32"), OnnxModels.gaussian(2 * 3 * 8 * 8, 1, 4));
  }

  @Test
  void anUnsupportedOnnxFileIsOneLineForEveryCommand() throws Exception {
    Path bad = dir.resolve("bad.onnx");
    Files.write(bad, new OnnxModels.Builder("x", "N", 4).node("Sigmoid", list("x"), "y").output("y").build().toByteArray());
    for (String command : List.of("summary", "ir", "graph", "run", "compile", "export-onnx", "import")) {
      List<String> args = new java.util.ArrayList<>(List.of(command, bad.toString()));
      if (command.equals("run")) args.addAll(List.of("--input-f32", pixels.toString()));
      if (command.equals("export-onnx") || command.equals("import")) args.addAll(List.of("-o", dir.resolve("x.out").toString()));
      if (command.equals("compile")) args.addAll(List.of("--emit-source", dir.resolve("x-src").toString()));
      String err = refused(args.toArray(String[]::new));
      assertTrue(err.startsWith("resnetc: error: bad.onnx: node 'y' (Sigmoid): op Sigmoid is not supported (resnetc imports "), command + ": " + err);
      assertEquals(1, err.strip().lines().count(), err);
    }
  }
}
