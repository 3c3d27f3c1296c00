package resnetc.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import resnetc.ir.Graph;
import resnetc.ir.IrException;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.ir.Verifier;
import resnetc.onnx.ConstTensor.Unsupported;
import resnetc.onnx.proto.Onnx.AttributeProto;
import resnetc.onnx.proto.Onnx.GraphProto;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.onnx.proto.Onnx.NodeProto;
import resnetc.onnx.proto.Onnx.OperatorSetIdProto;
import resnetc.onnx.proto.Onnx.TensorProto;
import resnetc.onnx.proto.Onnx.TensorShapeProto;
import resnetc.onnx.proto.Onnx.ValueInfoProto;

/**
 * An ONNX model (default domain, opsets {@value #MIN_OPSET} to {@value #MAX_OPSET}; the attributes of older
 * versions that change what an op computes, such as {@code broadcast} or {@code consumed_inputs}, are refused like
 * any attribute resnetc does not read) straight into the IR, with its
 * weights bound. Each node maps to IR ops that compute what ONNX specifies, or the import fails with an
 * {@link OnnxImportException} naming the node and the reason: never a graph that computes something else.
 *
 * <ul>
 *   <li>{@code Conv} (square kernel, equal strides, symmetric padding, groups, with or without bias), {@code
 *       BatchNormalization} (inference), {@code Relu}, {@code Add} and {@code Sum} of activations, {@code
 *       MaxPool}, {@code AveragePool}, {@code GlobalAveragePool}, {@code Gemm}, {@code MatMul} (an {@code Add} of
 *       a constant after it, or after a conv without bias, becomes the bias), {@code Softmax}, {@code Identity},
 *       inference {@code Dropout};
 *   <li>{@code Flatten}, {@code Reshape} to {@code [N, -1]}, {@code Squeeze}/{@code Unsqueeze} that keep the batch
 *       first: views of the same data, which only element-wise ops, the dense layer and softmax may read as
 *       reshaped;
 *   <li>{@code Slice} with steps on the spatial axes and a zero {@code Pad} of the channel axis: the option-A
 *       shortcut, one {@code subsample_pad};
 *   <li>{@code Div}, {@code Sub}, {@code Div} by constants at the graph input: the input normalization;
 *   <li>shape arithmetic folded at import ({@code Constant}, {@code Shape}, {@code Gather}, {@code Unsqueeze},
 *       {@code Squeeze}, {@code Concat}, {@code ConstantOfShape}, {@code Cast}, {@code Transpose}, {@code Reshape},
 *       {@code Slice}, {@code Add}/{@code Sub}/{@code Mul}/{@code Div} of constants), with the batch size kept
 *       symbolic; an {@code AveragePool} whose window is the whole input becomes {@code global_avgpool}.
 * </ul>
 *
 * The first dimension of the single graph input is the batch (symbolic, or fixed in the file: the model then runs
 * any batch size, which is sound because no supported op mixes batch items); every other dimension must be
 * fixed. Only the nodes the output needs are imported. IR values are named after the weights' module paths where
 * the file has them ({@code layer1.0.conv1}), else after the ONNX node; constants after their node and role
 * ({@code layer1.0.conv1.bias}), as a state dict would.
 *
 * <p>Limits on hostile files: at most 2 GiB of protobuf, {@value #MAX_NODES} nodes, {@value
 * OnnxTensors#MAX_ELEMENTS} elements per tensor, {@value ConstTensor#MAX_FOLDED} per folded constant, dimensions up
 * to {@value #MAX_DIM}; external data only inside the model's directory.
 */
public final class OnnxImport {
  public static final int MIN_OPSET = 1, MAX_OPSET = 22;
  public static final int MAX_NODES = 1 << 20;
  /** The largest dimension of an activation, as for specs. */
  public static final int MAX_DIM = 1 << 20;

  private OnnxImport() {}

  /** Reads {@code file} (external data relative to its directory); the graph is named {@code name}. */
  public static Graph read(Path file, String name) {
    String shown = file.getFileName() == null ? file.toString() : file.getFileName().toString();
    ModelProto model;
    try (InputStream in = Files.newInputStream(file)) {
      long size = Files.size(file);
      if (size > Integer.MAX_VALUE) throw new OnnxImportException(shown + ": " + size + " bytes; ONNX files (protobuf) are at most 2 GiB");
      model = parse(in, shown);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new OnnxImportException(file + ": no such file");
    } catch (IOException e) {
      throw new OnnxImportException(file + ": cannot read (" + e.getMessage() + ")");
    }
    Path dir = file.toAbsolutePath().getParent();
    return fromModel(model, dir, shown, name);
  }

  /** Parses an ONNX protobuf; malformed bytes are an {@link OnnxImportException}. */
  static ModelProto parse(InputStream in, String shown) throws IOException {
    CodedInputStream cin = CodedInputStream.newInstance(in);
    cin.setSizeLimit(Integer.MAX_VALUE);
    try {
      return ModelProto.parseFrom(cin);
    } catch (InvalidProtocolBufferException e) {
      throw new OnnxImportException(shown + ": not an ONNX model (" + e.getMessage() + ")");
    }
  }

  /**
   * The graph of a parsed model. {@code dir} is where external data may be (null: none allowed); {@code shown}
   * names the model in messages and origins.
   */
  public static Graph fromModel(ModelProto model, Path dir, String shown, String name) {
    try (OnnxTensors tensors = new OnnxTensors(dir)) {
      return new Importer(model, tensors, shown, name).run();
    }
  }

  // ---- what the importer knows about each ONNX value ----

  private sealed interface Value permits Const, Act {}

  /** A constant: an initializer, a Constant node, or folded shape arithmetic. */
  private record Const(ConstTensor t) implements Value {}

  /**
   * An activation: the IR value {@code ir} holds its data row-major, the ONNX shape is {@code shape} (batch first,
   * {@link TensorType#BATCH}). The IR type equals the shape unless the value is a reshaped view of {@code ir}, or
   * {@code view} is a pending option-A subsample/channel pad of it, emitted when something reads it.
   */
  private record Act(String ir, int[] shape, View view) implements Value {}

  /**
   * {@code x[:, :, ::strideH, ::strideW]} between {@code before} and {@code after} zero channels; named after the
   * last node that extended it, which is the one whose output is read.
   */
  private record View(int strideH, int strideW, int before, int after, String name, String origin) {}

  /** The ops of the default domain the importer knows, for the node test suite and messages. */
  public static final Set<String> OPS = Set.of("Conv", "BatchNormalization", "Relu", "Add", "Sum", "Sub", "Div", "Mul", "MaxPool",
      "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Gemm", "MatMul", "Softmax", "Identity",
      "Dropout", "Pad", "Slice", "Constant", "Shape", "Gather", "Concat", "ConstantOfShape", "Cast", "Transpose");

  private static final class Importer {
    private final ModelProto model;
    private final GraphProto g;
    private final OnnxTensors tensors;
    private final String shown, name;
    private int opset;
    private final Map<String, TensorProto> initializers = new HashMap<>();
    private final Map<String, Value> values = new HashMap<>();
    /** Readers of each ONNX value among the nodes imported, plus one for the graph output. */
    private final Map<String, Integer> uses = new HashMap<>();
    /** The op types of those readers. */
    private final Map<String, List<String>> readers = new HashMap<>();
    /** The node computing each ONNX value, for messages about values used too early. */
    private final Map<String, Integer> producer = new HashMap<>();
    private final List<Node> nodes = new ArrayList<>();
    private final Map<String, Integer> nodeIndex = new HashMap<>();
    private final Map<String, Tensor> constants = new LinkedHashMap<>();
    private final Set<String> taken = new HashSet<>();
    private final Map<ConstTensor, String> irConsts = new IdentityHashMap<>();
    private final Map<Act, String> materialized = new IdentityHashMap<>();
    private String inputIr;
    /** The input's batch dimension as the file fixes it, or -1 when symbolic. */
    private long declaredBatch = -1;

    Importer(ModelProto model, OnnxTensors tensors, String shown, String name) {
      this.model = model;
      this.g = model.getGraph();
      this.tensors = tensors;
      this.shown = shown;
      this.name = name;
    }

    private OnnxImportException error(String message) {
      return new OnnxImportException(shown + ": " + message);
    }

