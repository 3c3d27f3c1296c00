package resnetc.backend.java;

import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.JavaFile;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.ParameterizedTypeName;
import com.palantir.javapoet.TypeName;
import com.palantir.javapoet.TypeSpec;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.lang.model.element.Modifier;
import static resnetc.backend.Poet.floats;
import static resnetc.backend.Poet.getter;
import static resnetc.backend.Poet.strings;

import resnetc.backend.WeightsBlob;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.passes.DeadCodeElimination;
import resnetc.passes.FuseConv;
import resnetc.passes.MemoryPlan;
import resnetc.passes.PlanMemory;

/**
 * Emits one Java class per model with JavaPoet: every layer a method whose shapes, strides, padding, offsets and
 * tile sizes are literals; fused epilogues inline; weights pre-packed into one little-endian blob. Each conv has
 * a Vector API body (in the nested {@code Simd} class, loaded only when {@code jdk.incubator.vector} is present)
 * and a scalar body with the same loop structure.
 *
 * <p>The generated class runs the whole model in one float[] activation arena laid out by {@link PlanMemory} at
 * batch 1: every value is per-image contiguous and batch-major, so at batch n every offset and size is simply
 * multiplied by n, which keeps the plan's disjointness.
 */
public final class JavaBackend {
  private static final ClassName MODEL = ClassName.get("resnetc.runtime", "CompiledModel");
  private static final ClassName TEAM = ClassName.get("resnetc.runtime", "ThreadTeam");
  private static final ClassName PREP = ClassName.get("resnetc.runtime", "Preprocessing");
  private static final ClassName WEIGHTS = ClassName.get("resnetc.runtime", "Weights");
  private static final ClassName FV = ClassName.get("jdk.incubator.vector", "FloatVector");
  private static final ClassName VM = ClassName.get("jdk.incubator.vector", "VectorMask");
  private static final ClassName SPECIES = ClassName.get("jdk.incubator.vector", "VectorSpecies");
  private static final TypeName FLOATS = TypeName.get(float[].class);

  /** What the generated class says about itself beyond the graph. */
  public record ModelInfo(String name, String specFile, String specSource, float div, float[] mean, float[] std,
                          int resize, int crop, List<String> labels) {}

  public record Options(String packageName, String className) {}

  /** The generated source, its class name, and the weights blob (null when the graph has no weights). */
  public record Output(String qualifiedName, String source, float[] weights, String weightsResource) {}

