package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static resnetc.onnx.OnnxModels.f;
import static resnetc.onnx.OnnxModels.i;
import static resnetc.onnx.OnnxModels.ints;
import static resnetc.onnx.OnnxModels.list;
import static resnetc.onnx.OnnxModels.s;
import static resnetc.onnx.OnnxModels.t;

import com.google.protobuf.ByteString;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.onnx.OnnxModels.Builder;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.NodeProto;
import resnetc.onnx.proto.Onnx.TensorProto;

/**
 * Graphs resnetc cannot compute as ONNX specifies, and hostile files: each is refused with one line that names the
 * node (or tensor) and the reason, never imported as something else, never a crash, a hang or an unbounded
 * allocation.
 */
class OnnxRefusalTest {
  @TempDir Path tmp;

  static Builder conv(resnetc.onnx.proto.Onnx.AttributeProto... attrs) {
    return new Builder("x", "N", 4, 8, 8).init("w", new float[4 * 4 * 9], 4, 4, 3, 3).node("Conv", list("x", "w"), "y", attrs).output("y");
  }

  static Builder unary(String op, resnetc.onnx.proto.Onnx.AttributeProto... attrs) {
    return new Builder("x", "N", 4, 8, 8).node(op, list("x"), "y", attrs).output("y");
  }

  /** A flatten chain (Shape, Gather, Unsqueeze, Concat, Reshape) with {@code op} applied to the batch size. */
  static Builder batchArithmetic(String op) {
    Builder b = new Builder("x", "N", 4, 2, 2).scalar("zero", 0).init("ax0", 0L).init("rest", -1L).init("two", 2L);
    b.node("Shape", list("x"), "shape").node("Gather", list("shape", "zero"), "n").node(op, list("n", "two"), "n2")
        .node("Unsqueeze", list("n2", "ax0"), "n1").node("Concat", list("n1", "rest"), "target", i("axis", 0))
        .node("Reshape", list("x", "target"), "y");
    return b.output("y");
  }