    Graph run() {
      if (!model.hasGraph()) throw error("the model has no graph");
      opset = opset();
      if (g.getUnknownFields().hasField(15)) throw error("the graph has sparse initializers, which resnetc does not import");
      if (g.getNodeCount() > MAX_NODES) throw error(g.getNodeCount() + " nodes; resnetc imports at most " + MAX_NODES);
      for (TensorProto t : g.getInitializerList()) {
        if (initializers.putIfAbsent(t.getName(), t) != null) throw error("initializer '" + t.getName() + "' is defined twice");
      }
      input();
      if (g.getOutputCount() != 1) throw error(g.getOutputCount() + " graph outputs; resnetc compiles models with one output");
      String out = g.getOutput(0).getName();
      for (int i = 0; i < g.getNodeCount(); i++) {
        for (String o : g.getNode(i).getOutputList()) {
          if (o.isEmpty()) continue;
          if (producer.putIfAbsent(o, i) != null || initializers.containsKey(o) || values.containsKey(o)) {
            throw error("value '" + o + "' is defined twice (by node " + i + " and before it)");
          }
        }
      }
      List<NodeProto> live = liveNodes(out);
      for (NodeProto n : live) {
        for (String in : n.getInputList()) {
          if (in.isEmpty()) continue;
          uses.merge(in, 1, Integer::sum);
          readers.computeIfAbsent(in, k -> new ArrayList<>()).add(n.getOpType());
        }
      }
      uses.merge(out, 1, Integer::sum);
      for (NodeProto n : live) node(n);
      return finish(out);
    }

    private int opset() {
      Long v = null;
      for (OperatorSetIdProto o : model.getOpsetImportList()) {
        if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) v = o.getVersion();
      }
      if (v == null) throw error("the model imports no version of the default ONNX operator set");
      if (v < MIN_OPSET || v > MAX_OPSET) throw error("opset " + v + " is outside the versions resnetc knows (" + MIN_OPSET + " to " + MAX_OPSET + ")");
      return v.intValue();
    }

    /** The one graph input that is not an initializer: float32, batch first, every other dimension fixed. */
    private void input() {
      List<ValueInfoProto> real = g.getInputList().stream().filter(v -> !initializers.containsKey(v.getName())).toList();
      if (real.size() != 1) throw error(real.size() + " graph inputs; resnetc compiles models with one input (weights must be initializers)");
      ValueInfoProto in = real.get(0);
      String what = "graph input '" + in.getName() + "'";
      if (!in.getType().hasTensorType()) throw error(what + " is not a tensor");
      int type = in.getType().getTensorType().getElemType();
      if (type != TensorProto.DataType.FLOAT_VALUE) throw error(what + " has type " + OnnxTensors.typeName(type) + "; resnetc models take float32");
      if (!in.getType().getTensorType().hasShape()) throw error(what + " has no shape; resnetc needs every dimension but the batch fixed");
      TensorShapeProto shape = in.getType().getTensorType().getShape();
      if (shape.getDimCount() < 2) throw error(what + " has rank " + shape.getDimCount() + "; resnetc needs a batch dimension and at least one more");
      int[] dims = new int[shape.getDimCount()];
      dims[0] = TensorType.BATCH;
      TensorShapeProto.Dimension d0 = shape.getDim(0);
      if (d0.hasDimValue()) {
        if (d0.getDimValue() < 1) throw error(what + " has batch size " + d0.getDimValue());
        declaredBatch = d0.getDimValue();
      }
      for (int i = 1; i < dims.length; i++) {
        TensorShapeProto.Dimension d = shape.getDim(i);
        if (!d.hasDimValue()) {
          throw error(what + " dimension " + i + " is " + (d.hasDimParam() ? "symbolic '" + d.getDimParam() + "'" : "unknown")
              + "; resnetc needs every dimension but the batch (the first) fixed");
        }
        if (d.getDimValue() < 1 || d.getDimValue() > MAX_DIM) throw error(what + " dimension " + i + " is " + d.getDimValue() + " (1 to " + MAX_DIM + " supported)");
        dims[i] = (int) d.getDimValue();
      }
      inputIr = unique(clean(in.getName(), "input"));
      add(new Node(inputIr, new Op.Input(), List.of(), TensorType.of(dims), shown));
      values.put(in.getName(), new Act(inputIr, dims, null));
    }

    /** The nodes the output depends on, in file order. */
    private List<NodeProto> liveNodes(String out) {
      Map<String, Integer> producerOf = new HashMap<>();
      for (int i = 0; i < g.getNodeCount(); i++) {
        for (String o : g.getNode(i).getOutputList()) if (!o.isEmpty()) producerOf.putIfAbsent(o, i);
      }
      boolean[] live = new boolean[g.getNodeCount()];
      List<String> work = new ArrayList<>(List.of(out));
      while (!work.isEmpty()) {
        Integer p = producerOf.get(work.removeLast());
        if (p == null || live[p]) continue;
        live[p] = true;
        for (String in : g.getNode(p).getInputList()) if (!in.isEmpty()) work.add(in);
      }
      List<NodeProto> nodes = new ArrayList<>();
      for (int i = 0; i < live.length; i++) if (live[i]) nodes.add(g.getNode(i));
      return nodes;
    }

    private Graph finish(String out) {
      Value v = values.get(out);
      if (v == null) throw error("graph output '" + out + "' is computed by no node");
      if (!(v instanceof Act a)) throw error("graph output '" + out + "' is a constant; resnetc compiles models that compute from their input");
      checkDeclaredOutput(g.getOutput(0), a.shape());
      String result;
      try {
        result = elementwise(a, null);
      } catch (Unsupported e) {
        throw error("graph output '" + out + "': " + e.getMessage());
      }
      Graph graph = new Graph(name, nodes, result, constants);
      List<String> problems = Verifier.problems(graph);
      if (!problems.isEmpty()) throw new IllegalStateException(shown + ": the import built an invalid graph: " + problems.get(0));
      return graph;
    }

    private void checkDeclaredOutput(ValueInfoProto out, int[] shape) {
      if (!out.getType().hasTensorType()) return;
      int type = out.getType().getTensorType().getElemType();
      if (type != 0 && type != TensorProto.DataType.FLOAT_VALUE) {
        throw error("graph output '" + out.getName() + "' has type " + OnnxTensors.typeName(type) + "; resnetc models output float32");
      }
      if (!out.getType().getTensorType().hasShape()) return;
      TensorShapeProto s = out.getType().getTensorType().getShape();
      boolean same = s.getDimCount() == shape.length;
      for (int i = 1; same && i < shape.length; i++) same = !s.getDim(i).hasDimValue() || s.getDim(i).getDimValue() == shape[i];
      if (!same) throw error("graph output '" + out.getName() + "' is declared " + declared(s) + " but the graph computes " + text(shape));
    }

    private static String declared(TensorShapeProto s) {
      return s.getDimList().stream().map(d -> d.hasDimValue() ? Long.toString(d.getDimValue()) : d.hasDimParam() ? d.getDimParam() : "?")
          .collect(java.util.stream.Collectors.joining(", ", "[", "]"));
    }

    // ---- one node ----

