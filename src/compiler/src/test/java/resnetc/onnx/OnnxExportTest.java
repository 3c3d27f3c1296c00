package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Op;
import resnetc.ir.SampleGraphs;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.NodeProto;
import resnetc.onnx.proto.Onnx.TensorProto;
import resnetc.onnx.proto.Onnx.ValueInfoProto;
import resnetc.passes.Pipeline;
import resnetc.weights.RandomWeights;

/** The exported model's structure, and each op's translation run in ONNX Runtime on small graphs. */
class OnnxExportTest {
  static Graph example(String spec) {
    return Frontend.load(TestPaths.repoRoot().resolve("examples").resolve(spec)).graph();
  }

  static Map<String, Long> opTypes(ModelProto m) {
    return m.getGraph().getNodeList().stream().collect(Collectors.groupingBy(NodeProto::getOpType, TreeMap::new, Collectors.counting()));
  }

  static float[] gaussian(Graph g, int batch, long seed) {
    Random r = new Random(seed);
    float[] x = new float[(int) g.input().type().elements(batch)];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    return x;
  }

  static int[] item(Graph g) {
    int[] d = g.input().type().dims();
    return java.util.Arrays.copyOfRange(d, 1, d.length);
  }

  /** Exports {@code g}, runs it in ORT and the interpreter on {@code x}, asserts agreement; returns the error. */
  static Ort.Error check(Graph g, float[] x, int batch) throws Exception {
    try (Ort ort = new Ort(OnnxExport.export(g, g.name()).toByteArray())) {
      Ort.Error e = Ort.Error.of(ort.run(x, batch, item(g)), new Interpreter(g).run(x, batch));
      assertTrue(e.ok(), g.name() + " batch " + batch + ": " + e);
      return e;
    }
  }

  @Test
  void resnet20Structure() {
    Graph g = RandomWeights.generate(example("cifar/resnet20.resnet"), 1);
    ModelProto m = OnnxExport.export(g, "resnet20");
    assertEquals(8, m.getIrVersion());
    assertEquals(1, m.getOpsetImportCount());
    assertEquals("", m.getOpsetImport(0).getDomain());
    assertEquals(17, m.getOpsetImport(0).getVersion());
    assertEquals("resnetc", m.getProducerName());
    assertEquals("resnet20", m.getGraph().getName());
    // 19 convs: the stem and two per basic block; the two option-A shortcuts (16->32, 32->64) are Slice + Pad
    assertEquals("{Add=9, BatchNormalization=19, Conv=19, Div=2, Flatten=1, Gemm=1, GlobalAveragePool=1, Pad=2, Relu=19, Slice=2, Sub=1}",
        opTypes(m).toString());
    // dynamic batch on the input and the output, concrete dims elsewhere
    assertEquals(List.of("N", "3", "32", "32"), dims(m.getGraph().getInput(0)));
    assertEquals(List.of("N", "10"), dims(m.getGraph().getOutput(0)));
    assertEquals(g.input().name(), m.getGraph().getInput(0).getName());
    assertEquals(g.output(), m.getGraph().getOutput(0).getName());
    // every weight is an initializer under its own name, float32 little-endian raw data
    Map<String, TensorProto> init = m.getGraph().getInitializerList().stream().collect(Collectors.toMap(TensorProto::getName, t -> t));
    for (var c : g.constants().entrySet()) {
      TensorProto t = init.get(c.getKey());
      assertEquals(TensorProto.DataType.FLOAT_VALUE, t.getDataType(), c.getKey());
      assertEquals(java.util.Arrays.stream(c.getValue().type().dims()).mapToObj(Long::valueOf).toList(), t.getDimsList());
      float[] back = new float[c.getValue().data().length];
      ByteBuffer.wrap(t.getRawData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(back);
      assertTrue(java.util.Arrays.equals(c.getValue().data(), back), c.getKey());
    }
    // the shortcut's slice steps by 2 on H and W; the pad adds 8 zero channels before and after
    NodeProto slice = m.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("Slice")).findFirst().orElseThrow();
    assertEquals(List.of(2L, 2L), int64s(init.get(slice.getInput(4))));
    assertEquals(List.of(2L, 3L), int64s(init.get(slice.getInput(3))));
    NodeProto pad = m.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("Pad")).findFirst().orElseThrow();
    assertEquals(List.of(0L, 8L, 0L, 0L, 0L, 8L, 0L, 0L), int64s(init.get(pad.getInput(1))));
    // nodes carry their spec position
    assertTrue(m.getGraph().getNodeList().stream().anyMatch(n -> n.getDocString().matches(".*resnet20\\.resnet:\\d+.*")),
        m.getGraph().getNode(3).toString());