  static Stream<Arguments> unsupported() {
    return Stream.of(
        refused("dilated conv", () -> conv(ints("dilations", 2, 2)), "node 'y' (Conv): dilations [2, 2] are not supported"),
        refused("asymmetric pads", () -> conv(ints("pads", 0, 0, 1, 1)), "node 'y' (Conv): pads [0, 0, 1, 1], not the same on every side"),
        refused("SAME padding that is asymmetric", () -> new Builder("x", "N", 4, 8, 8).init("w", new float[4 * 4 * 4], 4, 4, 2, 2)
            .node("Conv", list("x", "w"), "y", s("auto_pad", "SAME_UPPER")).output("y"), "auto_pad SAME_UPPER gives pads [0, 0, 1, 1]"),
        refused("non-square kernel", () -> new Builder("x", "N", 4, 8, 8).init("w", new float[4 * 4 * 3], 4, 4, 3, 1)
            .node("Conv", list("x", "w"), "y").output("y"), "node 'y' (Conv): kernel 3x1 is not square"),
        refused("unequal strides", () -> conv(ints("strides", 1, 2)), "strides [1, 2] differ"),
        refused("an attribute resnetc does not know", () -> conv(i("quantize", 1)), "node 'y' (Conv): attribute 'quantize' is not supported"),
        refused("max pool with ceil mode", () -> unary("MaxPool", ints("kernel_shape", 3, 3), ints("strides", 2, 2), i("ceil_mode", 1)),
            "node 'y' (MaxPool): ceil_mode=1 adds a window that hangs over the edge"),
        refused("avg pool ceil mode counting padding", () -> unary("AveragePool", ints("kernel_shape", 3, 3), ints("strides", 2, 2),
            i("ceil_mode", 1), i("count_include_pad", 1)), "count_include_pad=1"),
        refused("max pool indices", () -> {
          Builder b = unary("MaxPool", ints("kernel_shape", 2, 2));
          b.g.setNode(0, b.g.getNode(0).toBuilder().addOutput("indices"));
          return b;
        }, "node 'y' (MaxPool): output 1 ('indices') is not supported"),
        refused("an op resnetc does not compute", () -> unary("Sigmoid"), "node 'y' (Sigmoid): op Sigmoid is not supported"),
        refused("a custom op domain", () -> {
          Builder b = unary("Relu");
          b.g.setNode(0, b.g.getNode(0).toBuilder().setDomain("com.example"));
          return b;
        }, "node 'y' (Relu): op domain 'com.example'"),
        refused("batch norm in training mode", () -> new Builder("x", "N", 2).init("c", new float[] {1, 1}, 2)
            .node("BatchNormalization", list("x", "c", "c", "c", "c"), "y", i("training_mode", 1)).output("y"), "training_mode=1"),
        refused("batch norm before opset 7 without is_test", () -> new Builder("x", "N", 2).init("c", new float[] {1, 1}, 2)
            .node("BatchNormalization", list("x", "c", "c", "c", "c"), "y").output("y").opset(6), "is_test=0 (before opset 7, the default)"),
        refused("dropout before opset 7 without is_test", () -> unary("Dropout").opset(6), "is_test=0 (before opset 7, the default) drops activations"),
        refused("Add with the broadcast attribute of opsets before 7", () -> new Builder("x", "N", 4, 8, 8)
            .node("Add", list("x", "x"), "y", i("broadcast", 1)).output("y").opset(6), "node 'y' (Add): attribute 'broadcast' is not supported"),
        refused("a symbolic spatial dimension", () -> new Builder("x", "N", 3, "H", "W").node("Relu", list("x"), "y").output("y"),
            "graph input 'x' dimension 2 is symbolic 'H'"),
        refused("two graph inputs", () -> {
          Builder b = unary("Relu");
          b.g.addInput(Builder.value("x2", TensorProto.DataType.FLOAT_VALUE, "N", 4));
          return b;
        }, "2 graph inputs"),
        refused("a zero Pad of the spatial axes", () -> new Builder("x", "N", 4, 8, 8).init("p", 0, 0, 1, 1, 0, 0, 1, 1)
            .node("Pad", list("x", "p"), "y").output("y"), "node 'y' (Pad): pads [0, 0, 1, 1, 0, 0, 1, 1] pad axis 2"),
        refused("a reflecting Pad", () -> new Builder("x", "N", 4, 8, 8).init("p", 0, 1, 0, 0, 0, 1, 0, 0)
            .node("Pad", list("x", "p"), "y", s("mode", "reflect")).output("y"), "mode 'reflect' is not supported"),
        refused("a Slice that starts at row 1", () -> new Builder("x", "N", 4, 8, 8).init("s", 1L).init("e", 8L).init("a", 2L).init("st", 2L)
            .node("Slice", list("x", "s", "e", "a", "st"), "y").output("y"), "node 'y' (Slice): Slice of axis 2 starts at 1"),
        refused("option A with different row and column strides", () -> new Builder("x", "N", 4, 8, 8).init("s", 0L).init("e", 8L)
            .init("a", 2L).init("st", 2L).node("Slice", list("x", "s", "e", "a", "st"), "y").output("y"),
            "graph output 'y': the shortcut subsamples rows by 2 and columns by 1"),
        refused("softmax across the batch", () -> new Builder("x", "N", 10).node("Softmax", list("x"), "y", i("axis", 0)).output("y"),
            "node 'y' (Softmax): axis 0 normalizes across the batch"),
        refused("Gemm transA", () -> new Builder("x", "N", 4).init("w", new float[16], 4, 4)
            .node("Gemm", list("x", "w"), "y", i("transA", 1)).output("y"), "transA=1"),
        refused("a Gemm bias per batch row", () -> new Builder("x", 3, 4).init("w", new float[8], 4, 2).init("c", new float[6], 3, 2)
            .node("Gemm", list("x", "w", "c"), "y").output("y"), "C [3, 2] is not one bias per output"),
        refused("a Reshape that moves the batch", () -> new Builder("x", "N", 2, 4).init("t", -1L, 4L).node("Reshape", list("x", "t"), "y").output("y"),
            "node 'y' (Reshape): target [-1, 4] of [N, 2, 4] does not keep the batch"),
        refused("arithmetic on the batch size", () -> batchArithmetic("Mul"), "node 'n2' (Mul): Mul on the batch size"),
        refused("a Flatten into the batch", () -> unary("Flatten", i("axis", 2)), "node 'y' (Flatten): axis 2 of [N, 4, 8, 8] folds the batch"),
        refused("an activation times a constant", () -> new Builder("x", "N", 4, 8, 8).init("c", new float[] {2})
            .node("Mul", list("x", "c"), "y").output("y"), "node 'y' (Mul): Mul of an activation and a constant"),
        refused("an Add of a constant that is no bias", () -> new Builder("x", "N", 4, 8, 8).init("c", new float[] {2})
            .node("Relu", list("x"), "r").node("Add", list("r", "c"), "y").output("y"), "node 'y' (Add): Add of a constant is supported only as the bias"),
        refused("a broadcasting Add of activations", () -> new Builder("x", "N", 4, 8, 8)
            .node("GlobalAveragePool", list("x"), "g").node("Add", list("x", "g"), "y").output("y"), "Add of [N, 4, 8, 8] and [N, 4, 1, 1] broadcasts"),
        refused("a float16 weight", () -> {
          Builder b = new Builder("x", "N", 4).node("MatMul", list("x", "w"), "y").output("y");
          b.g.addInitializer(TensorProto.newBuilder().setName("w").setDataType(TensorProto.DataType.FLOAT16_VALUE).addDims(4).addDims(4)
              .setRawData(ByteString.copyFrom(new byte[32])));
          return b;
        }, "node 'y' (MatMul): initializer 'w' has type float16"),
        refused("an output that is a constant", () -> new Builder("x", "N", 4).node("Shape", list("x"), "y").output("y"),
            "graph output 'y' is a constant"),
        refused("an opset too new", () -> unary("Relu").opset(23), "opset 23 is outside the versions resnetc knows (1 to 22)"),
        refused("a node reading a value computed later", () -> {
          Builder b = new Builder("x", "N", 4).node("Relu", list("z"), "y").node("Relu", list("y"), "z").output("z");
          return b;
        }, "node 'y' (Relu): uses 'z' before the node that computes it"),
        refused("a node reading a value nobody defines", () -> new Builder("x", "N", 4).node("Add", list("x", "ghost"), "y").output("y"),
            "node 'y' (Add): uses 'ghost', which no node, initializer or graph input defines"),
        refused("an output defined twice", () -> new Builder("x", "N", 4).node("Relu", list("x"), "y").node("Relu", list("x"), "y").output("y"),
            "value 'y' is defined twice"),
        refused("raw data shorter than the shape", () -> {
          Builder b = new Builder("x", "N", 4).node("MatMul", list("x", "w"), "y").output("y");
          b.g.addInitializer(OnnxModels.floats("w", new float[4], 4, 4));
          return b;
        }, "initializer 'w' has 16 bytes of raw data, its shape [4, 4] needs 64"),
        refused("a declared tensor of a trillion elements", () -> {
          Builder b = new Builder("x", "N", 4).node("MatMul", list("x", "w"), "y").output("y");
          b.g.addInitializer(TensorProto.newBuilder().setName("w").setDataType(1).addDims(1_000_000).addDims(1_000_000));
          return b;
        }, "initializer 'w' shape [1000000, 1000000] has more than 268435456 elements"),
        refused("a ConstantOfShape of a billion elements", () -> new Builder("x", "N", 4).init("shape", 1_000_000_000L)
            .node("ConstantOfShape", list("shape"), "c").node("Add", list("x", "c"), "y").output("y"),
            "node 'c' (ConstantOfShape): ConstantOfShape [1000000000] has more than 16777216 elements"),
        refused("a negative dimension", () -> new Builder("x", "N", 4).init("shape", -5L)
            .node("ConstantOfShape", list("shape"), "c").node("Add", list("x", "c"), "y").output("y"), "negative dimension"));
  }

