package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static resnetc.onnx.OnnxModels.f;
import static resnetc.onnx.OnnxModels.i;
import static resnetc.onnx.OnnxModels.ints;
import static resnetc.onnx.OnnxModels.list;
import static resnetc.onnx.OnnxModels.s;
import static resnetc.onnx.OnnxModels.t;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.onnx.OnnxModels.Builder;
import resnetc.onnx.proto.Onnx.GraphProto;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.NodeProto;
import resnetc.onnx.proto.Onnx.TensorProto;
import resnetc.passes.Pipeline;
import resnetc.recover.SpecRecovery;

/**
 * What the importer makes of graphs as exporters write them, checked two ways: against ONNX Runtime running the
 * same file (an independent reading of ONNX's semantics), and bit for bit against the IR graph the file was
 * exported from.
 */
class OnnxImportTest {
  static long count(Graph g, Class<? extends Op> op) {
    return g.nodes().stream().filter(n -> op.isInstance(n.op())).count();
  }

  /** ORT on the file and the interpreter on the import agree to 1e-4 relative, element by element. */
  static void agreesWithOrt(ModelProto m, Graph imported, int batch, int... item) throws Exception {
    float[] x = OnnxModels.input(imported, batch, 5);
    float[] ours = new Interpreter(imported).run(x, batch);
    try (Ort ort = new Ort(m.toByteArray())) {
      Ort.Error e = Ort.Error.of(ort.run(x, batch, item), ours);
      assertTrue(e.ok(), e.toString());
    }
  }

  /**
   * A torchvision-style export: batch norms folded into conv biases (what export-onnx --opt writes), weights under
   * exporter names ({@code onnx::Conv_12}) read through Identity nodes, an Identity on an activation, module-path
   * node names, no value_info.
   */
  static ModelProto torchvisionStyle(ModelProto m) {
    GraphProto src = m.getGraph();
    GraphProto.Builder g = src.toBuilder().clearNode().clearValueInfo().clearInitializer();
    Map<String, String> renamed = new HashMap<>();
    for (TensorProto t : src.getInitializerList()) {
      String name = "onnx::Conv_" + renamed.size();
      renamed.put(t.getName(), name);
      g.addInitializer(t.toBuilder().setName(name));
    }
    int ids = 0;
    for (NodeProto n : src.getNodeList()) {
      NodeProto.Builder b = n.toBuilder().clearInput().setName("/" + n.getName().replace('.', '/') + "/" + n.getOpType());
      for (int k = 0; k < n.getInputCount(); k++) {
        String in = renamed.getOrDefault(n.getInput(k), n.getInput(k));
        boolean viaIdentity = (n.getOpType().equals("Conv") && k == 1) || n.getOpType().equals("Gemm") && k == 0;
        if (viaIdentity) {
          String id = "onnx::Identity_" + ids++;
          g.addNode(NodeProto.newBuilder().setName("/Identity_" + ids).setOpType("Identity").addInput(in).addOutput(id));
          in = id;
        }
        b.addInput(in);
      }
      g.addNode(b);
    }
    return m.toBuilder().setGraph(g).build();
  }