  private final Graph g;
  private final ModelInfo info;
  private final Options opt;
  private final MemoryPlan plan;
  private final WeightsBlob blob;
  private long scratch;
  private final Set<String> methodNames = new HashSet<>();
  private final Set<String> microKernels = new HashSet<>();
  private final List<MethodSpec> scalarKernels = new ArrayList<>();
  private final TypeSpec.Builder simd = TypeSpec.classBuilder("Simd").addModifiers(Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
      .addJavadoc("Vector API bodies; loaded only when jdk.incubator.vector is present.\n");

  private JavaBackend(Graph g, ModelInfo info, Options opt) {
    this.g = g;
    this.info = info;
    this.opt = opt;
    this.plan = PlanMemory.plan(g, 1);
    this.blob = new WeightsBlob(g.hasWeights());
  }

  /** Generates the model class for an optimized graph without input normalization (preprocessing runs in Java). */
  public static Output generate(Graph optimized, ModelInfo info, Options opt) {
    Graph g = optimized;
    if (g.nodes().stream().anyMatch(n -> n.op() instanceof Op.Conv2d)) g = new DeadCodeElimination().run(new FuseConv().run(g));
    return new JavaBackend(g, info, opt).emit();
  }

  private Output emit() {
    String cls = opt.className();
    ClassName self = ClassName.get(opt.packageName(), cls);
    CodeBlock.Builder forward = CodeBlock.builder();
    forward.addStatement("float[] w = Blob.W");
    List<MethodSpec> kernels = new ArrayList<>();
    forward.addStatement("long t0 = PROFILE ? System.nanoTime() : 0");
    List<String> layerNames = new ArrayList<>();
    List<Long> layerFlops = new ArrayList<>();
    List<String> layerKinds = new ArrayList<>(), layerShapes = new ArrayList<>();
    for (Node n : g.nodes()) {
      if (n.op() instanceof Op.Input || n.op() instanceof Op.Const) continue;
      String m = methodName(n.name());
      forward.add("// $L\n", resnetc.ir.Printer.line(n).replaceAll(" : .*", "") + "");
      String spec = specLine(n.origin());
      if (spec != null) forward.add("// from $L: $L\n", n.origin(), spec);
      kernels.add(layer(n, m));
      forward.addStatement("$L(a, w, s, n, team)", m);
      forward.addStatement("if (PROFILE) t0 = lap($L, t0)", layerNames.size());
      layerNames.add(n.name());
      layerFlops.add(2 * resnetc.ir.Summary.macs(g, n));
      layerKinds.add(resnetc.ir.Summary.kind(n));
      layerShapes.add(n.type().itemShape());
    }
    long arena = plan.arenaBytes() / 4;
    int in = off(g.input().name()), out = off(g.output());
    int classes = (int) g.outputType().elementsPerItem();
    TensorType it = g.input().type();

    TypeSpec.Builder t = TypeSpec.classBuilder(cls).addModifiers(Modifier.PUBLIC, Modifier.FINAL).addSuperinterface(MODEL)
        .addJavadoc("$L compiled by resnetc from $L. Generated code: do not edit; regenerate with resnetc compile.\n\n", info.name(), info.specFile())
        .addJavadoc("<p>$L layers, activation arena $L floats per image ($L of the naive $L bytes), weights $L floats.\n",
            g.nodes().stream().filter(n -> !(n.op() instanceof Op.Const) && !(n.op() instanceof Op.Input)).count(),
            arena, plan.arenaBytes(), plan.naiveBytes(), blob.size());
    t.addField(constant(String.class, "NAME", CodeBlock.of("$S", info.name())));
    t.addField(constant(int.class, "C", CodeBlock.of("$L", it.dim(1))));
    t.addField(constant(int.class, "H", CodeBlock.of("$L", it.dim(2))));
    t.addField(constant(int.class, "W", CodeBlock.of("$L", it.dim(3))));
    t.addField(constant(int.class, "CLASSES", CodeBlock.of("$L", classes)));
    t.addField(FieldSpec.builder(int.class, "ARENA", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Activation floats per image, as planned at batch 1.\n").initializer("$L", arena).build());
    t.addField(FieldSpec.builder(int.class, "SCRATCH", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Staging floats per image (padded, phase-split conv inputs).\n").initializer("$L", scratch).build());
    t.addField(FieldSpec.builder(int.class, "SLACK", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Floats past the arena so a vector tile may read beyond the last value (it never stores there).\n")
        .initializer("$L", 2 * ConvPlan.LANES).build());
    t.addField(constant(int.class, "IN", CodeBlock.of("$L", in)));
    t.addField(constant(int.class, "OUT", CodeBlock.of("$L", out)));
    t.addField(constant(long.class, "WEIGHTS", CodeBlock.of("$LL", blob.size())));
    t.addField(FieldSpec.builder(boolean.class, "VECTOR", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("The Vector API kernels run when the module is present (java --add-modules jdk.incubator.vector).\n")
        .initializer("ModuleLayer.boot().findModule($S).isPresent() && !Boolean.getBoolean($S)", "jdk.incubator.vector", "resnetc.scalar").build());
    t.addField(FieldSpec.builder(PREP, "PREPROCESSING", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .initializer("new $T($Lf, new float[] {$L}, new float[] {$L}, $L, $L)", PREP, info.div(), floats(info.mean()), floats(info.std()), info.resize(), info.crop()).build());
    t.addField(FieldSpec.builder(ParameterizedTypeName.get(List.class, String.class), "LABELS", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .initializer("$T.of($L)", List.class, strings(info.labels())).build());
    t.addType(TypeSpec.classBuilder("Blob").addModifiers(Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Weights, loaded once on first use and shared by every instance.\n")
        .addField(FieldSpec.builder(FLOATS, "W", Modifier.STATIC, Modifier.FINAL)
            .initializer("$T.load($T.class, $S, WEIGHTS)", WEIGHTS, self, cls + ".weights").build()).build());
    t.addField(TEAM, "team", Modifier.PRIVATE, Modifier.FINAL);
    t.addField(FieldSpec.builder(boolean.class, "PROFILE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Per-layer timing ({@code -Dresnetc.profile=true}); off, the JIT removes it.\n")
        .initializer("Boolean.getBoolean($S)", "resnetc.profile").build());
    t.addField(FieldSpec.builder(ParameterizedTypeName.get(List.class, String.class), "LAYERS", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .initializer("$T.of($L)", List.class, strings(layerNames)).build());
    t.addField(FieldSpec.builder(ParameterizedTypeName.get(List.class, String.class), "KINDS", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("What each layer computes, for profiles.\n").initializer("$T.of($L)", List.class, strings(layerKinds)).build());
    t.addField(FieldSpec.builder(ParameterizedTypeName.get(List.class, String.class), "SHAPES", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Output shape per image of each layer.\n").initializer("$T.of($L)", List.class, strings(layerShapes)).build());
    t.addField(FieldSpec.builder(long[].class, "FLOPS", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Floating-point operations per image of each layer (2 x MACs of convs and dense layers).\n")
        .initializer("{$L}", String.join(", ", layerFlops.stream().map(f -> f + "L").toList())).build());
    t.addField(FieldSpec.builder(java.util.concurrent.atomic.AtomicLongArray.class, "nanos", Modifier.PRIVATE, Modifier.FINAL)
        .initializer("new $T($L)", java.util.concurrent.atomic.AtomicLongArray.class, layerNames.size()).build());
    t.addMethod(MethodSpec.methodBuilder("lap").addModifiers(Modifier.PRIVATE).returns(long.class).addParameter(int.class, "layer").addParameter(long.class, "t0")
        .addStatement("long t1 = System.nanoTime()").addStatement("nanos.addAndGet(layer, t1 - t0)").addStatement("return t1").build());
    t.addMethod(MethodSpec.methodBuilder("layers").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .returns(ParameterizedTypeName.get(List.class, String.class)).addStatement("return LAYERS").build());
    t.addMethod(getter(ParameterizedTypeName.get(List.class, String.class), "layerKinds", "KINDS"));
    t.addMethod(getter(ParameterizedTypeName.get(List.class, String.class), "layerShapes", "SHAPES"));
    t.addMethod(MethodSpec.methodBuilder("layerFlops").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .returns(long[].class).addStatement("return FLOPS.clone()").build());
    t.addMethod(MethodSpec.methodBuilder("layerNanos").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(long[].class)
        .addStatement("long[] out = new long[LAYERS.size()]").addStatement("for (int i = 0; i < out.length; i++) out[i] = nanos.get(i)")
        .addStatement("return out").build());

    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addJavadoc("Uses every core.\n")
        .addStatement("this(Runtime.getRuntime().availableProcessors())").build());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addParameter(int.class, "threads")
        .addJavadoc("Splits each layer over {@code threads} threads (1 = the calling thread only).\n")
        .addStatement("this.team = new $T(threads)", TEAM).build());
    t.addMethod(getter(String.class, "name", "NAME"));
    t.addMethod(getter(int.class, "channels", "C"));
    t.addMethod(getter(int.class, "height", "H"));
    t.addMethod(getter(int.class, "width", "W"));
    t.addMethod(getter(int.class, "classes", "CLASSES"));
    t.addMethod(getter(PREP, "preprocessing", "PREPROCESSING"));
    t.addMethod(getter(ParameterizedTypeName.get(List.class, String.class), "labels", "LABELS"));
    t.addMethod(MethodSpec.methodBuilder("predict").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(FLOATS)
        .addParameter(FLOATS, "x").addParameter(int.class, "n")
        .addStatement("$T.checkInput(this, x.length, n)", MODEL)
        .addStatement("float[] a = new float[Math.addExact(Math.multiplyExact(ARENA, n), SLACK)]")
        .addStatement("System.arraycopy(x, 0, a, IN * n, x.length)")
        .addStatement("forward(a, n)")
        .addStatement("return java.util.Arrays.copyOfRange(a, OUT * n, OUT * n + CLASSES * n)").build());
    t.addMethod(MethodSpec.methodBuilder("predict").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .addParameter(MemorySegment.class, "input").addParameter(MemorySegment.class, "output").addParameter(int.class, "n")
        .beginControlFlow("if (n < 1 || input.byteSize() != 4L * n * C * H * W || output.byteSize() != 4L * n * CLASSES)")
        .addStatement("throw new IllegalArgumentException($S + n + $S + input.byteSize() + $S + output.byteSize() + $S)",
            "batch ", ": input must be exactly batch x C x H x W floats and output batch x classes floats, got ", " and ", " bytes")
        .endControlFlow()
        .addStatement("float[] a = new float[Math.addExact(Math.multiplyExact(ARENA, n), SLACK)]")
        .addStatement("$T.copy(input, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, a, IN * n, n * C * H * W)", MemorySegment.class)
        .addStatement("forward(a, n)")
        .addStatement("$T.copy(a, OUT * n, output, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n * CLASSES)", MemorySegment.class).build());
    t.addMethod(MethodSpec.methodBuilder("close").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).addStatement("team.close()").build());
    t.addMethod(MethodSpec.methodBuilder("forward").addModifiers(Modifier.PRIVATE).addParameter(FLOATS, "a").addParameter(int.class, "n")
        .addJavadoc("Runs every layer in order over the arena {@code a}; scratch {@code s} holds staged conv inputs.\n")
        .addStatement("float[] s = new float[Math.multiplyExact(SCRATCH, n)]").addCode(forward.build()).build());
    kernels.forEach(t::addMethod);
    scalarKernels.forEach(t::addMethod);
    t.addField(FieldSpec.builder(int.class, "NO_RESIDUAL", Modifier.STATIC, Modifier.FINAL).initializer("Integer.MIN_VALUE").build());
    simd.addField(FieldSpec.builder(ParameterizedTypeName.get(SPECIES, ClassName.get(Float.class)), "SP", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .initializer("$T.SPECIES_256", FV).build());
    t.addType(simd.build());
    String source = JavaFile.builder(opt.packageName(), t.build()).skipJavaLangImports(true).indent("  ")
        .addFileComment("Generated by resnetc from $L. Do not edit.", info.specFile()).build().toString();
    float[] weights = blob.toArray();
    return new Output(self.reflectionName(), source, weights, cls + ".weights");
  }

  private static FieldSpec constant(Class<?> type, String name, CodeBlock init) {
    return FieldSpec.builder(type, name, Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL).initializer(init).build();
  }

  private String specLine(String origin) {
    int colon = origin.lastIndexOf(':');
    if (colon < 0 || info.specSource() == null) return null;
    int line = Integer.parseInt(origin.substring(colon + 1));
    String[] lines = info.specSource().split("\r?\n", -1);
    return line >= 1 && line <= lines.length ? lines[line - 1].strip() : null;
  }

  private String methodName(String value) {
    String base = value.replaceAll("[^A-Za-z0-9_]", "_");
    if (!Character.isJavaIdentifierStart(base.charAt(0))) base = "l_" + base;
    String name = base;
    for (int i = 2; !methodNames.add(name); i++) name = base + "_" + i;
    return name;
  }

  /** Arena offset of a value in floats per image. */
  private int off(String value) {
    return Math.toIntExact(plan.slot(value).offset() / 4);
  }

  private Tensor data(String constName) {
    return g.constants().get(constName);
  }

  private MethodSpec.Builder method(String name, Node n) {
    return MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
        .addParameter(FLOATS, "a").addParameter(FLOATS, "w").addParameter(FLOATS, "s").addParameter(int.class, "n").addParameter(TEAM, "team")
        .addJavadoc("$L\n", resnetc.ir.Printer.line(n).replace("$", "$$"));
  }

  private MethodSpec layer(Node n, String name) {
    MethodSpec.Builder m = method(name, n);
    CodeBlock body = switch (n.op()) {
      case Op.FusedConv f -> conv(n, f);
      case Op.Dense d -> dense(n);
      case Op.MaxPool p -> maxPool(n, p);
      case Op.AvgPool p -> avgPool(n, p);
      case Op.GlobalAvgPool p -> globalAvgPool(n);
      case Op.BatchNorm b -> batchNorm(n, b);
      case Op.Relu r -> elementwise(n, "Math.max(a[X + i], 0f)");
      case Op.Add r -> elementwise(n, "a[X + i] + a[Z + i]");
      case Op.Softmax s -> softmax(n);
      case Op.SubsamplePad p -> subsamplePad(n, p);
      case Op.Normalize z -> normalize(n, z);
      default -> throw new IllegalArgumentException("the Java backend cannot compile " + n.op().mnemonic());
    };
    return m.addCode(body).build();
  }

  // ---- convolution ----

  private CodeBlock conv(Node n, Op.FusedConv f) {
    TensorType x = g.node(n.input(0)).type();
    TensorType res = n.inputs().size() > 3 ? g.node(n.input(3)).type() : null;
    ConvPlan c = ConvPlan.of(f, x, n.type(), res);
    scratch = Math.max(scratch, c.staged());
    String wName = n.input(1);
    long wOff = blob.add(wName + "#pack" + c.r(), c.packedWeights(), () -> pack(data(wName).data(), c));
    long bOff = blob.add(n.input(2), c.o(), () -> data(n.input(2)).data());
    CodeBlock.Builder b = CodeBlock.builder();
    b.add("// $L\n", c.describe());
    b.addStatement("final int X = $L * n, Y = $L * n$L", off(n.input(0)), off(n.name()), res != null ? ", R = " + off(n.input(3)) + " * n" : "");
    List<String> taps = new ArrayList<>();
    for (int ky = 0; ky < c.k(); ky++) {
      for (int kx = 0; kx < c.k(); kx++) taps.add(Integer.toString(c.pointwise() ? 0 : ky * c.s() * c.stagedRow() + (kx % c.s()) * c.stagedRow() + kx / c.s()));
    }
    b.addStatement("final int[] TAPS = {$L}", String.join(", ", taps));
    if (!c.pointwise()) stage(b, c);
    b.add("team.run(n * $L, t -> {\n$>", c.tiles());
    b.addStatement("int b = t / $L, oc = t % $L * $L, g = oc / $L", c.tiles(), c.tiles(), c.r(), c.og());
    b.addStatement("int wt = $L + t % $L * $L", wOff, c.tiles(), c.cg() * c.k() * c.k() * c.r());
    if (c.pointwise()) {
      b.addStatement("int xb = X + (b * $L + g * $L) * $L", c.c(), c.cg(), c.h() * c.w());
      b.beginControlFlow("for (int p = 0; p < $L; p += $L)", c.oh() * c.ow(), c.tile());
      tileBody(b, c, bOff, "p", c.oh() * c.ow(), "xb + p", "Y + (b * " + c.o() + " + oc) * " + (c.oh() * c.ow()) + " + p");
      b.endControlFlow();
    } else {
      int row = c.stagedRow(), phases = c.s(), rows = c.stagedRows();
      b.addStatement("int sb = (b * $L + g * $L) * $L", c.c(), c.cg(), rows * phases * row);
      b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", c.oh());
      b.beginControlFlow("for (int ox = 0; ox < $L; ox += $L)", c.ow(), c.tile());
      tileBody(b, c, bOff, "ox", c.ow(), "sb + oy * " + (c.s() * phases * row) + " + ox",
          "Y + ((b * " + c.o() + " + oc) * " + c.oh() + " + oy) * " + c.ow() + " + ox");
      b.endControlFlow();
      b.endControlFlow();
    }
    b.add("$<});\n");
    return b.build();
  }

  /** Stages the input of a non-pointwise conv: zero padding and stride phases, see {@link ConvPlan}. */
  private void stage(CodeBlock.Builder b, ConvPlan c) {
    int row = c.stagedRow();
    b.add("// stage the input: padded by $L, stride phases split so each tap reads consecutive columns\n", c.p());
    b.add("team.run(n * $L, t -> {\n$>", c.c());
    b.addStatement("int src = X + t * $L, dst = t * $L", c.h() * c.w(), c.stagedRows() * c.s() * row);
    b.beginControlFlow("for (int row = 0; row < $L; row++)", c.stagedRows());
    b.addStatement("int iy = row - $L", c.p());
    b.addStatement("boolean inside = iy >= 0 && iy < $L", c.h());
    b.beginControlFlow("for (int q = 0; q < $L; q++)", c.s());
    b.addStatement("int d = dst + (row * $L + q) * $L", c.s(), row);
    b.beginControlFlow("for (int j = 0; j < $L; j++)", row);
    b.addStatement("int ix = j * $L + q - $L", c.s(), c.p());
    b.addStatement("s[d + j] = inside && ix >= 0 && ix < $L ? a[src + iy * $L + ix] : 0f", c.w(), c.w());
    b.endControlFlow();
    b.endControlFlow();
    b.endControlFlow();
    b.add("$<});\n");
  }

  /**
   * Calls the tile micro-kernel for one tile. Kernels are shared by every layer with the same kernel size,
   * stride and tile shape, so they are invoked thousands of times per image and the JIT compiles them (with
   * the Vector API intrinsics) after a few images; a loop nest per layer would run each body only a few times
   * per image and stay in the slow tiers for long.
   */
  private void tileBody(CodeBlock.Builder b, ConvPlan c, long bOff, String pos, int limit, String xAt, String yAt) {
    String kernel = microKernel(c);
    String src = c.pointwise() ? "a" : "s";
    int icStride = c.pointwise() ? c.h() * c.w() : c.stagedRows() * c.s() * c.stagedRow();
    String res = c.residual() == Op.FusedConv.Residual.ADD ? "R - Y" : "NO_RESIDUAL";
    boolean fixup = c.residual() == Op.FusedConv.Residual.SUBSAMPLE;
    b.addStatement("int yo = $L", yAt);
    CodeBlock args = CodeBlock.of("$L, $L, $L, $L, TAPS, w, wt, $L + oc, a, yo, $L, $L, $L, Math.min($L, $L - $L)", src, xAt,
        icStride, c.cg(), bOff, c.oh() * c.ow(), res, c.relu() && !fixup, c.tile(), limit, pos);
    b.addStatement("if (VECTOR) Simd.$L($L); else $L($L)", kernel, args, kernel, args);
    if (fixup) subsampleFixup(b, c, pos, limit, c.tile());
  }

  /** Name of the micro-kernel for this tile shape, generating it on first use. */
  private String microKernel(ConvPlan c) {
    String name = String.format("tile_k%ds%d_%dx%d", c.k(), c.s(), c.r(), c.tile());
    if (microKernels.add(name)) {
      simd.addMethod(vectorKernel(name, c));
      scalarKernels.add(scalarKernel(name, c));
    }
    return name;
  }

  private static MethodSpec.Builder kernelSignature(String name, ConvPlan c) {
    return MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
        .addJavadoc("$L output channels x $L positions of a $Lx$L stride-$L conv: acc = bias + sum over input channels and taps,\n"
            + "then + a[yo + res] when res != NO_RESIDUAL, then ReLU; {@code valid} positions are stored. {@code tap} holds the\n"
            + "offsets of the kernel taps from tap (0,0) in the layer's staged input.\n", c.r(), c.tile(), c.k(), c.k(), c.s())
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(int.class, "ics").addParameter(int.class, "cg")
        .addParameter(int[].class, "tap").addParameter(FLOATS, "w").addParameter(int.class, "wi").addParameter(int.class, "bi")
        .addParameter(FLOATS, "a").addParameter(int.class, "yo").addParameter(int.class, "yp").addParameter(int.class, "res")
        .addParameter(boolean.class, "relu").addParameter(int.class, "valid");
  }

  private MethodSpec vectorKernel(String name, ConvPlan c) {
    int r = c.r(), v = c.v(), lanes = ConvPlan.LANES;
    CodeBlock.Builder b = CodeBlock.builder();
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < v; j++) b.addStatement("$T a$L$L = $T.broadcast(SP, w[bi + $L])", FV, i, j, FV, i);
    }
    // A loop over taps (offsets from the layer's table) rather than unrolled taps keeps the method small: C1
    // must compile it before C2 does, and it gives up on methods with many live vectors. Loads are never
    // masked: staged rows and the arena have room past the last tile, and lanes past `valid` are not stored.
    b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics)");
    b.beginControlFlow("for (int t = 0; t < tap.length; t++, wi += $L)", r);
    b.addStatement("int o = xi + tap[t]");
    for (int j = 0; j < v; j++) b.addStatement("$T x$L = $T.fromArray(SP, x, o + $L)", FV, j, FV, j * lanes);
    for (int i = 0; i < r; i++) {
      b.addStatement("$T w$L = $T.broadcast(SP, w[wi + $L])", FV, i, FV, i);
      for (int j = 0; j < v; j++) b.addStatement("a$L$L = x$L.fma(w$L, a$L$L)", i, j, j, i, i, j);
    }
    b.endControlFlow();
    b.endControlFlow();
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < v; j++) {
        String at = "yo + " + i + " * yp + " + j * lanes;
        b.addStatement("if (res != NO_RESIDUAL) a$L$L = a$L$L.add($T.fromArray(SP, a, $L + res))", i, j, i, j, FV, at);
        b.addStatement("if (relu) a$L$L = a$L$L.max(0f)", i, j, i, j);
      }
    }
    b.beginControlFlow("if (valid >= $L)", c.tile());
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < v; j++) b.addStatement("a$L$L.intoArray(a, yo + $L * yp + $L)", i, j, i, j * lanes);
    }
    b.nextControlFlow("else");
    for (int j = 0; j < v; j++) b.addStatement("$T<Float> m$L = SP.indexInRange($L, valid)", VM, j, j * lanes);
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < v; j++) b.addStatement("a$L$L.intoArray(a, yo + $L * yp + $L, m$L)", i, j, i, j * lanes, j);
    }
    b.endControlFlow();
    return kernelSignature(name, c).addCode(b.build()).build();
  }

  /** The same tile in plain Java: same loop order and per-output summation order as the vector kernel. */
  private MethodSpec scalarKernel(String name, ConvPlan c) {
    int r = c.r(), tile = c.tile(), taps = c.k() * c.k();
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("int len = Math.min(valid, $L)", tile);
    b.addStatement("float[] acc = new float[$L]", r * tile);
    b.addStatement("for (int i = 0; i < $L; i++) java.util.Arrays.fill(acc, i * $L, i * $L + len, w[bi + i])", r, tile, tile);
    b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics, wi += $L)", taps * r);
    b.beginControlFlow("for (int t = 0; t < $L; t++)", taps);
    b.beginControlFlow("for (int i = 0; i < $L; i++)", r);
    b.addStatement("float wv = w[wi + t * $L + i]", r);
    b.addStatement("for (int j = 0; j < len; j++) acc[i * $L + j] = Math.fma(x[xi + tap[t] + j], wv, acc[i * $L + j])", tile, tile);
    b.endControlFlow();
    b.endControlFlow();
    b.endControlFlow();
    b.beginControlFlow("for (int i = 0; i < $L; i++)", r);
    b.beginControlFlow("for (int j = 0; j < len; j++)");
    b.addStatement("float y = acc[i * $L + j]", tile);
    b.addStatement("if (res != NO_RESIDUAL) y += a[yo + i * yp + j + res]");
    b.addStatement("a[yo + i * yp + j] = relu ? Math.max(y, 0f) : y");
    b.endControlFlow();
    b.endControlFlow();
    return kernelSignature(name, c).addCode(b.build()).build();
  }

  /** Option A in the epilogue: add the strided, channel-offset read of the block input, then ReLU. */
  private void subsampleFixup(CodeBlock.Builder b, ConvPlan c, String pos, int limit, int tile) {
    b.add("// option-A shortcut: channel oc reads input channel oc - $L at stride $L (zero outside)\n", c.resOffset(), c.resStride());
    b.beginControlFlow("for (int i = 0; i < $L; i++)", c.r());
    b.addStatement("int rc = oc + i - $L", c.resOffset());
    b.addStatement("int yb = yo + i * $L", c.oh() * c.ow());
    b.beginControlFlow("for (int j = 0; j < $L && $L + j < $L; j++)", tile, pos, limit);
    if (c.pointwise()) {
      b.addStatement("int py = (p + j) / $L, px = (p + j) % $L", c.ow(), c.ow());
    } else {
      b.addStatement("int py = oy, px = ox + j");
    }
    b.addStatement("float y = a[yb + j]");
    b.addStatement("if (rc >= 0 && rc < $L) y += a[R + ((b * $L + rc) * $L + py * $L) * $L + px * $L]",
        c.rc(), c.rc(), c.rh(), c.resStride(), c.rw(), c.resStride());
    b.addStatement(c.relu() ? "a[yb + j] = Math.max(y, 0f)" : "a[yb + j] = y");
    b.endControlFlow();
    b.endControlFlow();
  }

  /** Weights [O][Cg][k][k] to [O/R][Cg][k][k][R]. */
  private static float[] pack(float[] w, ConvPlan c) {
    int per = c.cg() * c.k() * c.k(), r = c.r();
    float[] out = new float[w.length];
    for (int o = 0; o < c.o(); o++) {
      for (int j = 0; j < per; j++) out[((o / r) * per + j) * r + o % r] = w[o * per + j];
    }
    return out;
  }

  // ---- the other layers: plain loops with literal shapes ----

  private CodeBlock dense(Node n) {
    TensorType wt = g.node(n.input(1)).type();
    int out = wt.dim(0), in = wt.dim(1);
    long wOff = blob.add(n.input(1), out * in, () -> data(n.input(1)).data());
    long bOff = n.inputs().size() > 2 ? blob.add(n.input(2), out, () -> data(n.input(2)).data()) : -1;
    if (microKernels.add("dot")) {
      simd.addMethod(dotKernel(true));
      scalarKernels.add(dotKernel(false));
    }
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("team.run(n, t -> {\n$>");
    b.beginControlFlow("for (int m = 0; m < $L; m++)", out);
    b.addStatement("int wr = $L + m * $L, xr = X + t * $L", wOff, in, in);
    b.addStatement("float sum = VECTOR ? Simd.dot(a, xr, w, wr, $L) : dot(a, xr, w, wr, $L)", in, in);
    b.addStatement(bOff >= 0 ? "a[Y + t * $L + m] = sum + w[$L + m]" : "a[Y + t * $L + m] = sum", out, bOff);
    b.endControlFlow();
    b.add("$<});\n");
    return b.build();
  }

  /** {@code sum x[xi + i] * w[wi + i]} for i < len. */
  private static MethodSpec dotKernel(boolean vector) {
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("int i = 0");
    if (vector) {
      b.addStatement("$T acc = $T.zero(SP)", FV, FV);
      b.addStatement("for (; i <= len - 8; i += 8) acc = $T.fromArray(SP, x, xi + i).fma($T.fromArray(SP, w, wi + i), acc)", FV, FV);
      b.addStatement("float sum = acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD)");
    } else {
      b.addStatement("float sum = 0f");
    }
    b.addStatement("for (; i < len; i++) sum = Math.fma(x[xi + i], w[wi + i], sum)");
    b.addStatement("return sum");
    return MethodSpec.methodBuilder("dot").addModifiers(Modifier.STATIC).returns(float.class)
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(FLOATS, "w").addParameter(int.class, "wi").addParameter(int.class, "len")
        .addCode(b.build()).build();
  }

  private CodeBlock maxPool(Node n, Op.MaxPool p) {
    TensorType x = g.node(n.input(0)).type(), y = n.type();
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), oh = y.dim(2), ow = y.dim(3);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("team.run(n * $L, t -> {\n$>", c);
    b.addStatement("int xb = X + t * $L, yb = Y + t * $L", h * w, oh * ow);
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.addStatement("int y0 = Math.max(oy * $L - $L, 0), y1 = Math.min(oy * $L - $L + $L, $L)", p.stride(), p.pad(), p.stride(), p.pad(), p.kernel(), h);
    b.beginControlFlow("for (int ox = 0; ox < $L; ox++)", ow);
    b.addStatement("int x0 = Math.max(ox * $L - $L, 0), x1 = Math.min(ox * $L - $L + $L, $L)", p.stride(), p.pad(), p.stride(), p.pad(), p.kernel(), w);
    b.addStatement("float m = Float.NEGATIVE_INFINITY");
    b.beginControlFlow("for (int iy = y0; iy < y1; iy++)");
    b.beginControlFlow("for (int ix = x0; ix < x1; ix++)");
    b.addStatement("float v = a[xb + iy * $L + ix]", w);
    b.addStatement("if (v > m || Float.isNaN(v)) m = v");
    b.endControlFlow();
    b.endControlFlow();
    b.addStatement("a[yb + oy * $L + ox] = m", ow);
    b.endControlFlow();
    b.endControlFlow();
    b.add("$<});\n");
    return b.build();
  }

  private CodeBlock avgPool(Node n, Op.AvgPool p) {
    TensorType x = g.node(n.input(0)).type(), y = n.type();
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), oh = y.dim(2), ow = y.dim(3), k = p.kernel(), s = p.stride(), pad = p.pad();
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("team.run(n * $L, t -> {\n$>", c);
    b.addStatement("int xb = X + t * $L, yb = Y + t * $L", h * w, oh * ow);
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.addStatement("int py0 = oy * $L - $L, py1 = Math.min(py0 + $L, $L), y0 = Math.max(py0, 0), y1 = Math.min(py1, $L)", s, pad, k, h + pad, h);
    b.beginControlFlow("for (int ox = 0; ox < $L; ox++)", ow);
    b.addStatement("int px0 = ox * $L - $L, px1 = Math.min(px0 + $L, $L), x0 = Math.max(px0, 0), x1 = Math.min(px1, $L)", s, pad, k, w + pad, w);
    b.addStatement("double sum = 0");
    b.addStatement("for (int iy = y0; iy < y1; iy++) for (int ix = x0; ix < x1; ix++) sum += a[xb + iy * $L + ix]", w);
    b.addStatement(p.countPad() ? "int div = (py1 - py0) * (px1 - px0)" : "int div = (y1 - y0) * (x1 - x0)");
    b.addStatement("a[yb + oy * $L + ox] = y0 >= y1 || x0 >= x1 ? 0f : (float) (sum / div)", ow);
    b.endControlFlow();
    b.endControlFlow();
    b.add("$<});\n");
    return b.build();
  }

  private CodeBlock globalAvgPool(Node n) {
    TensorType x = g.node(n.input(0)).type();
    int c = x.dim(1), plane = x.dim(2) * x.dim(3);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("team.run(n * $L, t -> {\n$>", c);
    b.addStatement("double sum = 0");
    b.addStatement("for (int i = 0; i < $L; i++) sum += a[X + t * $L + i]", plane, plane);
    b.addStatement("a[Y + t] = (float) (sum / $L)", plane);
    b.add("$<});\n");
    return b.build();
  }

  /** Inference batch norm as a per-channel scale and shift computed here, at compile time. */
  private CodeBlock batchNorm(Node n, Op.BatchNorm bn) {
    TensorType x = n.type();
    int c = x.dim(1), plane = (int) (x.elementsPerItem() / c);
    long sOff = blob.add(n.name() + "#scale", c, () -> bnAffine(n, bn)[0]);
    long tOff = blob.add(n.name() + "#shift", c, () -> bnAffine(n, bn)[1]);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("team.run(n * $L, t -> {\n$>", c);
    b.addStatement("float sc = w[$L + t % $L], sh = w[$L + t % $L]", sOff, c, tOff, c);
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = a[X + i] * sc + sh", plane, plane);
    b.add("$<});\n");
    return b.build();
  }

  private float[][] bnAffine(Node n, Op.BatchNorm bn) {
    float[] gamma = data(n.input(1)).data(), beta = data(n.input(2)).data(), mean = data(n.input(3)).data(), var = data(n.input(4)).data();
    float[] s = new float[gamma.length], t = new float[gamma.length];
    for (int i = 0; i < s.length; i++) {
      double k = gamma[i] / Math.sqrt((double) var[i] + bn.eps());
      s[i] = (float) k;
      t[i] = (float) (beta[i] - mean[i] * k);
    }
    return new float[][] {s, t};
  }

  private CodeBlock elementwise(Node n, String expr) {
    long size = n.type().elementsPerItem();
    CodeBlock.Builder b = CodeBlock.builder();
    String z = n.inputs().size() > 1 ? ", Z = " + off(n.input(1)) + " * n" : "";
    b.addStatement("final int X = $L * n, Y = $L * n$L", off(n.input(0)), off(n.name()), z);
    b.add("team.run(n, t -> {\n$>");
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = $L", size, size, expr);
    b.add("$<});\n");
    return b.build();
  }

  private CodeBlock softmax(Node n) {
    int k = n.type().dim(1);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.beginControlFlow("for (int t = 0; t < n; t++)");
    b.addStatement("double max = Double.NEGATIVE_INFINITY, sum = 0");
    b.addStatement("for (int i = 0; i < $L; i++) max = Math.max(max, a[X + t * $L + i])", k, k);
    b.addStatement("double[] e = new double[$L]", k);
    b.addStatement("for (int i = 0; i < $L; i++) sum += e[i] = Math.exp(a[X + t * $L + i] - max)", k, k);
    b.addStatement("for (int i = 0; i < $L; i++) a[Y + t * $L + i] = (float) (e[i] / sum)", k, k);
    b.endControlFlow();
    return b.build();
  }

  private CodeBlock subsamplePad(Node n, Op.SubsamplePad p) {
    TensorType x = g.node(n.input(0)).type(), y = n.type();
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), oc = y.dim(1), oh = y.dim(2), ow = y.dim(3);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("team.run(n * $L, t -> {\n$>", oc);
    b.addStatement("int b = t / $L, ch = t % $L - $L", oc, oc, p.before());
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.beginControlFlow("for (int ox = 0; ox < $L; ox++)", ow);
    b.addStatement("a[Y + t * $L + oy * $L + ox] = ch >= 0 && ch < $L ? a[X + ((b * $L + ch) * $L + oy * $L) * $L + ox * $L] : 0f",
        oh * ow, ow, c, c, h, p.stride(), w, p.stride());
    b.endControlFlow();
    b.endControlFlow();
    b.add("$<});\n");
    return b.build();
  }

  private CodeBlock normalize(Node n, Op.Normalize z) {
    TensorType x = n.type();
    int c = x.dim(1), plane = x.dim(2) * x.dim(3);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.addStatement("final float[] mean = {$L}, std = {$L}", floats(z.mean()), floats(z.std()));
    b.add("team.run(n * $L, t -> {\n$>", c);
    b.addStatement("int ch = t % $L", c);
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = (a[X + i] / $Lf - mean[ch]) / std[ch]", plane, plane, z.div());
    b.add("$<});\n");
    return b.build();
  }

  /** Little-endian bytes of the weights blob, as {@code resnetc.runtime.Weights} reads them. */
  public static byte[] blobBytes(float[] weights) {
    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(weights.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(weights);
    return buf.array();
  }
}