    ModelProto opt = OnnxExport.export(Pipeline.defaults().run(g), "resnet20");
    // batch norms folded, each conv with its residual add and relu; the shortcut still a Slice + Pad
    assertEquals("{Add=9, Conv=19, Div=2, Flatten=1, Gemm=1, GlobalAveragePool=1, Pad=2, Relu=19, Slice=2, Sub=1}", opTypes(opt).toString());
  }

  @Test
  void ortSeesTheDynamicBatchDimension() throws Exception {
    Graph g = RandomWeights.generate(example("cifar/resnet20.resnet"), 1);
    try (Ort ort = new Ort(OnnxExport.export(g, "resnet20").toByteArray())) {
      NodeInfo in = ort.session().getInputInfo().values().iterator().next();
      TensorInfo t = (TensorInfo) in.getInfo();
      assertEquals(-1, t.getShape()[0]);
      assertEquals("N", t.getDimensionNames()[0]);
      assertEquals(List.of(3L, 32L, 32L), List.of(t.getShape()[1], t.getShape()[2], t.getShape()[3]));
    }
  }

  static List<String> dims(ValueInfoProto v) {
    return v.getType().getTensorType().getShape().getDimList().stream()
        .map(d -> d.hasDimParam() ? d.getDimParam() : Long.toString(d.getDimValue())).toList();
  }

  static List<Long> int64s(TensorProto t) {
    assertEquals(TensorProto.DataType.INT64_VALUE, t.getDataType());
    var b = ByteBuffer.wrap(t.getRawData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
    List<Long> out = new java.util.ArrayList<>();
    while (b.hasRemaining()) out.add(b.get());
    return out;
  }

  /** Every op and attribute form of the IR (SampleGraphs.allOps), before and after the default pipeline. */
  @ParameterizedTest
  @CsvSource({"false, 1", "false, 3", "true, 1", "true, 3"})
  void everyOpMatchesTheInterpreter(boolean optimize, int batch) throws Exception {
    Graph g = SampleGraphs.allOps(true, 3);
    if (optimize) g = Pipeline.defaults().run(g);
    Random r = new Random(batch);
    float[] x = new float[(int) g.input().type().elements(batch)];
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    Ort.Error e = check(g, x, batch);
    System.out.printf(Locale.ROOT, "all_ops %s batch %d: max abs %.2e, max rel %.2e%n", optimize ? "optimized" : "unoptimized", batch, e.maxAbs(), e.maxRel());
  }

  /**
   * Pooling borders as PyTorch defines them: ceil-mode windows hanging over the padding (counted or not),
   * padding that never wins a max, windows cut by the right edge.
   */
  @ParameterizedTest
  @CsvSource({
      "avg, 3, 2, 1, true, true, 8", "avg, 3, 2, 1, true, false, 8", "avg, 3, 2, 1, false, true, 7", "avg, 2, 2, 0, true, false, 7",
      "avg, 3, 3, 1, true, true, 10", "avg, 2, 2, 1, true, true, 5", "max, 3, 2, 1, false, false, 8", "max, 2, 2, 1, false, false, 5"})
  void poolingBorders(String kind, int k, int s, int p, boolean ceil, boolean countPad, int size) throws Exception {
    Graph.Builder b = Graph.builder("pool");
    b.input("x", TensorType.batched(2, size, size));
    b.add("y", kind.equals("avg") ? new Op.AvgPool(k, s, p, ceil, countPad) : new Op.MaxPool(k, s, p), List.of("x"), "");
    Graph g = b.build("y");
    // all negative inputs, so a zero from the padding would win a max
    float[] x = gaussian(g, 2, k * 100 + size);
    if (kind.equals("max")) for (int i = 0; i < x.length; i++) x[i] = -Math.abs(x[i]) - 1;
    check(g, x, 2);
  }

  /** The option-A shortcut without a stride (no Slice) or without padding (no Pad), and with neither (Identity). */
  @ParameterizedTest
  @CsvSource({"1, 2, 3, Pad", "2, 0, 0, Slice", "1, 0, 0, Identity", "3, 1, 0, Slice Pad"})
  void subsamplePadForms(int stride, int before, int after, String ops) throws Exception {
    Graph.Builder b = Graph.builder("shortcut");
    b.input("x", TensorType.batched(2, 7, 7));
    b.add("y", new Op.SubsamplePad(stride, before, after), List.of("x"), "");
    b.add("z", new Op.Relu(), List.of("y"), "");
    Graph g = b.build("z");
    ModelProto m = OnnxExport.export(g, "shortcut");
    assertEquals(ops + " Relu", m.getGraph().getNodeList().stream().map(NodeProto::getOpType).collect(Collectors.joining(" ")));
    check(g, gaussian(g, 3, 1), 3);
  }

  @Test
  void aGraphWithoutWeightsIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxExport.export(example("cifar/resnet20.resnet"), "r"));
    assertTrue(e.getMessage().startsWith("ONNX export needs the weights: graph resnet20 has no data for %conv1.weight, %bn1.weight, %bn1.bias and "), e.getMessage());
  }

  @Test
  void withoutPreprocessTheModelTakesNormalizedInput() throws Exception {
    Graph g = Frontend.withoutPreprocess(RandomWeights.generate(example("cifar/resnet20.resnet"), 2));
    ModelProto m = OnnxExport.export(g, "resnet20");
    assertTrue(!opTypes(m).containsKey("Sub") && !opTypes(m).containsKey("Div"), opTypes(m).toString());
    check(g, gaussian(g, 2, 9), 2);
  }

  @Test
  void constantsNoNodeReadsAreLeftOut() {
    Graph.Builder b = Graph.builder("unused");
    b.input("x", TensorType.batched(4));
    b.constant("dead", TensorType.of(4), new float[4], "");
    b.add("y", new Op.Relu(), List.of("x"), "");
    ModelProto m = OnnxExport.export(b.build("y"), "unused");
    assertEquals(0, m.getGraph().getInitializerCount());
  }

  @Test
  void helperNamesNeverCollideWithGraphNames() throws Exception {
    // a value already named like the helper the Normalize expansion would pick
    Graph.Builder b = Graph.builder("names");
    b.input("x", TensorType.batched(2, 3, 3));
    b.add("n", new Op.Normalize(2f, new float[] {0.5f, 0.25f}, new float[] {2f, 4f}), List.of("x"), "");
    b.add("n/scaled", new Op.Relu(), List.of("n"), "");
    b.constant("n/mean", TensorType.of(2), new float[] {1f, 2f}, ""); // read by nothing, so no initializer
    b.add("out", new Op.Add(), List.of("n/scaled", "x"), "");
    Graph g = b.build("out");
    ModelProto m = OnnxExport.export(g, "names");
    List<String> outputs = m.getGraph().getNodeList().stream().map(n -> n.getOutput(0)).toList();
    List<String> inits = m.getGraph().getInitializerList().stream().map(TensorProto::getName).toList();
    assertEquals(List.of("n/scaled_2", "n/centered", "n", "n/scaled", "out"), outputs);
    assertEquals(List.of("n/div", "n/mean_2", "n/std"), inits);
    check(g, gaussian(g, 2, 3), 2);
  }
}
