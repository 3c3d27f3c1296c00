package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.target.TestTargets;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.onnx.proto.Onnx.GraphProto;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.TensorProto;
import resnetc.onnx.proto.Onnx.ValueInfoProto;
import resnetc.runtime.CompiledModel;

/**
 * ONNX's own backend node tests (Debian's {@code libonnx-testdata}, installed by {@code .ci/run}): every test whose
 * nodes are all ops the importer knows ({@link OnnxImport#OPS}) is either imported and computes the expected
 * outputs through the reference interpreter, and through the Java and native backends when its input is an image batch, with
 * the tolerances of ONNX's runner ({@code |got - expected| <= 1e-7 + 1e-3 |expected|}), or refused with an
 * {@link OnnxImportException} that names the node or the graph part and the reason. resnetc compiles weights into
 * the model, so the runner binds every graph input but the first to its test data as an initializer.
 *
 * <p>The outcome of each test is recorded in {@code src/test/resources/onnx-node-tests.txt}; a change is a failure
 * (refresh after an intended one with {@code -Dresnetc.refreshOnnxSuite=true}). Tests of another version of the
 * package that the file does not list must still pass or be refused with a reason. Skipped when the package is
 * absent ({@code -Dresnetc.onnxNodeTests=DIR} points elsewhere).
 */
class OnnxNodeSuiteTest {
  static final double RTOL = 1e-3, ATOL = 1e-7;
  static final Path EXPECTED = TestPaths.repoRoot().resolve("src/compiler/src/test/resources/onnx-node-tests.txt");

  static Optional<Path> suite() {
    String prop = System.getProperty("resnetc.onnxNodeTests");
    List<String> candidates = prop != null ? List.of(prop)
        : List.of("/usr/share/libonnx-testdata/data/node", "/usr/include/onnx/backend/test/data/node",
            "/usr/lib/python3/dist-packages/onnx/backend/test/data/node");
    return candidates.stream().map(Path::of).filter(Files::isDirectory).findFirst();
  }

  /** One test's outcome: "passed", "passed (reference only)" or "refused: REASON". */
  record Outcome(String test, String result) {}

  @Test
  void everySupportedOpTestPassesOrIsRefusedWithItsReason() throws Exception {
    Optional<Path> dir = suite();
    assumeTrue(dir.isPresent(), "libonnx-testdata is not installed (apt-get install libonnx-testdata)");
    List<Path> tests;
    try (Stream<Path> s = Files.list(dir.get())) {
      tests = s.filter(p -> Files.isRegularFile(p.resolve("model.onnx"))).sorted().toList();
    }
    List<Outcome> outcomes = new ArrayList<>();
    for (Path test : tests) {
      ModelProto m = ModelProto.parseFrom(Files.readAllBytes(test.resolve("model.onnx")));
      if (m.getGraph().getNodeList().stream().allMatch(n -> OnnxImport.OPS.contains(n.getOpType()))) outcomes.add(run(test, m));
    }
    report(outcomes);
    Map<String, String> expected = expected();
    if (Boolean.getBoolean("resnetc.refreshOnnxSuite")) {
      write(outcomes, dir.get());
      return;
    }
    List<String> changed = new ArrayList<>();
    for (Outcome o : outcomes) {
      String want = expected.get(o.test());
      if (want != null && !want.equals(o.result())) changed.add(o.test() + ": expected \"" + want + "\", got \"" + o.result() + "\"");
      if (want == null && !o.result().startsWith("passed") && !o.result().startsWith("refused: ")) changed.add(o.test() + ": " + o.result());
    }
    assertTrue(changed.isEmpty(), String.join("\n", changed));
    assertTrue(outcomes.size() >= 100 || expected.isEmpty(), "only " + outcomes.size() + " tests selected from " + dir.get());
  }

