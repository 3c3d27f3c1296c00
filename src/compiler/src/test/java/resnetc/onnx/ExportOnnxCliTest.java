package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.TensorInfo;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.cli.Main;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.passes.Pipeline;
import resnetc.weights.RandomWeights;

/** {@code resnetc export-onnx}: writes a model ONNX Runtime loads and runs; user errors are one clean message. */
class ExportOnnxCliTest {
  @TempDir Path tmp;

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    return new Run(code, out.toString(), err.toString());
  }

  static void assertNoStackTrace(Run r) {
    for (String s : List.of(r.out, r.err)) {
      assertFalse(s.contains("\tat "), s);
      assertFalse(s.contains("Exception"), s);
      assertFalse(s.contains("internal error"), s);
    }
  }

  static Path example(String relative) {
    return TestPaths.repoRoot().resolve("examples").resolve(relative);
  }

  static float[] pixels(int n, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n];
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    return x;
  }

  @Test
  void randomWeightsOptimizedModelRunsInOrt() throws Exception {
    Path out = tmp.resolve("resnet20.onnx");
    Run r = run("export-onnx", example("cifar/resnet20.resnet").toString(), "--random-weights", "5", "--opt", "--output", out.toString());
    assertEquals(0, r.code, r.err);
    assertEquals("", r.err);
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
    assertTrue(r.out.matches("onnx: \\Q" + out + "\\E \\(" + m.getGraph().getNodeCount() + " nodes, \\d+ initializers, " + Files.size(out)
        + " bytes, opset 17\\)\n"), r.out);
    assertTrue(m.getGraph().getNodeList().stream().noneMatch(n -> n.getOpType().equals("BatchNormalization")), "--opt folds batch norm");

    Graph g = Pipeline.defaults().run(RandomWeights.generate(Frontend.load(example("cifar/resnet20.resnet")).graph(), 5));
    float[] x = pixels(2 * 3 * 32 * 32, 1);
    try (Ort ort = new Ort(Files.readAllBytes(out))) {
      Ort.Error e = Ort.Error.of(ort.run(x, 2, 3, 32, 32), new Interpreter(g).run(x, 2));
      assertTrue(e.ok(), e.toString());
    }
  }

  @Test
  void noPreprocessTakesNormalizedInput() throws Exception {
    Path out = tmp.resolve("plain.onnx");
    Run r = run("export-onnx", example("cifar/resnet20.resnet").toString(), "--random-weights", "5", "--no-preprocess", "-o", out.toString());
    assertEquals(0, r.code, r.err);
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
    assertTrue(m.getGraph().getNodeList().stream().noneMatch(n -> n.getOpType().equals("Sub")));
    assertEquals("BatchNormalization", m.getGraph().getNode(1).getOpType());
    try (Ort ort = new Ort(Files.readAllBytes(out))) {
      TensorInfo in = (TensorInfo) ort.session().getInputInfo().get("input").getInfo();
      assertEquals("N", in.getDimensionNames()[0]);
    }
  }

  @Test
  void sharedPretrainedWeights() throws Exception {
    Optional<Path> weights = TestPaths.shared("models/cifar10/resnet20.safetensors");
    assumeTrue(weights.isPresent(), "../shared is absent");
    Path out = tmp.resolve("pretrained.onnx");
    Run r = run("export-onnx", example("cifar/resnet20.resnet").toString(), "--weights", weights.get().toString(), "--output", out.toString());
    assertEquals(0, r.code, r.err);
    Graph g = Frontend.bind(Frontend.load(example("cifar/resnet20.resnet")), weights.get());
    float[] x = pixels(3 * 32 * 32, 2);
    try (Ort ort = new Ort(Files.readAllBytes(out))) {
      Ort.Error e = Ort.Error.of(ort.run(x, 1, 3, 32, 32), new Interpreter(g).run(x, 1));
      assertTrue(e.ok(), e.toString());
    }
  }

  @Test
  void badSpecGivesADiagnostic() throws Exception {
    Path spec = tmp.resolve("bad.resnet");
    Files.writeString(spec, """
        model m {
          input f32 [3, 32, 32]
          classes 10
          stem { conv 3x3 16  bn  relu }
          block basik
          shortcut A
          stage layer1 1 x 16
          head { avgpool  fc }
        }
        """);
    Path out = tmp.resolve("bad.onnx");
    Run r = run("export-onnx", spec.toString(), "--random-weights", "1", "--output", out.toString());
    assertEquals(1, r.code);
    assertEquals("", r.out);
    assertEquals(spec + ":5:9: error: unknown block kind 'basik' (expected basic or bottleneck)\n  block basik\n        ^\n1 error generated.\n", r.err);
    assertNoStackTrace(r);
    assertFalse(Files.exists(out));
  }

  @Test
  void missingWeightsFileIsAnError() {
    Path missing = tmp.resolve("nope.safetensors"), out = tmp.resolve("m.onnx");
    Run r = run("export-onnx", example("cifar/resnet20.resnet").toString(), "--weights", missing.toString(), "--output", out.toString());
    assertEquals(1, r.code);
    assertEquals("resnetc: error: " + missing + ": no such weights file\n", r.err);
    assertNoStackTrace(r);
    assertFalse(Files.exists(out));
  }

  @Test
  void weightsAreRequired() {
    Path spec = example("cifar/resnet32.resnet"); // resnet20.resnet names its shipped weights file
    Run r = run("export-onnx", spec.toString(), "--output", tmp.resolve("m.onnx").toString());
    assertEquals(1, r.code);
    assertEquals("resnetc: error: " + spec + " names no weights file: pass --weights FILE or --random-weights SEED\n", r.err);
    assertNoStackTrace(r);
  }

  @Test
  void outputIsRequired() {
    Run r = run("export-onnx", example("cifar/resnet20.resnet").toString(), "--random-weights", "1");
    assertNotEquals(0, r.code);
    assertTrue(r.err.contains("Missing required option: '--output=FILE'"), r.err);
  }
}