  static Graph resnet18(int size) {
    String spec = TestPaths.repoRoot().resolve("examples/imagenet/resnet18.resnet").toString();
    String source;
    try {
      source = Files.readString(Path.of(spec)).replace("[3, 224, 224]", "[3, " + size + ", " + size + "]")
          .replace("resize 256  crop 224  ", "");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return OnnxModels.weights(Frontend.load(spec, source).graph(), 3);
  }

  @Test
  void torchvisionStyleResnet18ImportsExactlyAndIsRecoveredWithFoldedBatchNorms() throws Exception {
    Graph folded = Pipeline.defaults().run(Frontend.withoutPreprocess(resnet18(32)));
    ModelProto m = torchvisionStyle(OnnxExport.export(folded, "resnet18"));
    Graph g = OnnxImport.fromModel(m, null, "resnet18.onnx", "resnet18");
    assertEquals(0, count(g, Op.BatchNorm.class));
    assertEquals(20, count(g, Op.Conv2d.class));
    assertTrue(g.nodes().stream().filter(n -> n.op() instanceof Op.Conv2d).allMatch(n -> n.inputs().size() == 3), "every conv has its folded bias");
    float[] x = OnnxModels.input(g, 2, 7);
    assertArrayEquals(new Interpreter(folded).run(x, 2), new Interpreter(g).run(x, 2), "the import computes what was exported, bit for bit");
    agreesWithOrt(m, g, 2, 3, 32, 32);

    SpecRecovery.Recovered r = SpecRecovery.recover(g, "resnet18.resnet", null, List.of("test"));
    for (String line : List.of("bn folded", "block basic\n", "shortcut B\n", "stage layer1 2 x 64\n", "stage layer4 2 x 512 stride 2\n",
        "stem { conv 7x7 64 stride 2 pad 3  bn  relu  maxpool 3x3 stride 2 pad 1 }", "head { avgpool  fc }")) {
      assertTrue(r.spec().contains(line), line + " in\n" + r.spec());
    }
    Graph fromSpec = Frontend.load("resnet18.resnet", r.spec()).graph().withConstants(r.weights());
    assertArrayEquals(new Interpreter(g).run(x, 2), new Interpreter(fromSpec).run(x, 2), "spec + weights compute the import, bit for bit");
  }

  /**
   * The TorchScript exporter's option-A shortcut (F.pad with its pads computed by ConstantOfShape, Concat, Reshape,
   * a reversing Slice, Transpose and Cast) and flatten (Shape, Gather, Unsqueeze, Concat, Reshape), in small.
   */
  static Builder torchScriptStyle() {
    Builder b = new Builder("input", "N", 4, 8, 8);
    b.init("w1", OnnxModels.gaussian(8 * 4 * 9, 0.3, 1), 8, 4, 3, 3).init("b1", OnnxModels.gaussian(8, 0.1, 2), 8)
        .init("fc.w", OnnxModels.gaussian(3 * 8, 0.3, 3), 3, 8).init("fc.b", OnnxModels.gaussian(3, 0.1, 4), 3)
        .init("big", Long.MAX_VALUE).init("zero", 0L).scalar("index0", 0).init("two", 2L).init("ax2", 2L).init("ax3", 3L)
        .init("torch_pads", 0, 0, 0, 0, 2, 2).init("count", 2L).init("rows", -1, 2).init("minus1", -1L)
        .init("neg_inf", -Long.MAX_VALUE).init("ax0", 0L).init("flat", -1L);
    b.node("Conv", list("input", "w1", "b1"), "conv", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2), ints("dilations", 1, 1), i("group", 1));
    b.node("Relu", list("conv"), "relu");
    b.node("Slice", list("input", "zero", "big", "ax2", "two"), "rows_sliced");
    b.node("Slice", list("rows_sliced", "zero", "big", "ax3", "two"), "sliced");
    b.node("ConstantOfShape", list("count"), "zeros", t("value", OnnxModels.intTensor("v", 0L)));
    b.node("Concat", list("torch_pads", "zeros"), "pads8", i("axis", 0));
    b.node("Reshape", list("pads8", "rows"), "pairs");
    b.node("Slice", list("pairs", "minus1", "neg_inf", "ax0", "minus1"), "reversed");
    b.node("Transpose", list("reversed"), "onnx_order", ints("perm", 1, 0));
    b.node("Reshape", list("onnx_order", "flat"), "pads_flat");
    b.node("Cast", list("pads_flat"), "pads", i("to", 7));
    b.node("Pad", list("sliced", "pads"), "shortcut", s("mode", "constant"));
    b.node("Add", list("relu", "shortcut"), "sum");
    b.node("GlobalAveragePool", list("sum"), "pooled");
    b.node("Shape", list("pooled"), "shape");
    b.node("Gather", list("shape", "index0"), "n", i("axis", 0));
    b.node("Unsqueeze", list("n", "ax0"), "n1");
    b.node("Concat", list("n1", "flat"), "target", i("axis", 0));
    b.node("Reshape", list("pooled", "target"), "flattened");
    b.node("Gemm", list("flattened", "fc.w", "fc.b"), "logits", f("alpha", 1), f("beta", 1), i("transB", 1));
    return b.output("logits");
  }

