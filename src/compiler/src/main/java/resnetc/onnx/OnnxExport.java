package resnetc.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.ir.Verifier;
import resnetc.onnx.proto.Onnx.AttributeProto;
import resnetc.onnx.proto.Onnx.GraphProto;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.NodeProto;
import resnetc.onnx.proto.Onnx.OperatorSetIdProto;
import resnetc.onnx.proto.Onnx.TensorProto;
import resnetc.onnx.proto.Onnx.TensorShapeProto;
import resnetc.onnx.proto.Onnx.TypeProto;
import resnetc.onnx.proto.Onnx.ValueInfoProto;

/**
 * A graph with its weights bound, unoptimized or optimized, as an ONNX model (IR version 8, default-domain
 * opset 17) that computes what the reference interpreter computes, up to float rounding.
 *
 * <p>Values keep their IR names: the graph input and output, every node's result and every constant (as an
 * initializer, float32 little-endian {@code raw_data}). A leading batch dimension becomes the symbolic dimension
 * {@code N}, so one model runs any batch size. Ops map one to one where ONNX has the op; the others expand:
 *
 * <ul>
 *   <li>{@code normalize}: {@code Div} by {@code div}, {@code Sub} of the mean, {@code Div} by the std (per channel,
 *       float initializers shaped {@code [1,C,1,1]}), the interpreter's three float operations in its order;
 *   <li>{@code subsample_pad} (the option-A shortcut): {@code Slice} with steps {@code stride} on axes 2 and 3, then
 *       a constant-zero {@code Pad} of the channel axis;
 *   <li>{@code fused_conv}: {@code Conv} with the bias, then {@code Add} of the residual (sliced and padded as above
 *       for {@code residual=subsample}), then {@code Relu};
 *   <li>{@code global_avgpool}: {@code GlobalAveragePool}, then {@code Flatten} to {@code [N,C]};
 *   <li>{@code dense}: {@code Gemm} with {@code transB=1} (our weights are {@code [out, in]}).
 * </ul>
 *
 * Helper values and nodes are named after the IR node they come from ({@code layer2.0.conv2/shortcut}); their
 * initializers after the node and the role ({@code normalize/mean}). Nodes carry the spec position of their IR
 * node as {@code doc_string}. Every value also gets a {@code value_info} with its shape.
 */
public final class OnnxExport {
  public static final long IR_VERSION = 8;
  public static final long OPSET = 17;
  /** The symbolic batch dimension of the graph input, output and activations. */
  public static final String BATCH = "N";
  static final String PRODUCER = "resnetc";
  static final String PRODUCER_VERSION = "0.1.0";

  private OnnxExport() {}