  static Arguments refused(String what, Supplier<Builder> model, String message) {
    return Arguments.of(what, model, message);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("unsupported")
  void isRefusedNamingTheNodeAndTheReason(String what, Supplier<Builder> model, String message) {
    OnnxImportException e = assertThrows(OnnxImportException.class, () -> model.get().read(), what);
    assertTrue(e.getMessage().startsWith("t.onnx: "), e.getMessage());
    assertTrue(e.getMessage().contains(message), "expected \"" + message + "\" in: " + e.getMessage());
    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
  }

  private Path write(String name, byte[] bytes) throws Exception {
    Path p = tmp.resolve(name);
    Files.createDirectories(p.getParent());
    Files.write(p, bytes);
    return p;
  }

  /** A model whose weight {@code w} [4, 4] lies in an external file at {@code location}, offset {@code offset}. */
  private Path externalModel(String location, long offset, long length) throws Exception {
    Builder b = new Builder("x", "N", 4).node("MatMul", list("x", "w"), "y").output("y");
    b.g.addInitializer(OnnxImportTest.external("w", location, offset, length, 4, 4));
    return write("model/m.onnx", b.build().toByteArray());
  }

  static String refusal(Path model) {
    OnnxImportException e = assertThrows(OnnxImportException.class, () -> OnnxImport.read(model, "m"));
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    return e.getMessage();
  }

  @Test
  void externalDataOutsideTheModelDirectoryIsRefused() throws Exception {
    write("secret.bin", new byte[64]);
    assertTrue(refusal(externalModel("../secret.bin", 0, 64)).contains("external data location '../secret.bin' leaves the model's directory"));
    assertTrue(refusal(externalModel("sub/../../secret.bin", 0, 64)).contains("leaves the model's directory"));
    assertTrue(refusal(externalModel(tmp.resolve("secret.bin").toString(), 0, 64)).contains("is not a relative path inside the model's directory"));
    Files.createSymbolicLink(tmp.resolve("model/link.bin"), tmp.resolve("secret.bin"));
    assertTrue(refusal(externalModel("link.bin", 0, 64)).contains("'link.bin' is a link leading out of the model's directory"));
    assertTrue(refusal(externalModel("missing.bin", 0, 64)).contains("'missing.bin' does not exist"));
  }

  @Test
  void externalOffsetsAndLengthsAreCheckedAgainstTheFileAndTheShape() throws Exception {
    write("model/w.bin", new byte[100]);
    assertTrue(refusal(externalModel("w.bin", 64, -1)).contains("the 64 bytes at offset 64 lie outside the 100 bytes of w.bin"));
    assertTrue(refusal(externalModel("w.bin", Long.MAX_VALUE - 8, -1)).contains("lie outside the 100 bytes"));
    assertTrue(refusal(externalModel("w.bin", 0, 32)).contains("external length of 32 bytes, its shape needs 64"));
    Builder b = new Builder("x", "N", 4).node("MatMul", list("x", "w"), "y").output("y");
    b.g.addInitializer(OnnxImportTest.external("w", "w.bin", 0, 64, 4, 4));
    OnnxImportException e = assertThrows(OnnxImportException.class, () -> OnnxImport.fromModel(b.build(), null, "t.onnx", "t"));
    assertTrue(e.getMessage().contains("is in an external file, but the model was not read from a directory"), e.getMessage());
  }

  @Test
  void malformedFilesAreRefused() throws Exception {
    assertTrue(refusal(write("garbage.onnx", "not a protobuf at all, just text\n".getBytes())).startsWith("garbage.onnx: not an ONNX model"));
    byte[] good = unaryModel();
    assertTrue(refusal(write("truncated.onnx", java.util.Arrays.copyOf(good, good.length - 7))).startsWith("truncated.onnx: not an ONNX model"));
    assertTrue(refusal(tmp.resolve("absent.onnx")).endsWith("absent.onnx: no such file"));
    assertTrue(refusal(write("empty.onnx", new byte[0])).contains("the model has no graph"));
  }

  /** Groups nested 100,000 deep (unknown fields): protobuf's recursion limit ends it, not the stack. */
  @Test
  void deeplyNestedMessagesEndAtTheRecursionLimit() throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int depth = 100_000;
    for (int k = 0; k < depth; k++) b.write(new byte[] {(byte) 0x9b, 0x06}); // field 99, start group
    for (int k = 0; k < depth; k++) b.write(new byte[] {(byte) 0x9c, 0x06}); // field 99, end group
    Path p = write("deep.onnx", b.toByteArray());
    String message = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> refusal(p));
    assertTrue(message.startsWith("deep.onnx: not an ONNX model"), message);
  }

  private static byte[] unaryModel() {
    return unary("Relu").build().toByteArray();
  }

  @Test
  void theIndicesOfAMaxPoolAreNotSilentlyDropped() {
    Builder b = unary("MaxPool", ints("kernel_shape", 2, 2));
    NodeProto n = b.g.getNode(0).toBuilder().addOutput("").build();
    b.g.setNode(0, n);
    assertEquals(2, b.read().nodes().size(), "an empty optional output is no output");
  }

  @Test
  void everyAttributeOfASupportedOpIsReadOrRefused() {
    // dropout in inference: ratio and seed are read (and change nothing); an unknown one is refused
    assertEquals(1, new Builder("x", "N", 4).node("Dropout", list("x"), "y", f("ratio", 0.3f), i("seed", 4)).output("y").read().nodes().size());
    OnnxImportException e = assertThrows(OnnxImportException.class,
        () -> new Builder("x", "N", 4).node("Dropout", list("x"), "y", f("rate", 0.3f)).output("y").read());
    assertTrue(e.getMessage().contains("attribute 'rate' is not supported"), e.getMessage());
    OnnxImportException t = assertThrows(OnnxImportException.class,
        () -> new Builder("x", "N", 4).node("Relu", list("x"), "y", t("alpha", OnnxModels.intTensor("a", 1))).output("y").read());
    assertTrue(t.getMessage().contains("attribute 'alpha' is not supported"), t.getMessage());
  }
}