    private void node(NodeProto n) {
      String where = "node '" + (n.getName().isEmpty() ? n.getOutputCount() > 0 ? n.getOutput(0) : "?" : n.getName()) + "' (" + n.getOpType() + ")";
      try {
        if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) throw new Unsupported("op domain '" + n.getDomain() + "' is not ONNX's default domain");
        if (n.getOutputCount() == 0 || n.getOutput(0).isEmpty()) throw new Unsupported("the node has no output");
        for (int i = 1; i < n.getOutputCount(); i++) {
          if (!n.getOutput(i).isEmpty()) throw new Unsupported("output " + i + " ('" + n.getOutput(i) + "') is not supported (resnetc computes only the first output of " + n.getOpType() + ")");
        }
        for (String in : n.getInputList()) {
          if (!in.isEmpty() && !values.containsKey(in) && !initializers.containsKey(in)) {
            Integer p = producer.get(in);
            throw new Unsupported(p != null ? "uses '" + in + "' before the node that computes it (nodes must be in topological order)"
                : "uses '" + in + "', which no node, initializer or graph input defines");
          }
        }
        Value v = compute(n, new Attrs(n));
        if (values.putIfAbsent(n.getOutput(0), v) != null || initializers.containsKey(n.getOutput(0))) {
          throw new Unsupported("output '" + n.getOutput(0) + "' is defined twice");
        }
      } catch (Unsupported e) {
        throw error(where + ": " + e.getMessage());
      } catch (IrException e) {
        throw error(where + ": " + e.getMessage());
      } catch (ArithmeticException e) {
        throw error(where + ": integer overflow in its shapes or attributes");
      }
    }

    private Value compute(NodeProto n, Attrs a) {
      String op = n.getOpType();
      if (!OPS.contains(op)) throw new Unsupported("op " + op + " is not supported (resnetc imports " + String.join(", ", new java.util.TreeSet<>(OPS)) + ")");
      Value result = switch (op) {
        case "Conv" -> conv(n, a);
        case "BatchNormalization" -> batchNorm(n, a);
        case "Relu" -> {
          a.done();
          Act x = act(n, 0);
          yield new Act(emit(n, null, new Op.Relu(), List.of(elementwise(x, n))), x.shape(), null);
        }
        case "Add", "Sub", "Mul", "Div" -> arithmetic(n, a);
        case "Sum" -> sum(n, a);
        case "MaxPool", "AveragePool" -> pool(n, a);
        case "GlobalAveragePool" -> {
          a.done();
          Act x = act(n, 0);
          rank(x, 4, "GlobalAveragePool");
          yield wholePlane(n, x, exact(x, n));
        }
        case "Flatten" -> flatten(n, a);
        case "Reshape" -> reshape(n, a);
        case "Squeeze", "Unsqueeze" -> squeeze(n, a, op.equals("Unsqueeze"));
        case "Gemm" -> gemm(n, a);
        case "MatMul" -> matmul(n, a);
        case "Softmax" -> softmax(n, a);
        case "Identity" -> {
          a.done();
          yield value(n, 0);
        }
        case "Dropout" -> dropout(n, a);
        case "Pad" -> pad(n, a);
        case "Slice" -> slice(n, a);
        case "Constant" -> constant(n, a);
        case "Shape" -> shape(n, a);
        case "Gather" -> {
          long axis = a.i("axis", 0);
          a.done();
          yield new Const(constant(n, 0, "data").gather(constant(n, 1, "indices"), axis));
        }
        case "Concat" -> {
          long axis = a.required("axis").getI();
          a.done();
          List<ConstTensor> parts = new ArrayList<>();
          for (int i = 0; i < n.getInputCount(); i++) parts.add(constant(n, i, "input " + i));
          if (parts.isEmpty()) throw new Unsupported("Concat of nothing");
          yield new Const(ConstTensor.concat(parts, axis));
        }
        case "ConstantOfShape" -> constantOfShape(n, a);
        case "Cast" -> cast(n, a);
        case "Transpose" -> {
          long[] perm = a.ints("perm");
          a.done();
          yield new Const(constant(n, 0, "input").transpose(perm));
        }
        default -> throw new IllegalStateException(op);
      };
      if (result instanceof Act x) checkDims(x.shape());
      return result;
    }

    private static void checkDims(int[] shape) {
      for (int i = 1; i < shape.length; i++) {
        if (shape[i] < 1 || shape[i] > MAX_DIM) throw new Unsupported("result dimension " + i + " is " + shape[i] + " (1 to " + MAX_DIM + " supported)");
      }
    }

    // ---- operands ----

    private Value value(NodeProto n, int i) {
      if (i >= n.getInputCount() || n.getInput(i).isEmpty()) throw new Unsupported("input " + i + " is missing");
      String in = n.getInput(i);
      Value v = values.get(in);
      if (v != null) return v;
      TensorProto t = initializers.get(in);
      Const c = new Const(tensors.read(t, "initializer '" + in + "'"));
      values.put(in, c);
      return c;
    }

    private boolean has(NodeProto n, int i) {
      return i < n.getInputCount() && !n.getInput(i).isEmpty();
    }

    private Act act(NodeProto n, int i) {
      if (value(n, i) instanceof Act x) return x;
      throw new Unsupported("input " + i + " ('" + n.getInput(i) + "') is a constant; resnetc computes " + n.getOpType()
          + " on activations and folds only shape arithmetic");
    }

    private ConstTensor constant(NodeProto n, int i, String what) {
      if (value(n, i) instanceof Const c) return c.t();
      throw new Unsupported(what + " ('" + n.getInput(i) + "') is computed from the graph input; resnetc needs it constant");
    }

    private ConstTensor floats(NodeProto n, int i, String what) {
      ConstTensor t = constant(n, i, what);
      if (!t.isFloat()) throw new Unsupported(what + " ('" + n.getInput(i) + "') is not float32");
      return t;
    }

    private static void rank(Act x, int rank, String op) {
      if (x.shape().length != rank) throw new Unsupported(op + " of a rank-" + x.shape().length + " tensor " + text(x.shape()) + "; resnetc supports rank " + rank);
    }

    /** The IR value with the data of {@code x} (any IR type), for element-wise ops; emits a pending view. */
    private String elementwise(Act x, NodeProto n) {
      if (x.view() == null) return x.ir();
      String done = materialized.get(x);
      if (done != null) return done;
      View v = x.view();
      if (v.strideH() != v.strideW()) {
        throw new Unsupported("the shortcut subsamples rows by " + v.strideH() + " and columns by " + v.strideW()
            + "; resnetc's option-A shortcut uses one stride for both");
      }
      String y = emit(v.name(), v.origin(), new Op.SubsamplePad(v.strideH(), v.before(), v.after()), List.of(x.ir()));
      materialized.put(x, y);
      return y;
    }

    /** The IR value of {@code x} with exactly its ONNX shape, for ops that read a layout (conv, pools, ...). */
    private String exact(Act x, NodeProto n) {
      String y = elementwise(x, n);
      TensorType t = type(y);
      if (!t.equals(TensorType.of(x.shape()))) {
        throw new Unsupported("input " + text(x.shape()) + " is a reshaped view of " + t + "; resnetc's IR has no reshape, so "
            + n.getOpType() + " cannot read it");
      }
      return y;
    }

    private TensorType type(String ir) {
      return nodes.get(nodeIndex.get(ir)).type();
    }

    // ---- emitting IR ----

    private void add(Node node) {
      nodeIndex.put(node.name(), nodes.size());
      nodes.add(node);
    }

    private String emit(NodeProto n, String weight, Op op, List<String> inputs) {
      return emit(base(n, weight), origin(n), op, inputs);
    }

    private String emit(String base, String origin, Op op, List<String> inputs) {
      return emitted(unique(base), origin, op, inputs).ir();
    }

    /** Appends node {@code y} (a name from {@link #unique}); its activation has the IR type's shape. */
    private Act emitted(String y, String origin, Op op, List<String> inputs) {
      TensorType t = op.infer(inputs.stream().map(this::type).toList());
      add(new Node(y, op, inputs, t, origin));
      return new Act(y, t.dims(), null);
    }

    private void replace(String ir, Op op, List<String> inputs) {
      int i = nodeIndex.get(ir);
      Node old = nodes.get(i);
      TensorType t = op.infer(inputs.stream().map(this::type).toList());
      if (!t.equals(old.type())) throw new IllegalStateException("replacing %" + ir + " changes its type");
      nodes.set(i, new Node(ir, op, inputs, t, old.origin()));
    }

    /** An IR constant with this data and IR shape, named {@code base} (one IR constant per ONNX constant). */
    private String irConstant(ConstTensor t, String base, int... dims) {
      return irConstantAt(nodes.size(), t, base, dims);
    }

    /** {@link #irConstant} placed before the node at {@code at}, which reads it. */
    private String irConstantAt(int at, ConstTensor t, String base, int... dims) {
      String known = irConsts.get(t);
      if (known != null && type(known).equals(TensorType.of(dims)) && nodeIndex.get(known) < at) return known;
      String c = unique(base);
      TensorType type = TensorType.of(dims);
      nodes.add(at, new Node(c, new Op.Const(), List.of(), type, ""));
      for (int i = at; i < nodes.size(); i++) nodeIndex.put(nodes.get(i).name(), i);
      constants.put(c, new Tensor(type, t.floats()));
      if (known == null) irConsts.put(t, c);
      return c;
    }

    private String origin(NodeProto n) {
      return shown + " " + (n.getName().isEmpty() ? n.getOpType() + " -> " + n.getOutput(0) : n.getName());
    }

    /** A name no IR value has, reserved. */
    private String unique(String base) {
      String s = base;
      for (int i = 2; taken.contains(s); i++) s = base + "_" + i;
      taken.add(s);
      return s;
    }

    /**
     * A readable IR name: the module path of the weights ({@code layer1.0.conv1.weight} gives {@code
     * layer1.0.conv1}), else the node's path ({@code /layer1/layer1.0/conv1/Conv} gives {@code layer1.0.conv1},
     * {@code /layer1/layer1.0/Relu_1} gives {@code layer1.0.relu_1}), else its name or output.
     */
    private static String base(NodeProto n, String weight) {
      if (weight != null && weight.endsWith(".weight") && weight.matches("[A-Za-z0-9_.]+") && weight.length() > 7) {
        return weight.substring(0, weight.length() - 7);
      }
      String raw = n.getName().isEmpty() ? n.getOutput(0) : n.getName();
      if (raw.startsWith("/")) {
        String[] parts = raw.substring(1).split("/");
        String path = "";
        for (int i = 0; i < parts.length - 1; i++) path = parts[i].startsWith(path + ".") && !path.isEmpty() ? parts[i] : path.isEmpty() ? parts[i] : path + "." + parts[i];
        String last = parts[parts.length - 1];
        boolean bareOp = last.equals(n.getOpType()) && weight != null;
        raw = bareOp && !path.isEmpty() ? path : path.isEmpty() ? last.toLowerCase(Locale.ROOT) : path + "." + last.toLowerCase(Locale.ROOT);
      } else if (raw.startsWith("node_")) {
        raw = raw.substring(5);
      }
      return clean(raw, n.getOpType().toLowerCase(Locale.ROOT));
    }

    /** Letters, digits, '_' and '.', without "_output_0" and leading or trailing separators. */
    private static String clean(String raw, String fallback) {
      String s = raw.replace("_output_0", "").replaceAll("[^A-Za-z0-9_.]+", "_").replaceAll("^[._]+|[._]+$", "");
      return s.isEmpty() ? fallback : s;
    }

    // ---- ops ----

    private Value conv(NodeProto n, Attrs a) {
      Act x = act(n, 0);
      rank(x, 4, "Conv");
      ConstTensor w = floats(n, 1, "the weight");
      if (w.rank() != 4) throw new Unsupported("weight " + ConstTensor.text(w.dims()) + " is not rank 4 [out, in/groups, kH, kW]");
      int k = square(w.dims()[2], w.dims()[3], "kernel");
      long[] ks = a.ints("kernel_shape");
      if (ks != null && (ks.length != 2 || ks[0] != w.dims()[2] || ks[1] != w.dims()[3])) {
        throw new Unsupported("kernel_shape " + ConstTensor.text(ks) + " does not match the weight " + ConstTensor.text(w.dims()));
      }
      int stride = strides(a);
      undilated(a);
      int pad = padding(n, a, x.shape(), k, stride);
      long groups = a.i("group", 1);
      a.done();
      if (groups < 1 || groups > MAX_DIM) throw new Unsupported("group " + groups);
      String xi = exact(x, n), y = unique(base(n, n.getInput(1)));
      List<String> ins = new ArrayList<>(List.of(xi, irConstant(w, y + ".weight", ints(w.dims()))));
      if (has(n, 2)) {
        ConstTensor b = floats(n, 2, "the bias");
        if (b.rank() != 1 || b.dims()[0] != w.dims()[0]) throw new Unsupported("bias " + ConstTensor.text(b.dims()) + " is not [" + w.dims()[0] + "]");
        ins.add(irConstant(b, y + ".bias", (int) w.dims()[0]));
      }
      return emitted(y, origin(n), new Op.Conv2d(k, stride, pad, (int) groups), ins);
    }

    private Value batchNorm(NodeProto n, Attrs a) {
      Act x = act(n, 0);
      float eps = a.f("epsilon", 1e-5f);
      a.f("momentum", 0.9f); // only training updates the running statistics with it
      if (a.i("spatial", 1) != 1) throw new Unsupported("spatial=0 (per-element statistics) is not supported");
      if (opset < 7 && a.i("is_test", 0) == 0) throw new Unsupported("is_test=0 (before opset 7, the default) normalizes with batch statistics");
      if (a.i("training_mode", 0) != 0) throw new Unsupported("training_mode=1 normalizes with batch statistics; resnetc imports inference graphs");
      a.done();
      int c = x.shape().length >= 2 ? x.shape()[1] : 0;
      String xi;
      boolean pooledVector = x.shape().length == 4 && x.shape()[2] == 1 && x.shape()[3] == 1 && type(elementwise(x, n)).equals(TensorType.batched(c));
      if (pooledVector) xi = elementwise(x, n); // [N,C,1,1] held as [N,C]: the same per-channel normalization
      else if (x.shape().length == 4 || x.shape().length == 2) xi = exact(x, n);
      else throw new Unsupported("BatchNormalization of a rank-" + x.shape().length + " tensor; resnetc supports rank 2 and 4");
      String y = unique(base(n, n.getInput(1)));
      String[] roles = {"weight", "bias", "running_mean", "running_var"};
      List<String> ins = new ArrayList<>(List.of(xi));
      for (int i = 0; i < 4; i++) {
        ConstTensor p = floats(n, i + 1, roles[i]);
        if (p.size() != c || p.rank() != 1) throw new Unsupported(roles[i] + " " + ConstTensor.text(p.dims()) + " is not [" + c + "]");
        ins.add(irConstant(p, y + "." + roles[i], c));
      }
      return new Act(emitted(y, origin(n), new Op.BatchNorm(eps), ins).ir(), x.shape(), null);
    }

    /**
     * Add of activations; Add of a constant bias right after a conv or dense layer without one; constant folding;
     * and Div, Sub, Div by constants at the graph input (the input normalization).
     */
    private Value arithmetic(NodeProto n, Attrs a) {
      a.done();
      String op = n.getOpType();
      Value x = value(n, 0), y = value(n, 1);
      if (x instanceof Const cx && y instanceof Const cy) return new Const(ConstTensor.arithmetic(op, cx.t(), cy.t()));
      if (x instanceof Act ax && y instanceof Act ay) {
        if (!op.equals("Add")) throw new Unsupported(op + " of two activations is not supported (resnetc adds residuals)");
        return addActs(n, ax, ay);
      }
      if (op.equals("Add")) {
        Act act = x instanceof Act ax ? ax : (Act) y;
        ConstTensor c = x instanceof Const cx ? cx.t() : ((Const) y).t();
        return bias(n, act, c);
      }
      if (y instanceof Const cy && x instanceof Act ax && !op.equals("Mul")) return normalize(n, op, ax, cy.t());
      throw new Unsupported(op + " of an activation and a constant is supported only as input normalization: "
          + "Div by a scalar, Sub of per-channel means, Div by per-channel stds, at the graph input");
    }

    private Act addActs(NodeProto n, Act x, Act y) {
      if (!Arrays.equals(x.shape(), y.shape())) {
        throw new Unsupported("Add of " + text(x.shape()) + " and " + text(y.shape()) + " broadcasts; resnetc adds tensors of one shape");
      }
      String xi = elementwise(x, n), yi = elementwise(y, n);
      if (!type(xi).equals(type(yi))) throw new Unsupported("Add of a reshaped view: resnetc's IR has no reshape");
      return new Act(emit(n, null, new Op.Add(), List.of(xi, yi)), x.shape(), null);
    }

    private Value sum(NodeProto n, Attrs a) {
      a.done();
      if (n.getInputCount() == 0) throw new Unsupported("Sum of nothing");
      Act acc = act(n, 0);
      for (int i = 1; i < n.getInputCount(); i++) acc = addActs(n, acc, act(n, i));
      return acc;
    }

    /** A constant added to the output of a conv or dense layer that has no bias and no other reader: its bias. */
    private Value bias(NodeProto n, Act x, ConstTensor c) {
      Node p = x.view() == null ? nodes.get(nodeIndex.get(x.ir())) : null;
      String in = n.getInput(value(n, 0) == x ? 0 : 1);
      boolean biasFree = p != null && (p.op() instanceof Op.Conv2d || p.op() instanceof Op.Dense) && p.inputs().size() == 2;
      if (!biasFree || uses.getOrDefault(in, 0) != 1 || !c.isFloat() || !type(x.ir()).equals(TensorType.of(x.shape()))) {
        throw new Unsupported("Add of a constant is supported only as the bias of a Conv, Gemm or MatMul without one that nothing else reads");
      }
      int channels = x.shape()[1];
      // the constant must broadcast along the channel axis only: [C], [1,C], [C,1,1], [1,C,1,1] (or a scalar)
      int[] expanded = perChannel(c, x.shape().length, channels);
      if (expanded == null) {
        throw new Unsupported("bias " + ConstTensor.text(c.dims()) + " does not broadcast per channel over " + text(x.shape()));
      }
      float[] data = c.size() == channels ? c.floats() : filled(channels, c.floats()[0]);
      ConstTensor b = ConstTensor.ofFloats(new long[] {channels}, data);
      List<String> ins = new ArrayList<>(p.inputs());
      ins.add(irConstantAt(nodeIndex.get(p.name()), b, p.name() + ".bias", channels));
      replace(p.name(), p.op(), ins);
      return x;
    }

    /** The constant's layout when it holds one value per channel (or one for all) for a rank-{@code rank} tensor. */
    private static int[] perChannel(ConstTensor c, int rank, int channels) {
      if (c.rank() > rank) return null;
      long[] d = c.dims();
      for (int i = 0; i < d.length; i++) {
        int axis = rank - d.length + i; // numpy broadcasting aligns the last dimensions
        if (d[i] != 1 && !(axis == 1 && d[i] == channels)) return null;
      }
      return new int[] {c.size() == 1 ? 1 : channels};
    }

    private static float[] filled(int n, float v) {
      float[] f = new float[n];
      Arrays.fill(f, v);
      return f;
    }

    /**
     * {@code Div}/{@code Sub} by constants at the graph input, merged into one {@code normalize}: it computes
     * {@code (x / div - mean) / std} with the same float operations, and {@code / 1} or {@code - 0} change nothing.
     */
    private Value normalize(NodeProto n, String op, Act x, ConstTensor c) {
      if (!c.isFloat()) throw new Unsupported(op + " by an integer constant");
      boolean atInput = x.ir().equals(inputIr) && x.view() == null && x.shape().length == 4;
      Node prev = x.view() == null ? nodes.get(nodeIndex.get(x.ir())) : null;
      boolean afterNormalize = prev != null && prev.op() instanceof Op.Normalize && uses.getOrDefault(n.getInput(0), 0) == 1;
      if (!atInput && !afterNormalize) {
        throw new Unsupported(op + " of an activation by a constant is supported only as input normalization at the graph input");
      }
      int channels = x.shape()[1];
      if (perChannel(c, 4, channels) == null) throw new Unsupported(op + " by " + ConstTensor.text(c.dims()) + " is not per channel of " + text(x.shape()));
      float[] v = c.size() == channels ? c.floats() : filled(channels, c.floats()[0]);
      Op.Normalize cur = afterNormalize ? (Op.Normalize) prev.op() : new Op.Normalize(1, filled(channels, 0), filled(channels, 1));
      boolean identityStd = allEqual(cur.std(), 1), zeroMean = allEqual(cur.mean(), 0) && identityStd;
      Op.Normalize next;
      if (op.equals("Sub") && zeroMean) {
        next = new Op.Normalize(cur.div(), v, cur.std());
      } else if (op.equals("Div") && identityStd && zeroMean && cur.div() == 1 && c.size() == 1) {
        next = new Op.Normalize(v[0], cur.mean(), cur.std());
      } else if (op.equals("Div") && identityStd) {
        next = new Op.Normalize(cur.div(), cur.mean(), v);
      } else {
        throw new Unsupported(op + " after the input normalization " + cur.attrs() + " does not fit (x / div - mean) / std");
      }
      if (afterNormalize) {
        replace(prev.name(), next, prev.inputs());
        return x;
      }
      return new Act(emit("normalize", origin(n), next, List.of(inputIr)), x.shape(), null);
    }

    private static boolean allEqual(float[] v, float x) {
      for (float f : v) if (f != x) return false;
      return true;
    }

    private Value pool(NodeProto n, Attrs a) {
      boolean max = n.getOpType().equals("MaxPool");
      Act x = act(n, 0);
      rank(x, 4, n.getOpType());
      long[] ks = a.ints("kernel_shape");
      if (ks == null) throw new Unsupported("kernel_shape is missing");
      if (ks.length != 2) throw new Unsupported("kernel_shape " + ConstTensor.text(ks) + " is not 2-D");
      int k = square(ks[0], ks[1], "kernel");
      int stride = strides(a);
      undilated(a);
      boolean countPad = !max && a.i("count_include_pad", 0) != 0;
      if (max) a.i("storage_order", 0); // only orders the indices output, which is refused
      long ceilMode = a.i("ceil_mode", 0);
      int pad = padding(n, a, x.shape(), k, stride);
      a.done();
      int h = x.shape()[2], w = x.shape()[3];
      if (h + 2 * pad < k || w + 2 * pad < k) throw new Unsupported("a " + k + "x" + k + " window does not fit " + text(x.shape()) + " with pads " + pad);
      int[] ceilOut = new int[2];
      boolean ceil = false;
      for (int d = 0; d < 2; d++) {
        int span = x.shape()[2 + d] + 2 * pad - k;
        ceilOut[d] = (ceilMode != 0 ? Math.ceilDiv(span, stride) : span / stride) + 1;
        ceil |= ceilOut[d] != span / stride + 1;
      }
      if (ceil && (max || countPad)) {
        throw new Unsupported("ceil_mode=1 adds a window that hangs over the edge of " + text(x.shape())
            + (max ? "; resnetc's max pools round down" : " and count_include_pad=1 (runtimes disagree on its divisor)"));
      }
      String xi = exact(x, n);
      if (!max && k == h && k == w && pad == 0 && flattenedOnly(n.getOutput(0))) return wholePlane(n, x, xi);
      Op op = max ? new Op.MaxPool(k, stride, pad) : new Op.AvgPool(k, stride, pad, ceil, countPad);
      TensorType t = op.infer(List.of(type(xi)));
      if (t.dim(2) != ceilOut[0] || t.dim(3) != ceilOut[1]) {
        // PyTorch's rule, which the IR follows: with ceil mode a last window starting in the right padding is dropped
        throw new Unsupported("ceil_mode=1 on " + text(x.shape()) + " gives a last window that starts in the padding");
      }
      return emitted(unique(base(n, null)), origin(n), op, List.of(xi));
    }

    /** Whether every reader of {@code value} only reshapes it or asks its shape (so a pooled vector may be held as [N, C]). */
    private boolean flattenedOnly(String value) {
      List<String> ops = readers.getOrDefault(value, List.of());
      return !ops.isEmpty() && ops.stream().allMatch(op -> Set.of("Flatten", "Reshape", "Squeeze", "Shape").contains(op));
    }

    /**
     * The mean of each channel plane: {@code global_avgpool} (which also flattens to [N, C]) when the result is
     * only reshaped, else an average pool with the plane as its window, which keeps [N, C, 1, 1] for readers such
     * as a conv. Both sum in the same order and divide by the plane size: the same bits.
     */
    private Act wholePlane(NodeProto n, Act x, String xi) {
      int h = x.shape()[2], w = x.shape()[3];
      int[] pooled = {TensorType.BATCH, x.shape()[1], 1, 1};
      if (flattenedOnly(n.getOutput(0)) || h != w) return new Act(emit(n, null, new Op.GlobalAvgPool(), List.of(xi)), pooled, null);
      return new Act(emit(n, null, new Op.AvgPool(h, 1, 0, false, true), List.of(xi)), pooled, null);
    }

    private static int square(long kh, long kw, String what) {
      if (kh != kw) throw new Unsupported(what + " " + kh + "x" + kw + " is not square; resnetc supports square kernels");
      if (kh < 1 || kh > MAX_DIM) throw new Unsupported(what + " size " + kh);
      return (int) kh;
    }

    private static int strides(Attrs a) {
      long[] s = a.ints("strides");
      if (s == null) return 1;
      if (s.length != 2) throw new Unsupported("strides " + ConstTensor.text(s) + " are not 2-D");
      if (s[0] != s[1]) throw new Unsupported("strides " + ConstTensor.text(s) + " differ; resnetc supports equal strides");
      if (s[0] < 1 || s[0] > MAX_DIM) throw new Unsupported("stride " + s[0]);
      return (int) s[0];
    }

    private static void undilated(Attrs a) {
      long[] d = a.ints("dilations");
      if (d != null && Arrays.stream(d).anyMatch(v -> v != 1)) {
        throw new Unsupported("dilations " + ConstTensor.text(d) + " are not supported (resnetc's windows are dense)");
      }
    }

    /** The padding of every side, from pads or auto_pad; asymmetric padding is refused. */
    private static int padding(NodeProto n, Attrs a, int[] shape, int k, int stride) {
      String auto = a.s("auto_pad", "NOTSET");
      long[] pads = a.ints("pads");
      if (!auto.equals("NOTSET") && pads != null) throw new Unsupported("auto_pad " + auto + " and pads are both given");
      long[] p = switch (auto) {
        case "NOTSET" -> pads == null ? new long[4] : pads;
        case "VALID" -> new long[4];
        case "SAME_UPPER", "SAME_LOWER" -> {
          long[] q = new long[4];
          for (int d = 0; d < 2; d++) {
            long in = shape[2 + d], out = Math.ceilDiv(in, stride), total = Math.max(0, (out - 1) * stride + k - in);
            long small = total / 2;
            q[d] = auto.equals("SAME_UPPER") ? small : total - small;
            q[d + 2] = total - q[d];
          }
          yield q;
        }
        default -> throw new Unsupported("auto_pad '" + auto + "' is not an ONNX padding mode");
      };
      if (p.length != 4) throw new Unsupported("pads " + ConstTensor.text(p) + " are not 2-D [top, left, bottom, right]");
      if (p[0] != p[1] || p[0] != p[2] || p[0] != p[3]) {
        throw new Unsupported((auto.equals("NOTSET") ? "pads " : "auto_pad " + auto + " gives pads ") + ConstTensor.text(p)
            + ", not the same on every side; resnetc pads symmetrically");
      }
      if (p[0] < 0 || p[0] > MAX_DIM) throw new Unsupported("pads " + ConstTensor.text(p));
      return (int) p[0];
    }

    private Value flatten(NodeProto n, Attrs a) {
      long axisAttr = a.i("axis", 1);
      a.done();
      Value v = value(n, 0);
      int[] s = v instanceof Act x ? x.shape() : ints(((Const) v).t().dims());
      long axis = axisAttr < 0 ? axisAttr + s.length : axisAttr;
      if (axis < 0 || axis > s.length) throw new Unsupported("axis " + axisAttr + " is out of range for rank " + s.length);
      if (v instanceof Const c) {
        long outer = 1;
        for (int i = 0; i < axis; i++) outer *= c.t().dims()[i];
        return new Const(c.t().reshape(new long[] {outer, c.t().size() / Math.max(outer, 1)}, true));
      }
      long between = 1, after = 1;
      for (int i = 1; i < axis; i++) between *= s[i];
      for (int i = (int) Math.max(axis, 1); i < s.length; i++) after *= s[i];
      if (axis == 0 || between != 1) throw new Unsupported("axis " + axisAttr + " of " + text(s) + " folds the batch into other rows");
      return reshaped((Act) v, new int[] {TensorType.BATCH, Math.toIntExact(after)}, n);
    }

    /** The same data with another shape, batch first: a view, no IR node. */
    private Act reshaped(Act x, int[] shape, NodeProto n) {
      long items = 1;
      for (int i = 1; i < shape.length; i++) items *= shape[i];
      if (items != TensorType.of(x.shape()).elementsPerItem()) throw new Unsupported("reshape of " + text(x.shape()) + " to " + text(shape) + " changes the element count");
      return new Act(elementwise(x, n), shape, null);
    }

    private Value reshape(NodeProto n, Attrs a) {
      boolean allowZero = a.i("allowzero", 0) != 0;
      a.done();
      Value v = value(n, 0);
      ConstTensor target = constant(n, 1, "the target shape");
      if (target.isFloat() || target.rank() != 1) throw new Unsupported("the target shape is not a 1-D integer tensor");
      if (v instanceof Const c) return new Const(c.t().reshape(target.concreteInts("the target shape"), allowZero));
      Act x = (Act) v;
      long[] t = target.ints().clone();
      if (t.length == 0) throw new Unsupported("Reshape to a scalar drops the batch");
      // the batch: the symbolic N, a copied first dimension, or the batch size the file fixes
      boolean batchFirst = t[0] == ConstTensor.BATCH || (t[0] == 0 && !allowZero) || (declaredBatch > 0 && t[0] == declaredBatch);
      long rest = TensorType.of(x.shape()).elementsPerItem(), known = 1;
      int infer = -1;
      int[] out = new int[t.length];
      out[0] = TensorType.BATCH;
      for (int i = 1; i < t.length; i++) {
        long d = t[i];
        if (d == 0 && !allowZero) {
          if (i >= x.shape().length) throw new Unsupported("target " + ConstTensor.text(t) + " copies dimension " + i + " of " + text(x.shape()));
          d = x.shape()[i];
        }
        if (d == ConstTensor.BATCH) throw new Unsupported("target " + ConstTensor.text(t) + " moves the batch away from the first dimension");
        if (d == -1) {
          if (infer >= 0) throw new Unsupported("target " + ConstTensor.text(t) + " has two -1 dimensions");
          infer = i;
          continue;
        }
        if (d < 1 || d > MAX_DIM) throw new Unsupported("target dimension " + d);
        out[i] = (int) d;
        known *= d;
      }
      if (!batchFirst && t[0] == -1 && infer < 0 && known == rest) batchFirst = true; // [-1, K...]: -1 is the batch
      if (!batchFirst) throw new Unsupported("target " + ConstTensor.text(t) + " of " + text(x.shape()) + " does not keep the batch as the first dimension");
      if (infer >= 0) {
        if (rest % known != 0) throw new Unsupported("target " + ConstTensor.text(t) + " does not divide the " + rest + " elements per item");
        out[infer] = Math.toIntExact(rest / known);
      }
      return reshaped(x, out, n);
    }

    private Value squeeze(NodeProto n, Attrs a, boolean unsqueeze) {
      long[] axes = a.ints("axes");
      a.done();
      if (axes == null && has(n, 1)) axes = constant(n, 1, "axes").concreteInts("axes");
      Value v = value(n, 0);
      if (v instanceof Const c) return new Const(unsqueeze ? c.t().unsqueeze(axes == null ? new long[0] : axes) : c.t().squeeze(axes));
      Act x = (Act) v;
      if (axes == null) throw new Unsupported((unsqueeze ? "Unsqueeze" : "Squeeze") + " without axes" + (unsqueeze ? "" : " could drop the batch"));
      long[] dims = Arrays.stream(x.shape()).asLongStream().toArray();
      dims[0] = 1;
      int rank = unsqueeze ? dims.length + axes.length : dims.length;
      for (long ax : axes) if (ConstTensor.axis(ax, rank, "axis") == 0) throw new Unsupported("axis " + ax + " is the batch");
      int[] shape = ints(unsqueeze ? ConstTensor.unsqueezed(dims, axes) : ConstTensor.squeezed(dims, axes));
      shape[0] = TensorType.BATCH;
      return reshaped(x, shape, n);
    }

    private Value gemm(NodeProto n, Attrs a) {
      float alpha = a.f("alpha", 1), beta = a.f("beta", 1);
      long transA = a.i("transA", 0), transB = a.i("transB", 0);
      a.done();
      if (transA != 0) throw new Unsupported("transA=1 transposes the batch into the features");
      Act x = act(n, 0);
      ConstTensor b = floats(n, 1, "B");
      if (b.rank() != 2) throw new Unsupported("B " + ConstTensor.text(b.dims()) + " is not a matrix");
      ConstTensor w = transB != 0 ? b : b.transpose(null);
      if (alpha != 1) w = ConstTensor.arithmetic("Mul", w, ConstTensor.ofFloats(new long[0], new float[] {alpha}));
      ConstTensor bias = null;
      if (has(n, 2) && beta != 0) {
        ConstTensor c = floats(n, 2, "C");
        int m = (int) w.dims()[0];
        boolean perOutput = c.rank() <= 2 && Arrays.stream(c.dims()).allMatch(d -> d == 1 || d == m)
            && (c.rank() < 2 || c.dims()[0] == 1) && (c.size() == 1 || c.size() == m);
        if (!perOutput) throw new Unsupported("C " + ConstTensor.text(c.dims()) + " is not one bias per output (it would differ between batch rows)");
        bias = ConstTensor.ofFloats(new long[] {m}, c.size() == m ? c.floats() : filled(m, c.floats()[0]));
        if (beta != 1) bias = ConstTensor.arithmetic("Mul", bias, ConstTensor.ofFloats(new long[0], new float[] {beta}));
      }
      return dense(n, x, w, bias, n.getInput(1));
    }

    private Value matmul(NodeProto n, Attrs a) {
      a.done();
      Act x = act(n, 0);
      ConstTensor b = floats(n, 1, "B");
      if (b.rank() != 2) throw new Unsupported("B " + ConstTensor.text(b.dims()) + " is not a matrix; resnetc's MatMul is a dense layer");
      return dense(n, x, b.transpose(null), null, n.getInput(1));
    }

    /** {@code x · wᵀ + bias}, {@code w} [out, in]. */
    private Value dense(NodeProto n, Act x, ConstTensor w, ConstTensor bias, String weightName) {
      if (x.shape().length != 2) throw new Unsupported("input " + text(x.shape()) + " is not [N, features]");
      String xi = exact(x, n);
      if (w.dims()[1] != x.shape()[1]) throw new Unsupported("weight " + ConstTensor.text(w.dims()) + " does not take " + x.shape()[1] + " features");
      String y = unique(base(n, weightName));
      int out = (int) w.dims()[0];
      List<String> ins = new ArrayList<>(List.of(xi, irConstant(w, y + ".weight", out, x.shape()[1])));
      if (bias != null) ins.add(irConstant(bias, y + ".bias", out));
      return emitted(y, origin(n), new Op.Dense(), ins);
    }

    private Value softmax(NodeProto n, Attrs a) {
      long axisAttr = a.i("axis", opset >= 13 ? -1 : 1);
      a.done();
      Act x = act(n, 0);
      int[] s = x.shape();
      long axis = axisAttr < 0 ? axisAttr + s.length : axisAttr;
      if (axis <= 0 || axis >= s.length) throw new Unsupported("axis " + axisAttr + (axis == 0 ? " normalizes across the batch" : " is out of range for rank " + s.length));
      long rows = 1, k = 1;
      for (int i = 1; i < s.length; i++) {
        boolean reduced = opset >= 13 ? i == axis : i >= axis;
        if (reduced) k *= s[i];
        else rows *= s[i];
      }
      if (rows != 1) throw new Unsupported("axis " + axisAttr + " of " + text(s) + " gives several softmax rows per item; resnetc's softmax is over all features");
      String xi = elementwise(x, n);
      if (!type(xi).equals(TensorType.batched((int) k))) throw new Unsupported("softmax over a " + type(xi) + " value; resnetc's IR needs [N, " + k + "]");
      return new Act(emit(n, null, new Op.Softmax(), List.of(xi)), s, null);
    }

    private Value dropout(NodeProto n, Attrs a) {
      a.f("ratio", 0.5f);
      a.i("seed", 0);
      if (opset < 7 && a.i("is_test", 0) == 0) throw new Unsupported("is_test=0 (before opset 7, the default) drops activations");
      a.done();
      if (has(n, 2)) {
        ConstTensor mode = constant(n, 2, "training_mode");
        if (mode.isFloat() || mode.size() != 1 || mode.ints()[0] != 0) throw new Unsupported("training_mode is not a constant false");
      }
      if (has(n, 1)) constant(n, 1, "ratio");
      return value(n, 0);
    }

    /** A zero Pad of the channel axis: the option-A shortcut's channels, added to a pending view. */
    private Value pad(NodeProto n, Attrs a) {
      String mode = a.s("mode", "constant");
      long[] pads = opset < 11 ? a.ints("pads") : null;
      float constant = opset < 11 ? a.f("value", 0) : 0;
      a.done();
      if (!mode.equals("constant")) throw new Unsupported("mode '" + mode + "' is not supported (resnetc pads with zeros)");
      if (opset >= 11) pads = constant(n, 1, "pads").concreteInts("pads");
      if (pads == null) throw new Unsupported("pads are missing");
      if (has(n, 2) && opset >= 11) {
        ConstTensor v = constant(n, 2, "the constant value");
        if (v.size() != 1) throw new Unsupported("the constant value is not a scalar");
        constant = v.isFloat() ? v.floats()[0] : v.ints()[0];
      }
      if (Float.floatToIntBits(constant) != 0) throw new Unsupported("pads with " + constant + "; resnetc pads channels with zeros");
      Value v = value(n, 0);
      if (v instanceof Const) throw new Unsupported("Pad of a constant is not folded");
      Act x = (Act) v;
      int r = x.shape().length;
      long[] axes = null;
      if (has(n, 3)) axes = constant(n, 3, "axes").concreteInts("axes");
      int count = axes == null ? r : axes.length;
      if (pads.length != 2 * count) throw new Unsupported("pads " + ConstTensor.text(pads) + " do not have 2 x " + count + " entries");
      long[] begin = new long[r], end = new long[r];
      for (int i = 0; i < count; i++) {
        int axis = axes == null ? i : ConstTensor.axis(axes[i], r, "axis");
        begin[axis] += pads[i];
        end[axis] += pads[i + count];
      }
      for (int i = 0; i < r; i++) {
        if (i == 1 && r == 4) continue;
        if (begin[i] != 0 || end[i] != 0) {
          throw new Unsupported("pads " + ConstTensor.text(pads) + " pad axis " + i + " of " + text(x.shape())
              + "; resnetc imports only a zero Pad of the channels of an NCHW tensor (option-A shortcut); zero padding for a conv belongs in its pads");
        }
      }
      if (begin[1] < 0 || end[1] < 0 || begin[1] > MAX_DIM || end[1] > MAX_DIM) throw new Unsupported("pads " + ConstTensor.text(pads) + " crop channels");
      if (begin[1] == 0 && end[1] == 0) return x;
      View old = x.view() != null ? x.view() : new View(1, 1, 0, 0, null, null);
      checkViewable(x, n);
      int[] shape = x.shape().clone();
      shape[1] += (int) (begin[1] + end[1]);
      View v2 = new View(old.strideH(), old.strideW(), old.before() + (int) begin[1], old.after() + (int) end[1], base(n, null), origin(n));
      return new Act(x.ir(), shape, v2);
    }

    private void checkViewable(Act x, NodeProto n) {
      if (x.view() == null && !type(x.ir()).equals(TensorType.of(x.shape()))) {
        throw new Unsupported("input " + text(x.shape()) + " is a reshaped view; resnetc's IR has no reshape");
      }
    }

    /** Spatial subsampling from the start (option A), or a slice that keeps everything; constants are folded. */
    private Value slice(NodeProto n, Attrs a) {
      long[] starts, ends, axes, steps = null;
      if (opset < 10) {
        starts = a.ints("starts");
        ends = a.ints("ends");
        axes = a.ints("axes");
        a.done();
        if (starts == null || ends == null) throw new Unsupported("starts or ends are missing");
      } else {
        a.done();
        starts = constant(n, 1, "starts").concreteInts("starts");
        ends = constant(n, 2, "ends").concreteInts("ends");
        axes = has(n, 3) ? constant(n, 3, "axes").concreteInts("axes") : null;
        steps = has(n, 4) ? constant(n, 4, "steps").concreteInts("steps") : null;
      }
      if (starts.length != ends.length || (axes != null && axes.length != starts.length) || (steps != null && steps.length != starts.length)) {
        throw new Unsupported("starts, ends, axes and steps differ in length");
      }
      Value v = value(n, 0);
      if (v instanceof Const c) return new Const(c.t().slice(starts, ends, axes, steps));
      Act x = (Act) v;
      int r = x.shape().length;
      int[] shape = x.shape().clone();
      int sh = 1, sw = 1;
      for (int i = 0; i < starts.length; i++) {
        int axis = ConstTensor.axis(axes == null ? i : axes[i], r, "axis");
        long step = steps == null ? 1 : steps[i];
        if (axis == 0) {
          boolean all = starts[i] == 0 && step == 1 && (ends[i] >= Integer.MAX_VALUE || (declaredBatch > 0 && ends[i] >= declaredBatch));
          if (!all) throw new Unsupported("Slice of the batch axis is not supported");
          continue;
        }
        long d = shape[axis];
        long b = starts[i] < 0 ? starts[i] + d : starts[i], e = ends[i] < 0 ? ends[i] + d : ends[i];
        b = Math.clamp(b, 0, d);
        e = Math.clamp(e, 0, d);
        if (step < 1) throw new Unsupported("step " + step + " on axis " + axis + " is not supported (resnetc subsamples forward)");
        if (b != 0) throw new Unsupported("Slice of axis " + axis + " starts at " + b + "; resnetc subsamples from the first row, column or channel");
        long count = Math.ceilDiv(e, step);
        if (count != Math.ceilDiv(d, step)) throw new Unsupported("Slice of axis " + axis + " ends at " + e + " of " + d + "; resnetc keeps every row, column and channel it steps over");
        if (step == 1) continue;
        if (r != 4 || axis == 1) throw new Unsupported("step " + step + " on axis " + axis + " of " + text(x.shape()) + "; resnetc subsamples only the spatial axes of NCHW");
        if (axis == 2) sh *= (int) step;
        else sw *= (int) step;
        shape[axis] = (int) count;
      }
      if (sh == 1 && sw == 1) return x;
      checkViewable(x, n);
      // channel padding commutes with spatial subsampling: one view either way
      View old = x.view() != null ? x.view() : new View(1, 1, 0, 0, null, null);
      View v2 = new View(old.strideH() * sh, old.strideW() * sw, old.before(), old.after(), base(n, null), origin(n));
      return new Act(x.ir(), shape, v2);
    }

    private Value constant(NodeProto n, Attrs a) {
      AttributeProto t = a.optional("value");
      AttributeProto f = a.optional("value_float"), fs = a.optional("value_floats"), i = a.optional("value_int"), is = a.optional("value_ints");
      a.done();
      int given = (t != null ? 1 : 0) + (f != null ? 1 : 0) + (fs != null ? 1 : 0) + (i != null ? 1 : 0) + (is != null ? 1 : 0);
      if (given != 1) throw new Unsupported("a Constant needs exactly one of value, value_float(s), value_int(s)");
      if (t != null) {
        if (t.getType() != AttributeProto.AttributeType.TENSOR) throw new Unsupported("attribute 'value' is not a tensor");
        return new Const(tensors.read(t.getT(), "its value"));
      }
      if (f != null) return new Const(ConstTensor.ofFloats(new long[0], new float[] {f.getF()}));
      if (i != null) return new Const(ConstTensor.ofInts(new long[0], new long[] {i.getI()}));
      if (fs != null) {
        float[] v = new float[fs.getFloatsCount()];
        for (int k = 0; k < v.length; k++) v[k] = fs.getFloats(k);
        return new Const(ConstTensor.ofFloats(new long[] {v.length}, v));
      }
      long[] v = is.getIntsList().stream().mapToLong(Long::longValue).toArray();
      return new Const(ConstTensor.ofInts(new long[] {v.length}, v));
    }

    private Value shape(NodeProto n, Attrs a) {
      long start = a.i("start", 0);
      AttributeProto endAttr = a.optional("end");
      a.done();
      Value v = value(n, 0);
      long[] dims = v instanceof Act x ? Arrays.stream(x.shape()).mapToLong(d -> d == TensorType.BATCH ? ConstTensor.BATCH : d).toArray()
          : ((Const) v).t().dims().clone();
      int r = dims.length;
      long s = Math.clamp(start < 0 ? start + r : start, 0, r);
      long e = endAttr == null ? r : Math.clamp(endAttr.getI() < 0 ? endAttr.getI() + r : endAttr.getI(), 0, r);
      long[] out = e > s ? Arrays.copyOfRange(dims, (int) s, (int) e) : new long[0];
      return new Const(ConstTensor.ofInts(new long[] {out.length}, out));
    }

    private Value constantOfShape(NodeProto n, Attrs a) {
      AttributeProto v = a.optional("value");
      a.done();
      long[] dims = constant(n, 0, "the shape").concreteInts("the shape");
      int size = ConstTensor.size(dims, ConstTensor.MAX_FOLDED, "ConstantOfShape");
      if (v == null) return new Const(ConstTensor.ofFloats(dims, new float[size]));
      ConstTensor fill = tensors.read(v.getT(), "its value");
      if (fill.size() != 1) throw new Unsupported("value is not a single element");
      if (fill.isFloat()) return new Const(ConstTensor.ofFloats(dims, filled(size, fill.floats()[0])));
      long[] out = new long[size];
      Arrays.fill(out, fill.ints()[0]);
      return new Const(ConstTensor.ofInts(dims, out));
    }

    private Value cast(NodeProto n, Attrs a) {
      int to = (int) a.required("to").getI();
      a.i("saturate", 1); // only for float8 targets, which are refused
      a.done();
      Value v = value(n, 0);
      if (v instanceof Const c) return new Const(c.t().cast(to));
      if (to != TensorProto.DataType.FLOAT_VALUE) throw new Unsupported("Cast of an activation to " + OnnxTensors.typeName(to) + "; resnetc computes in float32");
      return v;
    }
  }

  /** Java int dimensions; sizes were bounded when the tensor was read. */
  static int[] ints(long[] dims) {
    int[] d = new int[dims.length];
    for (int i = 0; i < d.length; i++) d[i] = Math.toIntExact(dims[i]);
    return d;
  }

  static String text(int[] shape) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < shape.length; i++) sb.append(i > 0 ? ", " : "").append(shape[i] == TensorType.BATCH ? "N" : Integer.toString(shape[i]));
    return sb.append(']').toString();
  }

  /**
   * A node's attributes: each getter checks the type and marks the attribute read; {@link #done} refuses any
   * attribute the op handler did not read, so an attribute resnetc does not know can never be ignored.
   */
  private static final class Attrs {
    private final Map<String, AttributeProto> byName = new LinkedHashMap<>();
    private final Set<String> read = new HashSet<>();

    Attrs(NodeProto n) {
      for (AttributeProto a : n.getAttributeList()) {
        if (byName.putIfAbsent(a.getName(), a) != null) throw new Unsupported("attribute '" + a.getName() + "' is given twice");
        if (!a.getRefAttrName().isEmpty()) throw new Unsupported("attribute '" + a.getName() + "' refers to a function attribute");
      }
    }

    AttributeProto optional(String name) {
      read.add(name);
      return byName.get(name);
    }

    AttributeProto required(String name) {
      AttributeProto a = optional(name);
      if (a == null) throw new Unsupported("attribute '" + name + "' is missing");
      return a;
    }

    private AttributeProto typed(String name, AttributeProto.AttributeType type) {
      AttributeProto a = optional(name);
      if (a != null && a.getType() != type && a.getType() != AttributeProto.AttributeType.UNDEFINED) {
        throw new Unsupported("attribute '" + name + "' is " + a.getType().name().toLowerCase(Locale.ROOT) + ", not " + type.name().toLowerCase(Locale.ROOT));
      }
      return a;
    }

    long i(String name, long dflt) {
      AttributeProto a = typed(name, AttributeProto.AttributeType.INT);
      return a == null ? dflt : a.getI();
    }

    float f(String name, float dflt) {
      AttributeProto a = typed(name, AttributeProto.AttributeType.FLOAT);
      return a == null ? dflt : a.getF();
    }

    String s(String name, String dflt) {
      AttributeProto a = typed(name, AttributeProto.AttributeType.STRING);
      return a == null ? dflt : a.getS().toStringUtf8();
    }

    long[] ints(String name) {
      AttributeProto a = typed(name, AttributeProto.AttributeType.INTS);
      return a == null ? null : a.getIntsList().stream().mapToLong(Long::longValue).toArray();
    }

    void done() {
      for (String name : byName.keySet()) {
        if (!read.contains(name)) throw new Unsupported("attribute '" + name + "' is not supported");
      }
    }
  }
}