  @Test
  void torchScriptShapeArithmeticFoldsToOneSubsamplePadAndAGlobalPool() throws Exception {
    Builder b = torchScriptStyle();
    Graph g = b.read();
    Node sc = g.nodes().stream().filter(n -> n.op() instanceof Op.SubsamplePad).findFirst().orElseThrow();
    assertEquals(new Op.SubsamplePad(2, 2, 2), sc.op());
    assertEquals(g.input().name(), sc.input(0));
    assertEquals(List.of("input", "const", "const", "conv2d", "relu", "subsample_pad", "add", "global_avgpool", "const", "const", "dense"),
        g.nodes().stream().map(n -> n.op().mnemonic()).toList());
    agreesWithOrt(b.build(), g, 3, 4, 8, 8);
  }

  @Test
  void matMulThenAddIsOneDenseLayerWithItsBias() throws Exception {
    Builder b = new Builder("x", "N", 6).init("w", OnnxModels.gaussian(6 * 4, 0.5, 1), 6, 4).init("b", OnnxModels.gaussian(4, 0.5, 2), 1, 4);
    b.node("MatMul", list("x", "w"), "mm").node("Add", list("mm", "b"), "y").node("Softmax", list("y"), "p", i("axis", 1)).output("p");
    Graph g = b.read();
    assertEquals(List.of("input", "dense", "softmax"), g.nodes().stream().filter(n -> !(n.op() instanceof Op.Const)).map(n -> n.op().mnemonic()).toList());
    assertEquals(3, g.node("mm").inputs().size());
    agreesWithOrt(b.build(), g, 5, 6);
  }

