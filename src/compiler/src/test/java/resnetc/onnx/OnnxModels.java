package resnetc.onnx;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.onnx.proto.Onnx.AttributeProto;
import resnetc.onnx.proto.Onnx.GraphProto;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.NodeProto;
import resnetc.onnx.proto.Onnx.OperatorSetIdProto;
import resnetc.onnx.proto.Onnx.TensorProto;
import resnetc.onnx.proto.Onnx.TensorShapeProto;
import resnetc.onnx.proto.Onnx.TypeProto;
import resnetc.onnx.proto.Onnx.ValueInfoProto;

/** Hand-built ONNX models for the import tests, and cheap deterministic weights for IR graphs. */
final class OnnxModels {
  private OnnxModels() {}

  /** A model with one float input; each node is named after its output. */
  static final class Builder {
    final GraphProto.Builder g = GraphProto.newBuilder().setName("t");
    long opset = 17;

    /** {@code dims}: an Integer is a fixed size, a String a symbolic one. */
    Builder(String input, Object... dims) {
      g.addInput(value(input, TensorProto.DataType.FLOAT_VALUE, dims));
    }

    static ValueInfoProto value(String name, int type, Object... dims) {
      TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
      for (Object d : dims) {
        TensorShapeProto.Dimension.Builder b = TensorShapeProto.Dimension.newBuilder();
        if (d instanceof Integer i) b.setDimValue(i);
        else b.setDimParam((String) d);
        shape.addDim(b);
      }
      return ValueInfoProto.newBuilder().setName(name)
          .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
    }

    Builder opset(long v) {
      opset = v;
      return this;
    }

    Builder init(String name, float[] data, long... dims) {
      g.addInitializer(floats(name, data, dims));
      return this;
    }

    Builder init(String name, long... data) {
      g.addInitializer(intTensor(name, data));
      return this;
    }

    /** A rank-0 int64 initializer. */
    Builder scalar(String name, long v) {
      g.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE).addInt64Data(v));
      return this;
    }

    Builder node(String op, List<String> inputs, String output, AttributeProto... attrs) {
      g.addNode(NodeProto.newBuilder().setName(output).setOpType(op).addAllInput(inputs).addOutput(output).addAllAttribute(List.of(attrs)));
      return this;
    }

    Builder output(String name) {
      g.addOutput(ValueInfoProto.newBuilder().setName(name)
          .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))));
      return this;
    }

    ModelProto build() {
      return ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
          .setProducerName("test").setGraph(g).build();
    }

    Graph read() {
      return OnnxImport.fromModel(build(), null, "t.onnx", "t");
    }
  }

  static TensorProto floats(String name, float[] data, long... dims) {
    ByteBuffer b = ByteBuffer.allocate(4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(data);
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(b.array()));
    for (long d : dims) t.addDims(d);
    return t.build();
  }

  static TensorProto intTensor(String name, long... data) {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE).addDims(data.length);
    for (long v : data) t.addInt64Data(v);
    return t.build();
  }

  static AttributeProto i(String name, long v) {
    return OnnxExport.intAttr(name, v);
  }

  static AttributeProto ints(String name, long... v) {
    return OnnxExport.intsAttr(name, v);
  }

  static AttributeProto f(String name, float v) {
    return OnnxExport.floatAttr(name, v);
  }

  static AttributeProto s(String name, String v) {
    return OnnxExport.stringAttr(name, v);
  }

  static AttributeProto t(String name, TensorProto v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.TENSOR).setT(v).build();
  }

  static float[] gaussian(int n, double std, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (std * r.nextGaussian());
    return x;
  }

  /**
   * Deterministic weights without RandomWeights' batch-norm calibration (a forward pass per batch norm), which the
   * bit-for-bit tests do not need: He-normal convs, 1/sqrt(in) dense layers, batch norms near the identity.
   */
  static Graph weights(Graph g, long seed) {
    Map<String, String> role = new HashMap<>();
    for (Node n : g.nodes()) {
      switch (n.op()) {
        case Op.Conv2d c -> role.put(n.input(1), "conv");
        case Op.Dense d -> role.put(n.input(1), "dense");
        case Op.BatchNorm b -> {
          role.put(n.input(1), "gamma");
          role.put(n.input(4), "var");
        }
        default -> { }
      }
    }
    Map<String, Tensor> data = new LinkedHashMap<>();
    for (Node c : g.constNodes()) {
      TensorType t = c.type();
      int n = (int) t.elementsPerItem();
      long s = seed * 1_000_003L + c.name().hashCode();
      float[] v = switch (role.getOrDefault(c.name(), "")) {
        case "conv" -> gaussian(n, Math.sqrt(2.0 / (t.dim(1) * t.dim(2) * t.dim(3))), s);
        case "dense" -> gaussian(n, 1 / Math.sqrt(t.dim(1)), s);
        case "gamma" -> shifted(gaussian(n, 0.1, s), 1);
        case "var" -> shifted(gaussian(n, 0.1, s), 1.2f);
        default -> gaussian(n, 0.1, s);
      };
      data.put(c.name(), new Tensor(t, v));
    }
    return g.withConstants(data);
  }

  private static float[] shifted(float[] v, float by) {
    for (int i = 0; i < v.length; i++) v[i] = Math.abs(v[i] + by);
    return v;
  }

  /** Raw pixels 0..255 when the graph normalizes its input, else N(0, 1). */
  static float[] input(Graph g, int batch, long seed) {
    return resnetc.passes.Numerics.randomInput(g, batch, seed);
  }

  static List<String> list(String... names) {
    return new ArrayList<>(List.of(names));
  }
}