  /**
   * The model for a graph whose constants are bound ({@code Frontend.bind}, {@code RandomWeights.generate}).
   *
   * @param modelName the ONNX graph name
   * @throws IllegalArgumentException when a constant has no data or an op has no ONNX form
   */
  public static ModelProto export(Graph weighted, String modelName) {
    List<String> missing = weighted.constNodes().stream().map(Node::name).filter(n -> !weighted.constants().containsKey(n)).toList();
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException("ONNX export needs the weights: graph " + weighted.name() + " has no data for %"
          + String.join(", %", missing.subList(0, Math.min(3, missing.size()))) + (missing.size() > 3 ? " and " + (missing.size() - 3) + " more" : ""));
    }
    Verifier.verify(weighted);
    GraphProto graph = new Exporter(weighted).graph(modelName);
    return ModelProto.newBuilder()
        .setIrVersion(IR_VERSION)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
        .setProducerName(PRODUCER)
        .setProducerVersion(PRODUCER_VERSION)
        .setGraph(graph)
        .build();
  }

  /** Writes {@link #export} of the graph, named after it, to {@code out}. */
  public static void write(Graph weighted, Path out) {
    ModelProto model = export(weighted, weighted.name());
    try {
      resnetc.runtime.AtomicFile.write(out, model::writeTo);
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  /** One export: the graph being translated and the ONNX graph being built. */
  private static final class Exporter {
    private final Graph g;
    private final GraphProto.Builder out = GraphProto.newBuilder();
    /** Every value and node name in use, IR names first, so helper names never collide with them. */
    private final Set<String> names = new HashSet<>();
    /** Constants some exported node reads, in first-use order; only these become initializers. */
    private final Set<String> usedConstants = new LinkedHashSet<>();
    private final List<ValueInfoProto> valueInfo = new ArrayList<>();

    Exporter(Graph g) {
      this.g = g;
      for (Node n : g.nodes()) names.add(n.name());
    }

    GraphProto graph(String modelName) {
      out.setName(modelName);
      Node input = g.input();
      out.addInput(valueInfo(input.name(), input.type()));
      for (Node n : g.nodes()) {
        if (n.op() instanceof Op.Input || n.op() instanceof Op.Const) continue;
        for (String in : n.inputs()) {
          if (g.node(in).op() instanceof Op.Const) usedConstants.add(in);
        }
        node(n);
      }
      Node result = g.node(g.output());
      if (result.op() instanceof Op.Input || result.op() instanceof Op.Const) {
        throw new IllegalArgumentException("ONNX export: graph " + g.name() + " returns its " + result.op().mnemonic() + " %" + result.name() + " unchanged");
      }
      out.addOutput(valueInfo(result.name(), result.type()));
      // value_info is for values that are neither graph inputs nor outputs
      for (ValueInfoProto v : valueInfo) {
        if (!v.getName().equals(result.name())) out.addValueInfo(v);
      }
      List<TensorProto> initializers = new ArrayList<>();
      for (String c : usedConstants) initializers.add(floatTensor(c, g.constants().get(c)));
      // the helper initializers were added while translating; the weights go first, in the order they are read
      List<TensorProto> helpers = List.copyOf(out.getInitializerList());
      out.clearInitializer().addAllInitializer(initializers).addAllInitializer(helpers);
      return out.build();
    }

    private void node(Node n) {
      String y = n.name();
      List<String> in = n.inputs();
      switch (n.op()) {
        case Op.Normalize o -> {
          int c = n.type().dim(1);
          String scaled = emit(n, "Div", List.of(in.get(0), floats(y + "/div", new float[] {o.div()})), value(y + "/scaled"), n.type(), List.of());
          String centered = emit(n, "Sub", List.of(scaled, floats(y + "/mean", o.mean(), 1, c, 1, 1)), value(y + "/centered"), n.type(), List.of());
          emit(n, "Div", List.of(centered, floats(y + "/std", o.std(), 1, c, 1, 1)), y, n.type(), List.of());
        }
        case Op.Conv2d o -> emit(n, "Conv", in, y, n.type(), conv(o.kernel(), o.stride(), o.pad(), o.groups()));
        case Op.FusedConv o -> {
          boolean residual = o.residual() != Op.FusedConv.Residual.NONE;
          String conv = emit(n, "Conv", in.subList(0, 3), residual || o.relu() ? value(y + "/conv") : y, n.type(), conv(o.kernel(), o.stride(), o.pad(), o.groups()));
          if (residual) {
            String r = in.get(3);
            if (o.residual() == Op.FusedConv.Residual.SUBSAMPLE) {
              TensorType rt = g.node(r).type();
              r = subsamplePad(n, r, rt, o.resStride(), o.resOffset(), n.type().dim(1) - o.resOffset() - rt.dim(1), value(y + "/shortcut"), n.type());
            }
            conv = emit(n, "Add", List.of(conv, r), o.relu() ? value(y + "/add") : y, n.type(), List.of());
          }
          if (o.relu()) emit(n, "Relu", List.of(conv), y, n.type(), List.of());
        }
        case Op.BatchNorm o -> emit(n, "BatchNormalization", in, y, n.type(), List.of(floatAttr("epsilon", o.eps())));
        case Op.Relu o -> emit(n, "Relu", in, y, n.type(), List.of());
        case Op.Add o -> emit(n, "Add", in, y, n.type(), List.of());
        case Op.MaxPool o -> emit(n, "MaxPool", in, y, n.type(), window(o.kernel(), o.stride(), o.pad()));
        case Op.AvgPool o -> {
          List<AttributeProto> attrs = new ArrayList<>(window(o.kernel(), o.stride(), o.pad()));
          attrs.add(intAttr("ceil_mode", ceilMode(n, o, g.node(in.get(0)).type()) ? 1 : 0));
          attrs.add(intAttr("count_include_pad", o.countPad() ? 1 : 0));
          emit(n, "AveragePool", in, y, n.type(), attrs);
        }
        case Op.GlobalAvgPool o -> {
          TensorType pooledType = TensorType.of(n.type().dim(0), n.type().dim(1), 1, 1);
          String pooled = emit(n, "GlobalAveragePool", in, value(y + "/pooled"), pooledType, List.of());
          emit(n, "Flatten", List.of(pooled), y, n.type(), List.of(intAttr("axis", 1)));
        }
        case Op.Dense o -> emit(n, "Gemm", in, y, n.type(), List.of(intAttr("transB", 1)));
        case Op.Softmax o -> emit(n, "Softmax", in, y, n.type(), List.of(intAttr("axis", 1)));
        case Op.SubsamplePad o -> subsamplePad(n, in.get(0), g.node(in.get(0)).type(), o.stride(), o.before(), o.after(), y, n.type());
        default -> throw new IllegalArgumentException("ONNX export does not support op " + n.op().mnemonic() + " (%" + y + ")");
      }
    }

    /**
     * Whether an avgpool needs ONNX's ceil_mode. Not when rounding down gives our output size: then no window hangs
     * over the padded input and both modes compute the same. Where our ceil mode drops a last window that would
     * start in the right padding (PyTorch's rule, which opset 17's output-size formula lacks), rounding down gives
     * our size and the remaining windows end inside the padded input, so ceil_mode=0 is exact there too.
     */
    private static boolean ceilMode(Node n, Op.AvgPool o, TensorType xt) {
      if (!o.ceil()) return false;
      boolean[] needsCeil = new boolean[2];
      for (int d = 0; d < 2; d++) {
        int span = xt.dim(2 + d) + 2 * o.pad() - o.kernel(), out = n.type().dim(2 + d);
        if (span / o.stride() + 1 == out) continue;
        if (Math.ceilDiv(span, o.stride()) + 1 != out) throw new IllegalStateException("%" + n.name() + ": unexpected avgpool output size " + n.type());
        needsCeil[d] = true;
      }
      if (needsCeil[0] != needsCeil[1]) {
        // one dimension rounds up, the other down: one ceil_mode cannot say both
        for (int d = 0; d < 2; d++) {
          int span = xt.dim(2 + d) + 2 * o.pad() - o.kernel();
          if (Math.ceilDiv(span, o.stride()) + 1 != n.type().dim(2 + d)) {
            throw new IllegalArgumentException("ONNX export does not support avgpool %" + n.name() + ": ceil mode on " + xt
                + " rounds one dimension up and drops a window starting in the padding of the other");
          }
        }
      }
      return needsCeil[0] || needsCeil[1];
    }

    /**
     * {@code x[:, :, ::stride, ::stride]} between {@code before} and {@code after} zero channels: a {@code Slice}
     * (left out for stride 1) and a {@code Pad} (left out when there is no padding). Returns the result's name.
     */
    private String subsamplePad(Node n, String x, TensorType xt, int stride, int before, int after, String result, TensorType type) {
      String y = n.name();
      boolean pad = before > 0 || after > 0;
      if (stride > 1) {
        String starts = ints(y + "/slice_starts", 0, 0), ends = ints(y + "/slice_ends", xt.dim(2), xt.dim(3));
        String axes = ints(y + "/slice_axes", 2, 3), steps = ints(y + "/slice_steps", stride, stride);
        TensorType sliced = TensorType.of(xt.dim(0), xt.dim(1), type.dim(2), type.dim(3));
        x = emit(n, "Slice", List.of(x, starts, ends, axes, steps), pad ? value(y + "/subsampled") : result, sliced, List.of());
      }
      if (pad) {
        x = emit(n, "Pad", List.of(x, ints(y + "/pads", 0, before, 0, 0, 0, after, 0, 0)), result, type, List.of(stringAttr("mode", "constant")));
      }
      return stride > 1 || pad ? x : emit(n, "Identity", List.of(x), result, type, List.of());
    }

    /** Appends one ONNX node computing {@code output} of type {@code type}; returns {@code output}. */
    private String emit(Node from, String opType, List<String> inputs, String output, TensorType type, List<AttributeProto> attrs) {
      NodeProto.Builder b = NodeProto.newBuilder().setName(output).setOpType(opType).addAllInput(inputs).addOutput(output).addAllAttribute(attrs);
      if (!from.origin().isEmpty()) b.setDocString(from.origin());
      out.addNode(b);
      valueInfo.add(valueInfo(output, type));
      return output;
    }

    /** A fresh name for a helper value or initializer, {@code base} unless that is taken. */
    private String value(String base) {
      String name = base;
      for (int i = 2; !names.add(name); i++) name = base + "_" + i;
      return name;
    }

    private String floats(String base, float[] data, int... dims) {
      String name = value(base);
      out.addInitializer(floatTensor(name, new Tensor(TensorType.of(dims), data)));
      return name;
    }

    private String ints(String base, long... data) {
      String name = value(base);
      ByteBuffer buf = ByteBuffer.allocate(8 * data.length).order(ByteOrder.LITTLE_ENDIAN);
      for (long v : data) buf.putLong(v);
      out.addInitializer(TensorProto.newBuilder().setName(name).addDims(data.length).setDataType(TensorProto.DataType.INT64_VALUE)
          .setRawData(UnsafeByteOperations.unsafeWrap(buf.array())));
      return name;
    }
  }

  private static List<AttributeProto> conv(int kernel, int stride, int pad, int groups) {
    List<AttributeProto> attrs = new ArrayList<>(window(kernel, stride, pad));
    attrs.add(intsAttr("dilations", 1, 1));
    attrs.add(intAttr("group", groups));
    return attrs;
  }

  /** Square kernel, equal strides, the same padding on every side (ONNX pads: begins, then ends). */
  private static List<AttributeProto> window(int kernel, int stride, int pad) {
    return List.of(intsAttr("kernel_shape", kernel, kernel), intsAttr("strides", stride, stride), intsAttr("pads", pad, pad, pad, pad));
  }

  static TensorProto floatTensor(String name, Tensor t) {
    ByteBuffer buf = ByteBuffer.allocate(4 * t.data().length).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(t.data());
    TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE);
    for (int d : t.type().dims()) b.addDims(d);
    return b.setRawData(UnsafeByteOperations.unsafeWrap(buf.array())).build();
  }

  /** A float32 tensor type; a leading {@link TensorType#BATCH} becomes the symbolic dimension {@link #BATCH}. */
  static ValueInfoProto valueInfo(String name, TensorType t) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (int i = 0; i < t.rank(); i++) {
      TensorShapeProto.Dimension.Builder d = TensorShapeProto.Dimension.newBuilder();
      if (t.dim(i) == TensorType.BATCH) d.setDimParam(BATCH);
      else d.setDimValue(t.dim(i));
      shape.addDim(d);
    }
    TypeProto type = TypeProto.newBuilder()
        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))
        .build();
    return ValueInfoProto.newBuilder().setName(name).setType(type).build();
  }

  static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
  }

  static AttributeProto intsAttr(String name, long... vs) {
    AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
    for (long v : vs) b.addInts(v);
    return b.build();
  }

  static AttributeProto floatAttr(String name, float v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
  }

  static AttributeProto stringAttr(String name, String v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(v)).build();
  }
}