  @Test
  void anAddOfPerChannelConstantsAfterABiasFreeConvIsItsBias() throws Exception {
    Builder b = new Builder("x", "N", 3, 6, 6).init("w", OnnxModels.gaussian(4 * 3 * 9, 0.3, 1), 4, 3, 3, 3)
        .init("b", OnnxModels.gaussian(4, 0.5, 2), 1, 4, 1, 1);
    b.node("Conv", list("x", "w"), "conv", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)).node("Add", list("b", "conv"), "y").output("y");
    Graph g = b.read();
    assertEquals(List.of("input", "const", "const", "conv2d"), g.nodes().stream().map(n -> n.op().mnemonic()).toList());
    assertEquals(List.of("x", "conv.weight", "conv.bias"), g.node("conv").inputs());
    agreesWithOrt(b.build(), g, 2, 3, 6, 6);
  }

  @Test
  void divSubDivAtTheInputIsTheInputNormalization() throws Exception {
    Builder b = new Builder("x", "N", 3, 4, 4).init("scale", new float[] {255}).init("mean", new float[] {0.5f, 0.4f, 0.3f}, 1, 3, 1, 1)
        .init("std", new float[] {0.2f, 0.25f, 0.3f}, 1, 3, 1, 1).init("w", OnnxModels.gaussian(2 * 3, 0.5, 1), 2, 3, 1, 1);
    b.node("Div", list("x", "scale"), "scaled").node("Sub", list("scaled", "mean"), "centered").node("Div", list("centered", "std"), "normalized");
    b.node("Conv", list("normalized", "w"), "y", ints("kernel_shape", 1, 1)).output("y");
    Graph g = b.read();
    Node norm = g.nodes().get(1);
    assertEquals(new Op.Normalize(255, new float[] {0.5f, 0.4f, 0.3f}, new float[] {0.2f, 0.25f, 0.3f}), norm.op());
    agreesWithOrt(b.build(), g, 2, 3, 4, 4);
  }

  @Test
  void samePaddingPoolsAndCeilModeAveragePoolsThatFit() throws Exception {
    Builder b = new Builder("x", 2, 2, 7, 7);
    b.node("MaxPool", list("x"), "m", ints("kernel_shape", 3, 3), ints("strides", 1, 1), s("auto_pad", "SAME_UPPER"));
    b.node("AveragePool", list("m"), "a", ints("kernel_shape", 2, 2), ints("strides", 2, 2), i("ceil_mode", 1), i("count_include_pad", 0));
    b.node("AveragePool", list("a"), "g", ints("kernel_shape", 4, 4));
    b.node("Flatten", list("g"), "y").output("y");
    Graph g = b.read();
    assertEquals(new Op.MaxPool(3, 1, 1), g.node("m").op());
    assertEquals(new Op.AvgPool(2, 2, 0, true, false), g.node("a").op());
    assertEquals(new Op.GlobalAvgPool(), g.node("g").op(), "a window over the whole plane is the global pool");
    agreesWithOrt(b.build(), g, 2, 2, 7, 7);
  }

  @Test
  void aFixedBatchIsTheBatchDimension() {
    Builder b = new Builder("x", 1, 8).init("w", OnnxModels.gaussian(8 * 2, 0.5, 1), 2, 8).init("shape", 1, -1);
    b.node("Reshape", list("x", "shape"), "flat").node("Gemm", list("flat", "w"), "y", i("transB", 1)).output("y");
    Graph g = b.read();
    assertEquals("f32[N,8]", g.input().type().toString());
    assertEquals(2, new Interpreter(g).run(new float[24], 3).length / 3);
  }

  @Test
  void onlyWhatTheOutputNeedsIsImported() {
    Builder b = new Builder("x", "N", 4);
    b.node("Sigmoid", list("x"), "unused").node("Relu", list("x"), "y").output("y");
    assertEquals(List.of("input", "relu"), b.read().nodes().stream().map(n -> n.op().mnemonic()).toList());
  }

  @Test
  void externalDataInsideTheModelDirectoryIsRead(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    float[] w = OnnxModels.gaussian(12, 1, 9);
    byte[] bytes = OnnxModels.floats("w", w, 3, 4).getRawData().toByteArray();
    Files.createDirectories(dir.resolve("data"));
    Files.write(dir.resolve("data/w.bin"), concat(new byte[16], bytes));
    Builder b = new Builder("x", "N", 4);
    b.g.addInitializer(external("w", "data/w.bin", 16, bytes.length, 3, 4));
    b.node("Gemm", list("x", "w"), "y", i("transB", 1)).output("y");
    Path model = dir.resolve("m.onnx");
    Files.write(model, b.build().toByteArray());
    Graph g = OnnxImport.read(model, "m");
    assertArrayEquals(w, g.constants().get("y.weight").data());
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] c = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  static TensorProto external(String name, String location, long offset, long length, long... dims) {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
        .setDataLocation(TensorProto.DataLocation.EXTERNAL);
    for (long d : dims) t.addDims(d);
    t.addExternalData(entry("location", location)).addExternalData(entry("offset", "" + offset));
    if (length >= 0) t.addExternalData(entry("length", "" + length));
    return t.build();
  }

  static resnetc.onnx.proto.Onnx.StringStringEntryProto entry(String k, String v) {
    return resnetc.onnx.proto.Onnx.StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
  }

  @Test
  void theNamesAreTheCheckpointsWhereTheFileHasThem() {
    Builder b = new Builder("x", "N", 3, 4, 4).init("layer1.0.conv1.weight", OnnxModels.gaussian(2 * 3 * 9, 0.5, 1), 2, 3, 3, 3)
        .init("onnx::Conv_7", OnnxModels.gaussian(2 * 2 * 9, 0.5, 1), 2, 2, 3, 3);
    b.node("Conv", list("x", "layer1.0.conv1.weight"), "node_Conv_1", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1));
    b.node("Relu", list("node_Conv_1"), "/layer1/layer1.0/Relu");
    b.node("Conv", list("/layer1/layer1.0/Relu", "onnx::Conv_7"), "/layer1/layer1.0/conv2/Conv", ints("kernel_shape", 3, 3));
    Graph g = b.output("/layer1/layer1.0/conv2/Conv").read();
    assertEquals(List.of("x", "layer1.0.conv1.weight", "layer1.0.conv1", "layer1.0.relu", "layer1.0.conv2.weight", "layer1.0.conv2"),
        g.nodes().stream().map(Node::name).toList());
    assertFalse(g.nodes().stream().anyMatch(n -> n.name().contains("/") || n.name().contains(":")));
  }

  @Test
  void aNonFloatInputIsRefusedNamingIt() {
    ModelProto m = new Builder("x", "N", 4).output("x").build();
    GraphProto g = m.getGraph().toBuilder().setInput(0, Builder.value("x", TensorProto.DataType.INT64_VALUE, "N", 4)).build();
    OnnxImportException e = assertThrows(OnnxImportException.class, () -> OnnxImport.fromModel(m.toBuilder().setGraph(g).build(), null, "t.onnx", "t"));
    assertEquals("t.onnx: graph input 'x' has type int64; resnetc models take float32", e.getMessage());
  }
}