  /** Imports with the test data bound, runs every data set; any failure other than a refusal is a test failure. */
  static Outcome run(Path test, ModelProto m) {
    String name = test.getFileName().toString();
    List<Path> sets;
    try (Stream<Path> s = Files.list(test)) {
      sets = s.filter(p -> p.getFileName().toString().startsWith("test_data_set_")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    boolean compiled = true;
    for (Path set : sets) {
      ModelProto bound = bind(m, set);
      Graph g;
      try {
        g = OnnxImport.fromModel(bound, test, name, name);
      } catch (OnnxImportException e) {
        String reason = e.getMessage().substring(name.length() + 2);
        return new Outcome(name, "refused: " + reason);
      }
      TensorProto x = tensor(set.resolve("input_0.pb"));
      float[] input = floats(x), want = floats(tensor(set.resolve("output_0.pb")));
      int batch = (int) x.getDims(0);
      check(name + " (reference interpreter)", new Interpreter(g).run(input, batch), want);
      if (g.input().type().rank() == 4 && g.nodes().size() > 1) {
        for (String backend : new String[] {"java", "native"}) check(name + " (" + backend + " backend)", compiled(backend, test, bound, batch, input), want);
      } else {
        compiled = false;
      }
    }
    return new Outcome(name, compiled ? "passed" : "passed (reference only)");
  }

  /** The model with every graph input but the first bound to the data set's value, as an initializer. */
  static ModelProto bind(ModelProto m, Path set) {
    GraphProto.Builder g = m.getGraph().toBuilder();
    List<ValueInfoProto> inputs = m.getGraph().getInputList();
    for (int i = 1; i < inputs.size(); i++) {
      Path data = set.resolve("input_" + i + ".pb");
      if (Files.exists(data)) g.addInitializer(tensor(data).toBuilder().setName(inputs.get(i).getName()));
    }
    return m.toBuilder().setGraph(g).build();
  }

  /** The model compiled by a backend in memory (as {@code run --backend java|native}: native JIT-compiled for this CPU), run on the input. */
  static float[] compiled(String backend, Path test, ModelProto bound, int batch, float[] input) {
    try {
      Path file = Files.createTempFile("onnx-node-", ".onnx");
      try {
        Files.write(file, bound.toByteArray());
        Frontend.Loaded l = Frontend.load(file);
        try (CompiledModel model = TestTargets.spec(l, l.graph(), backend, backend.equals("native") ? new String[] {"native"} : new String[0]).load(1)) {
          return model.predict(input, batch);
        }
      } finally {
        Files.deleteIfExists(file);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(test + ": " + e.getMessage(), e);
    }
  }

  static void check(String what, float[] got, float[] want) {
    assertEquals(want.length, got.length, what + ": output size");
    for (int i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i] - want[i]) <= ATOL + RTOL * Math.abs(want[i]))) {
        fail(what + ": output " + i + " is " + got[i] + ", expected " + want[i]);
      }
    }
  }

  static TensorProto tensor(Path pb) {
    try {
      return TensorProto.parseFrom(Files.readAllBytes(pb));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static float[] floats(TensorProto t) {
    assertEquals(TensorProto.DataType.FLOAT_VALUE, t.getDataType(), "a float32 test tensor");
    if (!t.getRawData().isEmpty()) {
      float[] f = new float[t.getRawData().size() / 4];
      t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
      return f;
    }
    float[] f = new float[t.getFloatDataCount()];
    for (int i = 0; i < f.length; i++) f[i] = t.getFloatData(i);
    return f;
  }

  static Map<String, String> expected() throws IOException {
    Map<String, String> m = new LinkedHashMap<>();
    if (!Files.exists(EXPECTED)) return m;
    for (String line : Files.readAllLines(EXPECTED)) {
      if (line.isBlank() || line.startsWith("#")) continue;
      int space = line.indexOf(' ');
      m.put(line.substring(0, space), line.substring(space + 1));
    }
    return m;
  }

  static void write(List<Outcome> outcomes, Path dir) throws IOException {
    List<String> lines = new ArrayList<>(List.of(
        "# ONNX backend node tests whose ops resnetc imports (" + dir + "): the outcome of each (OnnxNodeSuiteTest).",
        "# passed: imported; the reference interpreter and both backends (java, native) give the expected outputs (rtol 1e-3, atol 1e-7).",
        "# passed (reference only): the same through the interpreter; the backends compile image batches [N, C, H, W] only.",
        "# refused: the import's one-line reason (after the file name)."));
    for (Outcome o : outcomes) lines.add(o.test() + " " + o.result());
    Files.write(EXPECTED, lines);
  }

  static void report(List<Outcome> outcomes) {
    long passed = outcomes.stream().filter(o -> o.result().startsWith("passed")).count();
    long compiled = outcomes.stream().filter(o -> o.result().equals("passed")).count();
    Map<String, Integer> reasons = new TreeMap<>();
    for (Outcome o : outcomes) {
      if (!o.result().startsWith("refused: ")) continue;
      String r = o.result().substring("refused: ".length()).replaceAll("^node '[^']*' \\(([A-Za-z]+)\\): ", "$1: ");
      reasons.merge(r.replaceAll("[\\[(].*", "").strip(), 1, Integer::sum);
    }
    System.out.printf(Locale.ROOT, "ONNX node tests: %d selected, %d passed (%d also through both backends), %d refused%n",
        outcomes.size(), passed, compiled, outcomes.size() - passed);
    reasons.forEach((r, n) -> System.out.printf(Locale.ROOT, "  %3d  %s%n", n, r));
  }
}
