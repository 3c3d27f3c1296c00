package resnetc.target.java;

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
import static resnetc.target.Poet.floats;
import static resnetc.target.Poet.getter;
import static resnetc.target.Poet.strings;

import resnetc.schedule.WeightsBlob;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;
import resnetc.passes.DeadCodeElimination;
import resnetc.passes.FuseConv;
import resnetc.analysis.MemoryPlan;
import resnetc.analysis.ArenaPlanner;

/**
 * Emits one Java class per model with JavaPoet: every layer a method whose shapes, strides, padding, offsets and
 * tile sizes are literals; fused epilogues inline; weights pre-packed into one little-endian blob. Each conv has
 * a Vector API body (in the nested {@code Simd} class, loaded only when {@code jdk.incubator.vector} is present)
 * and a scalar body with the same loop structure.
 *
 * <p>The generated class runs the whole model in one float[] activation arena laid out by {@link ArenaPlanner} at
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
  private static final ClassName VOPS = ClassName.get("jdk.incubator.vector", "VectorOperators");
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
  /** Floats of the largest conv tile buffer. */
  private int tileBuffer;
  private final Set<String> methodNames = new HashSet<>();
  private final Set<String> microKernels = new HashSet<>();
  private final List<MethodSpec> scalarKernels = new ArrayList<>();
  private final TypeSpec.Builder simd = TypeSpec.classBuilder("Simd").addModifiers(Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
      .addJavadoc("Vector API bodies; loaded only when jdk.incubator.vector is present.\n");

  private JavaBackend(Graph g, ModelInfo info, Options opt) {
    this.g = g;
    this.info = info;
    this.opt = opt;
    this.plan = ArenaPlanner.plan(g, 1);
    this.blob = new WeightsBlob(g.hasWeights());
    // the species first: shuffles declared later are built from them
    simd.addField(FieldSpec.builder(ParameterizedTypeName.get(SPECIES, ClassName.get(Float.class)), "SP8", Modifier.STATIC, Modifier.FINAL)
        .initializer("$T.SPECIES_256", FV).build());
    simd.addField(FieldSpec.builder(ParameterizedTypeName.get(SPECIES, ClassName.get(Float.class)), "SP16", Modifier.STATIC, Modifier.FINAL)
        .initializer("$T.SPECIES_512", FV).build());
    simd.addField(FieldSpec.builder(ParameterizedTypeName.get(SPECIES, ClassName.get(Float.class)), "SP", Modifier.STATIC, Modifier.FINAL)
        .initializer("SP8").build());
    simd.addMethod(MethodSpec.methodBuilder("preferredLanes").addModifiers(Modifier.STATIC).returns(int.class)
        .addStatement("return $T.SPECIES_PREFERRED.length()", FV).build());
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
    if (tileBuffer > 0) {
      t.addField(FieldSpec.builder(ParameterizedTypeName.get(ThreadLocal.class, float[].class), "TILE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
          .addJavadoc("Each thread's conv tile buffer (accumulators before the epilogue), reused by every task it runs, with a\n"
              + "vector of slack past the largest tile so the epilogue's masked loads stay inside it.\n")
          .initializer("$T.withInitial(() -> new float[$L + $L])", ThreadLocal.class, tileBuffer, ConvPlan.WIDE).build());
    }
    t.addField(FieldSpec.builder(int.class, "SLACK", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Floats past the arena so a vector tile may read beyond the last value (it never stores there).\n")
        .initializer("$L", 4 * ConvPlan.WIDE).build());
    t.addField(constant(int.class, "IN", CodeBlock.of("$L", in)));
    t.addField(constant(int.class, "OUT", CodeBlock.of("$L", out)));
    t.addField(constant(long.class, "WEIGHTS", CodeBlock.of("$LL", blob.size())));
    t.addField(FieldSpec.builder(boolean.class, "VECTOR", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("The Vector API kernels run when the module is present (java --add-modules jdk.incubator.vector).\n")
        .initializer("ModuleLayer.boot().findModule($S).isPresent() && !Boolean.getBoolean($S)", "jdk.incubator.vector", "resnetc.scalar").build());
    t.addField(FieldSpec.builder(boolean.class, "WIDE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("16-lane tiles where the CPU has 512-bit vectors (AVX-512); 8-lane ones otherwise ({@code -Dresnetc.narrow=true} forces them).\n")
        .initializer("VECTOR && !Boolean.getBoolean($S) && Simd.preferredLanes() >= 16", "resnetc.narrow").build());
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
    ClassName work = ClassName.get("resnetc.runtime", "Workspace"), buffers = work.nestedClass("Buffers");
    t.addField(FieldSpec.builder(work, "work", Modifier.PRIVATE, Modifier.FINAL)
        .initializer("new $T(ARENA, SLACK, SCRATCH)", work).build());
    t.addMethod(MethodSpec.methodBuilder("predict").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(FLOATS)
        .addParameter(FLOATS, "x").addParameter(int.class, "n")
        .addStatement("$T.checkInput(this, x.length, n)", MODEL)
        .addStatement("$T b = work.take(n)", buffers)
        .addStatement("System.arraycopy(x, 0, b.a(), IN * n, x.length)")
        .addStatement("forward(b.a(), b.s(), n)")
        .addStatement("float[] y = java.util.Arrays.copyOfRange(b.a(), OUT * n, OUT * n + CLASSES * n)")
        .addStatement("work.give(b)")
        .addStatement("return y").build());
    t.addMethod(MethodSpec.methodBuilder("predict").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .addParameter(MemorySegment.class, "input").addParameter(MemorySegment.class, "output").addParameter(int.class, "n")
        .addStatement("$T.checkSegments(this, input, output, n)", MODEL)
        .addStatement("$T b = work.take(n)", buffers)
        .addStatement("$T.copy(input, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, b.a(), IN * n, n * C * H * W)", MemorySegment.class)
        .addStatement("forward(b.a(), b.s(), n)")
        .addStatement("$T.copy(b.a(), OUT * n, output, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n * CLASSES)", MemorySegment.class)
        .addStatement("work.give(b)").build());
    t.addMethod(MethodSpec.methodBuilder("close").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .addStatement("team.close()").addStatement("work.clear()").build());
    t.addMethod(MethodSpec.methodBuilder("forward").addModifiers(Modifier.PRIVATE).addParameter(FLOATS, "a").addParameter(FLOATS, "s")
        .addParameter(int.class, "n")
        .addJavadoc("Runs every layer in order over the arena {@code a}; scratch {@code s} holds staged conv inputs.\n")
        .addCode(forward.build()).build());
    kernels.forEach(t::addMethod);
    scalarKernels.forEach(t::addMethod);
    t.addField(FieldSpec.builder(int.class, "NO_RESIDUAL", Modifier.STATIC, Modifier.FINAL).initializer("Integer.MIN_VALUE").build());
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
    if (c.staged()) scratch = Math.max(scratch, c.srcPerImage());
    String wName = n.input(1);
    long wOff = blob.add(wName + "#pack" + c.packR(), c.packedWeights(), () -> pack(data(wName).data(), c));
    long bOff = blob.add(n.input(2), c.o(), () -> data(n.input(2)).data());
    CodeBlock.Builder b = CodeBlock.builder();
    b.add("// $L\n", c.describe());
    b.addStatement("final int X = $L * n, Y = $L * n$L", off(n.input(0)), off(n.name()), res != null ? ", R = " + off(n.input(3)) + " * n" : "");
    b.addStatement("final int[] TAPS = {$L}", String.join(", ", java.util.Arrays.stream(c.taps()).mapToObj(Integer::toString).toList()));
    if (c.staged()) stage(b, c);
    if (c.winograd() != null) {
      // by Winograd where the Vector API runs; the scalar path takes the direct conv below
      b.beginControlFlow("if (VECTOR)");
      winograd(b, c, n);
      b.addStatement("return");
      b.endControlFlow();
    }
    b.beginControlFlow("if (WIDE)");
    tiles(b, c, c.variant(ConvPlan.WIDE), wOff, bOff);
    b.nextControlFlow("else");
    tiles(b, c, c.variant(ConvPlan.NARROW), wOff, bOff);
    b.endControlFlow();
    return b.build();
  }

  /** Stages the input of a conv into scratch: zero padding and stride phases, see {@link ConvPlan}. */
  private void stage(CodeBlock.Builder b, ConvPlan c) {
    int sd = c.s(), pad = c.p(), wq = c.wq(), hq = c.hq();
    b.add("// stage the input: padded by $L, split into $L stride phase(s) per axis\n", pad, c.phases());
    int grain = openTasks(b, c.c(), c.icStride());
    b.addStatement("int src = X + t * $L, dst = t / $L * $L + t % $L * $L", c.h() * c.w(), c.c(), c.srcPerImage(), c.c(), c.icStride());
    String copy = stageKernels(sd);
    for (int py = 0; py < c.phases(); py++) {
      for (int px = 0; px < c.phases(); px++) {
        int plane = (py * c.phases() + px) * hq * wq;
        // rows i whose input row i * S + py - pad lies inside the image, columns j likewise
        int i0 = Math.min(hq, Math.max(0, Math.ceilDiv(pad - py, sd)));
        int i1 = Math.max(i0, Math.min(hq, Math.floorDiv(c.h() - 1 + pad - py, sd) + 1));
        int j0 = Math.min(wq, Math.max(0, Math.ceilDiv(pad - px, sd)));
        int j1 = Math.max(j0, Math.min(wq, Math.floorDiv(c.w() - 1 + pad - px, sd) + 1));
        b.add("// phase ($L, $L): rows $L..$L and columns $L..$L from the image, zeros around\n", py, px, i0, i1 - 1, j0, j1 - 1);
        if (i0 > 0) b.addStatement("java.util.Arrays.fill(s, dst + $L, dst + $L, 0f)", plane, plane + i0 * wq);
        if (j1 > j0) {
          b.beginControlFlow("for (int i = $L, row = dst + $L; i < $L; i++, row += $L)", i0, plane + i0 * wq, i1, wq);
          zeros(b, 0, j0);
          String args = CodeBlock.of("a, src + (i * $L + $L) * $L + $L, s, row$L, $L", sd, py - pad, c.w(), j0 * sd + px - pad,
              j0 == 0 ? "" : " + " + j0, j1 - j0).toString();
          b.addStatement("if (!VECTOR) $L($L); else if (WIDE) Simd.$L_16($L); else Simd.$L_8($L)", copy, args, copy, args, copy, args);
          zeros(b, j1, wq);
          b.endControlFlow();
        } else if (i1 > i0) {
          b.addStatement("java.util.Arrays.fill(s, dst + $L, dst + $L, 0f)", plane + i0 * wq, plane + i1 * wq);
        }
        if (i1 < hq) b.addStatement("java.util.Arrays.fill(s, dst + $L, dst + $L, 0f)", plane + i1 * wq, plane + hq * wq);
      }
    }
    closeTasks(b, grain);
  }

  /** Zeros {@code s[row + from .. row + to)}: a store each when there are few. */
  private static void zeros(CodeBlock.Builder b, int from, int to) {
    if (to - from > 4) {
      b.addStatement("java.util.Arrays.fill(s, row + $L, row + $L, 0f)", from, to);
      return;
    }
    for (int j = from; j < to; j++) b.addStatement("s[row$L] = 0f", j == 0 ? "" : " + " + j);
  }

  /**
   * {@code y[yi + j] = x[xi + j * S]} for j < len: for S 1 and 2 vector kernels (stride 2: the even lanes of two
   * loads; loads may read up to 2 vectors past the last value, inside the arena's slack) with a masked last vector,
   * and a scalar one. Returns the name.
   */
  private String stageKernels(int sd) {
    String name = "stage" + sd;
    if (!microKernels.add(name)) return name;
    MethodSpec.Builder sig = MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(FLOATS, "y").addParameter(int.class, "yi")
        .addParameter(int.class, "len");
    MethodSpec.Builder scalar = sig.build().toBuilder().addJavadoc("{@code y[yi + j] = x[xi + j * $L]} for j < len.\n", sd);
    if (sd == 1) scalar.addStatement("System.arraycopy(x, xi, y, yi, len)");
    else scalar.addStatement("for (int j = 0; j < len; j++) y[yi + j] = x[xi + j * $L]", sd);
    scalarKernels.add(scalar.build());
    if (sd > 2) return name;
    for (int lanes : new int[] {ConvPlan.WIDE, ConvPlan.NARROW}) {
      String sp = lanes == ConvPlan.WIDE ? "SP16" : "SP8";
      CodeBlock load = sd == 1 ? CodeBlock.of("$T.fromArray($L, x, xi + j)", FV, sp)
          : CodeBlock.of("EVEN$L.selectFrom($T.fromArray($L, x, xi + 2 * j), $T.fromArray($L, x, xi + 2 * j + $L))", evenLanes(lanes), FV, sp, FV, sp, lanes);
      CodeBlock.Builder v = CodeBlock.builder();
      v.addStatement("int j = 0");
      v.addStatement("for (; j <= len - $L; j += $L) $L.intoArray(y, yi + j)", lanes, lanes, load);
      v.beginControlFlow("if (j < len)");
      v.addStatement("$T<Float> m = $L.indexInRange(j, len)", VM, sp);
      if (sd == 1) v.addStatement("$T.fromArray($L, x, xi + j, m).intoArray(y, yi + j, m)", FV, sp);
      else v.addStatement("$L.intoArray(y, yi + j, m)", load);
      v.endControlFlow();
      simd.addMethod(sig.build().toBuilder().setName(name + "_" + lanes).addCode(v.build()).build());
    }
    return name;
  }

  /** Declares {@code EVENn} in the Simd class once: lane i = 2i, the even floats of two consecutive vectors. */
  private int evenLanes(int lanes) {
    if (microKernels.add("even" + lanes)) {
      simd.addField(FieldSpec.builder(FV, "EVEN" + lanes, Modifier.STATIC, Modifier.FINAL)
          .addJavadoc("Lane i = 2i: picks the even floats of two consecutive vectors.\n")
          .initializer("$T.fromArray($T.SPECIES_$L, new float[] {$L}, 0)", FV, FV, lanes * 32,
              String.join(", ", java.util.stream.IntStream.range(0, lanes).mapToObj(i -> 2 * i + "f").toList())).build());
    }
    return lanes;
  }

  /**
   * A conv by Winograd F(2x2, 3x3) (see {@link ConvPlan.Winograd}): input transform per input channel, the 16
   * products on the conv micro-kernel (weights U = G g G^T packed [16][O/packR][C][packR], zero bias), output
   * transform per output channel with bias, residual and ReLU. 16 lanes with AVX-512, else 8.
   */
  private void winograd(CodeBlock.Builder b, ConvPlan c, Node n) {
    ConvPlan.Winograd wg = c.winograd();
    int o = c.o(), cin = c.c(), tp = wg.tp(), per = c.srcPerImage(), r = c.packR();
    String wName = n.input(1);
    long uOff = blob.add(wName + "#wino" + r, 16L * o * cin, () -> packWinograd(data(wName).data(), o, cin, r));
    long zero = blob.add("#zeros8", 8, () -> new float[8]);
    long bOff = blob.add(n.input(2), o, () -> data(n.input(2)).data());
    winogradKernels();
    b.add("// Winograd F(2x2, 3x3): $L x $L tiles per plane\n", wg.th(), wg.tw());
    b.addStatement("team.run(n * $L, t -> Simd.winoIn(WIDE, s, t / $L * $L + t % $L * $L, $L, $L, $L, t / $L * $L + $L + t % $L * $L, $L))",
        cin, cin, per, cin, c.icStride(), c.wq(), wg.th(), wg.tw(), cin, per, wg.v(), cin, tp, cin * tp);
    // the products: task = (image, xi, channel tile, band), as the direct conv's tiles
    for (boolean wide : new boolean[] {true, false}) {
      // the products' tile: a 1x1 conv over tp positions with 16 x O / packR channel tiles
      ConvPlan.Variant v = ConvPlan.tile(wide ? ConvPlan.WIDE : ConvPlan.NARROW, r, tp, 16 * (o / r));
      int tiles = 16 * (o / r), perImage = tiles * v.bands(), tw = v.width(), halves = r / v.r();
      b.beginControlFlow(wide ? "if (WIDE)" : "else");
      b.add("team.run(n * $L, t -> {\n$>", perImage);
      b.addStatement("int b = t / $L, j = t % $L, tile = j / $L, band = j % $L, xi = tile / $L, oc = tile % $L * $L", perImage, perImage,
          v.bands(), v.bands(), o / r, o / r, r);
      b.addStatement("int vi = b * $L + $L + xi * $L, mi = b * $L + $L + (xi * $L + oc) * $L, wi = $L + tile * $L", per, wg.v(), cin * tp,
          per, wg.m(), o, tp, uOff, cin * r);
      b.beginControlFlow("for (int pt = band * $L / $L, end = (band + 1) * $L / $L; pt < end; pt++)", v.positionTiles(), v.bands(),
          v.positionTiles(), v.bands());
      b.addStatement("int q = pt * $L, valid = $L - q", tw, tp);
      if (halves > 1) b.beginControlFlow("for (int h = 0; h < $L; h++)", halves);
      String hw = halves > 1 ? " + h * " + v.r() : "", hy = halves > 1 ? " + h * " + (v.r() * tp) : "";
      kernelCalls(b, v, nv -> String.format("Simd.%s(s, vi + q, %d, %d, Simd.TAP0, w, wi%s, %d, s, mi%s + q, %d)",
          microKernel(r, v, nv, true), tp, cin, hw, zero, hy, tp));
      if (halves > 1) b.endControlFlow();
      b.endControlFlow();
      b.add("$<});\n");
      b.endControlFlow();
    }
    String res = c.residual() == Op.FusedConv.Residual.ADD ? "R - Y" : "NO_RESIDUAL";
    b.addStatement("team.run(n * $L, t -> Simd.winoOut(WIDE, s, t / $L * $L + $L + t % $L * $L, $L, $L, $L, w[$L + t % $L], a, Y + t * $L, $L, $L, $L, $L))",
        o, o, per, wg.m(), o, tp, o * tp, wg.th(), wg.tw(), bOff, o, c.oh() * c.ow(), c.oh(), c.ow(), res, c.relu());
  }

  /** {@link resnetc.schedule.Winograd#weights} packed [16][O/r][C][r]. */
  private static float[] packWinograd(float[] g, int o, int c, int r) {
    float[] u = resnetc.schedule.Winograd.weights(g, o, c), out = new float[u.length];
    for (int xi = 0; xi < 16; xi++) {
      for (int oc = 0; oc < o; oc++) {
        for (int ic = 0; ic < c; ic++) out[((xi * (o / r) + oc / r) * c + ic) * r + oc % r] = u[(xi * o + oc) * c + ic];
      }
    }
    return out;
  }

  /** The Winograd transforms in the Simd class, for 16 and 8 lanes. */
  private void winogradKernels() {
    if (!microKernels.add("winograd")) return;
    simd.addField(FieldSpec.builder(int[].class, "TAP0", Modifier.STATIC, Modifier.FINAL).initializer("{0}").build());
    for (int lanes : new int[] {16, 8}) {
      String sp = lanes == 16 ? "SP16" : "SP8";
      StringBuilder even = new StringBuilder(), odd = new StringBuilder(), lo = new StringBuilder(), hi = new StringBuilder();
      for (int l = 0; l < lanes; l++) {
        String sep = l == 0 ? "" : ", ";
        even.append(sep).append(2 * l);
        odd.append(sep).append(2 * l + 1);
        lo.append(sep).append(l / 2 + (l % 2) * lanes);
        hi.append(sep).append(lanes / 2 + l / 2 + (l % 2) * lanes);
      }
      ClassName shuffle = ClassName.get("jdk.incubator.vector", "VectorShuffle");
      TypeName sh = ParameterizedTypeName.get(shuffle, ClassName.get(Float.class));
      simd.addField(FieldSpec.builder(sh, "W_EVEN" + lanes, Modifier.STATIC, Modifier.FINAL).initializer("$T.fromValues($L, $L)", shuffle, sp, even).build());
      simd.addField(FieldSpec.builder(sh, "W_ODD" + lanes, Modifier.STATIC, Modifier.FINAL).initializer("$T.fromValues($L, $L)", shuffle, sp, odd).build());
      simd.addField(FieldSpec.builder(sh, "W_ZIPLO" + lanes, Modifier.STATIC, Modifier.FINAL).initializer("$T.fromValues($L, $L)", shuffle, sp, lo).build());
      simd.addField(FieldSpec.builder(sh, "W_ZIPHI" + lanes, Modifier.STATIC, Modifier.FINAL).initializer("$T.fromValues($L, $L)", shuffle, sp, hi).build());

      // input transform of one row i of L tiles: d[i][0..3] from two loads of 2L floats, split into even and odd lanes
      CodeBlock.Builder in = CodeBlock.builder();
      in.beginControlFlow("for (int ty = 0; ty < th; ty++)");
      in.beginControlFlow("for (int tx = 0; tx < tw; tx += $L)", lanes);
      in.addStatement("int r0 = src + 2 * ty * wq + 2 * tx");
      for (int i = 0; i < 4; i++) {
        for (int half = 0; half < 2; half++) {
          in.addStatement("$T p$L$L = $T.fromArray($L, s, r0 + $L), q$L$L = $T.fromArray($L, s, r0 + $L)", FV, i, half, FV, sp,
              i == 0 ? 2 * half + "" : i + " * wq + " + 2 * half, i, half, FV, sp, i == 0 ? 2 * half + lanes + "" : i + " * wq + " + (2 * half + lanes));
          in.addStatement("$T d$L$L = p$L$L.rearrange(W_EVEN$L, q$L$L), d$L$L = p$L$L.rearrange(W_ODD$L, q$L$L)", FV, i, 2 * half, i, half, lanes, i, half,
              i, 2 * half + 1, i, half, lanes, i, half);
        }
      }
      for (int j = 0; j < 4; j++) {
        in.addStatement("$T b0$L = d0$L.sub(d2$L), b1$L = d1$L.add(d2$L), b2$L = d2$L.sub(d1$L), b3$L = d1$L.sub(d3$L)", FV, j, j, j, j, j, j,
            j, j, j, j, j, j);
      }
      in.addStatement("int at = dst + ty * tw + tx");
      in.addStatement("$T<Float> m = $L.indexInRange(tx, tw)", VM, sp);
      for (int i = 0; i < 4; i++) {
        in.addStatement("b$L0.sub(b$L2).intoArray(s, at + $L * xs, m)", i, i, 4 * i);
        in.addStatement("b$L1.add(b$L2).intoArray(s, at + $L * xs, m)", i, i, 4 * i + 1);
        in.addStatement("b$L2.sub(b$L1).intoArray(s, at + $L * xs, m)", i, i, 4 * i + 2);
        in.addStatement("b$L1.sub(b$L3).intoArray(s, at + $L * xs, m)", i, i, 4 * i + 3);
      }
      in.endControlFlow();
      in.endControlFlow();
      simd.addMethod(MethodSpec.methodBuilder("winoIn" + lanes).addModifiers(Modifier.STATIC)
          .addJavadoc("V = B^T d B of one staged plane's tiles, $L at a time, into 16 planes {@code xs} floats apart.\n", lanes)
          .addParameter(FLOATS, "s").addParameter(int.class, "src").addParameter(int.class, "wq").addParameter(int.class, "th")
          .addParameter(int.class, "tw").addParameter(int.class, "dst").addParameter(int.class, "xs").addCode(in.build()).build());

      // output transform: one method per output row of the tile (a single one is too large for C1's registers)
      CodeBlock.Builder out = CodeBlock.builder();
      out.beginControlFlow("for (int ty = 0; ty < th; ty++)");
      out.beginControlFlow("for (int tx = 0; tx < tw; tx += $L)", lanes);
      out.addStatement("int at = m + ty * tw + tx, row = y + 2 * ty * ow");
      out.addStatement("winoRow0_$L(s, at, xs, bias, a, row, 2 * tx, ow, res, relu)", lanes);
      out.addStatement("if (2 * ty + 1 < oh) winoRow1_$L(s, at, xs, bias, a, row + ow, 2 * tx, ow, res, relu)", lanes);
      out.endControlFlow();
      out.endControlFlow();
      simd.addMethod(MethodSpec.methodBuilder("winoOut" + lanes).addModifiers(Modifier.STATIC)
          .addJavadoc("Y = A^T M A + bias (+ a[y + res]), ReLU, for one output channel's tiles, $L at a time.\n", lanes)
          .addParameter(FLOATS, "s").addParameter(int.class, "m").addParameter(int.class, "xs").addParameter(int.class, "th")
          .addParameter(int.class, "tw").addParameter(float.class, "bias").addParameter(FLOATS, "a").addParameter(int.class, "y")
          .addParameter(int.class, "oh").addParameter(int.class, "ow").addParameter(int.class, "res").addParameter(boolean.class, "relu")
          .addCode(out.build()).build());
      for (int i = 0; i < 2; i++) {
        CodeBlock.Builder rb = CodeBlock.builder();
        // row 0 of A^T is (1, 1, 1, 0), row 1 is (0, 1, -1, -1)
        for (int j = 0; j < 4; j++) {
          if (i == 0) {
            rb.addStatement("$T u$L = $T.fromArray($L, s, at + $L * xs).add($T.fromArray($L, s, at + $L * xs)).add($T.fromArray($L, s, at + $L * xs))",
                FV, j, FV, sp, j, FV, sp, 4 + j, FV, sp, 8 + j);
          } else {
            rb.addStatement("$T u$L = $T.fromArray($L, s, at + $L * xs).sub($T.fromArray($L, s, at + $L * xs)).sub($T.fromArray($L, s, at + $L * xs))",
                FV, j, FV, sp, 4 + j, FV, sp, 8 + j, FV, sp, 12 + j);
          }
        }
        rb.addStatement("$T c0 = u0.add(u1).add(u2), c1 = u1.sub(u2).sub(u3)", FV);
        for (String part : new String[] {"W_ZIPLO", "W_ZIPHI"}) {
          String v = part.equals("W_ZIPLO") ? "lo" : "hi", k = "k" + v;
          int shift = v.equals("lo") ? 0 : lanes;
          rb.addStatement("$T<Float> $L = $L.indexInRange(col + $L, ow)", VM, k, sp, shift);
          rb.addStatement("$T $L = c0.rearrange($L$L, c1).add(bias)", FV, v, part, lanes);
          rb.addStatement("if (res != NO_RESIDUAL) $L = $L.add($T.fromArray($L, a, row + col + $L + res, $L))", v, v, FV, sp, shift, k);
          rb.addStatement("if (relu) $L = $L.max(0f)", v, v);
          rb.addStatement("$L.intoArray(a, row + col + $L, $L)", v, shift, k);
        }
        simd.addMethod(MethodSpec.methodBuilder("winoRow" + i + "_" + lanes).addModifiers(Modifier.STATIC)
            .addParameter(FLOATS, "s").addParameter(int.class, "at").addParameter(int.class, "xs").addParameter(float.class, "bias")
            .addParameter(FLOATS, "a").addParameter(int.class, "row").addParameter(int.class, "col").addParameter(int.class, "ow")
            .addParameter(int.class, "res").addParameter(boolean.class, "relu").addCode(rb.build()).build());
      }
    }
    simd.addMethod(MethodSpec.methodBuilder("winoIn").addModifiers(Modifier.STATIC)
        .addParameter(boolean.class, "wide").addParameter(FLOATS, "s").addParameter(int.class, "src").addParameter(int.class, "wq")
        .addParameter(int.class, "th").addParameter(int.class, "tw").addParameter(int.class, "dst").addParameter(int.class, "xs")
        .addStatement("if (wide) winoIn16(s, src, wq, th, tw, dst, xs); else winoIn8(s, src, wq, th, tw, dst, xs)").build());
    simd.addMethod(MethodSpec.methodBuilder("winoOut").addModifiers(Modifier.STATIC)
        .addParameter(boolean.class, "wide").addParameter(FLOATS, "s").addParameter(int.class, "m").addParameter(int.class, "xs")
        .addParameter(int.class, "th").addParameter(int.class, "tw").addParameter(float.class, "bias").addParameter(FLOATS, "a")
        .addParameter(int.class, "y").addParameter(int.class, "oh").addParameter(int.class, "ow").addParameter(int.class, "res")
        .addParameter(boolean.class, "relu")
        .addStatement("if (wide) winoOut16(s, m, xs, th, tw, bias, a, y, oh, ow, res, relu); else winoOut8(s, m, xs, th, tw, bias, a, y, oh, ow, res, relu)")
        .build());
  }

  /**
   * The task loop of one vector width: each task takes packR output channels of one image over a band of position
   * tiles and calls the tile micro-kernel per tile (per half of the channels with 256-bit vectors). Tiles whose
   * rows are not contiguous in the output (padding columns) or that take an option-A residual go through a small
   * buffer and a row-by-row epilogue.
   */
  private void tiles(CodeBlock.Builder b, ConvPlan c, ConvPlan.Variant v, long wOff, long bOff) {
    int perImage = c.tiles() * v.bands(), tw = v.width(), plane = c.oh() * c.ow(), halves = c.packR() / v.r();
    b.add("// $L lanes: $L oc x $L vectors per tile, $L tiles of $L channels x $L bands per image\n", v.lanes(), v.r(), v.v(),
        c.tiles(), c.packR(), v.bands());
    b.add("team.run(n * $L, t -> {\n$>", perImage);
    if (c.imageMinor()) b.addStatement("int b = t % n, j = t / n");
    else b.addStatement("int b = t / $L, j = t % $L", perImage, perImage);
    b.addStatement("int tile = j / $L, band = j % $L, oc = tile * $L", v.bands(), v.bands(), c.packR());
    String xBase = c.staged() ? "b * " + c.srcPerImage() : "X + b * " + c.srcPerImage();
    b.addStatement("int xi = $L + oc / $L * $L", xBase, c.og(), c.cg() * c.icStride());
    b.addStatement("int wi = $L + tile * $L, yb = Y + (b * $L + oc) * $L", wOff, c.cg() * c.kk() * c.packR(), c.o(), plane);
    tileBuffer = Math.max(tileBuffer, c.packR() * tw);
    b.addStatement("float[] tmp = TILE.get()");
    b.beginControlFlow("for (int pt = band * $L / $L, end = (band + 1) * $L / $L; pt < end; pt++)", v.positionTiles(), v.bands(),
        v.positionTiles(), v.bands());
    b.addStatement("int q = pt * $L, valid = Math.min($L, $L - q)", tw, tw, c.positions());
    if (halves > 1) b.beginControlFlow("for (int h = 0; h < $L; h++)", halves);
    String hw = halves > 1 ? " + h * " + v.r() : "";
    String src = c.staged() ? "s" : "a";
    String out = CodeBlock.of("tmp, $L, $L", halves > 1 ? "h * " + (v.r() * tw) : "0", tw).toString();
    String args = String.format("%s, xi + q, %d, %d, TAPS, w, wi%s, %d + oc%s, %s", src, c.icStride(), c.cg(), hw, bOff, hw, out);
    kernelCalls(b, v, nv -> {
      String kernel = microKernel(c, v, nv);
      return v.lanes() == ConvPlan.WIDE ? String.format("Simd.%s(%s)", kernel, args)
          : String.format("if (VECTOR) Simd.%s(%s); else %s(%s)", kernel, args, kernel, args);
    });
    if (halves > 1) b.endControlFlow();
    epilogue(b, c, tw, plane);
    b.endControlFlow();
    b.add("$<});\n");
  }

  /**
   * The micro-kernel call for a tile of {@code valid} positions: V vectors, or fewer for the last tile of a layer
   * ({@code call} gives the statement for a number of vectors).
   */
  private static void kernelCalls(CodeBlock.Builder b, ConvPlan.Variant v, java.util.function.IntFunction<String> call) {
    for (int nv = v.v(); nv >= 1; nv--) {
      if (v.v() > 1) {
        if (nv == v.v()) b.beginControlFlow("if (valid > $L)", (nv - 1) * v.lanes());
        else if (nv > 1) b.nextControlFlow("else if (valid > $L)", (nv - 1) * v.lanes());
        else b.nextControlFlow("else");
      }
      b.addStatement(call.apply(nv));
    }
    if (v.v() > 1) b.endControlFlow();
  }

  /**
   * From the tile buffer to the output, one run of output positions at a time (the whole tile when output rows are
   * contiguous in the flat space, else one output row, dropping the padding columns): adds the aligned residual,
   * then ReLU. The option-A residual (channel oc reads block-input channel oc - offset at stride S, zero outside) is
   * added element by element.
   */
  private void epilogue(CodeBlock.Builder b, ConvPlan c, int tw, int plane) {
    b.beginControlFlow("for (int i = 0; i < $L; i++)", c.packR());
    b.addStatement("int ti = i * $L - q, yc = yb + i * $L", tw, plane);
    String res = c.residual() == Op.FusedConv.Residual.ADD ? "R - Y" : "NO_RESIDUAL";
    if (c.direct()) {
      b.addStatement("if (VECTOR) Simd.finish(tmp, ti + q, a, yc + q, $L, $L, valid); else finish(tmp, ti + q, a, yc + q, $L, $L, valid)",
          res, c.relu(), res, c.relu());
      b.endControlFlow();
      finishKernels();
      return;
    }
    boolean sub = c.residual() == Op.FusedConv.Residual.SUBSAMPLE;
    if (sub) {
      b.addStatement("int rch = oc + i - $L", c.resOffset());
      b.addStatement("boolean rin = rch >= 0 && rch < $L", c.rc());
      b.addStatement("int rb = R + (b * $L + rch) * $L", c.rc(), c.rh() * c.rw());
    }
    b.beginControlFlow("for (int p = q, stop = q + valid; p < stop; )");
    b.addStatement("int oy = p / $L, rowEnd = Math.min(stop, oy * $L + $L), d = yc + oy * $L - oy * $L", c.wq(), c.wq(), c.ow(), c.ow(), c.wq());
    if (sub) {
      b.addStatement("int rr = rb + oy * $L - oy * $L * $L", c.resStride() * c.rw(), c.wq(), c.resStride());
      b.beginControlFlow("for (; p < rowEnd; p++)");
      b.addStatement("float v = tmp[ti + p]");
      b.addStatement("if (rin) v += a[rr + p * $L]", c.resStride());
      b.addStatement(c.relu() ? "a[d + p] = Math.max(v, 0f)" : "a[d + p] = v");
      b.endControlFlow();
    } else {
      b.beginControlFlow("if (p < rowEnd)");
      b.addStatement("if (VECTOR) Simd.finish(tmp, ti + p, a, d + p, $L, $L, rowEnd - p); else finish(tmp, ti + p, a, d + p, $L, $L, rowEnd - p)",
          res, c.relu(), res, c.relu());
      b.endControlFlow();
    }
    b.addStatement("p = (oy + 1) * $L", c.wq());
    b.endControlFlow();
    b.endControlFlow();
    if (!sub) finishKernels();
  }

  /** {@code a[yo + j] = relu?(t[ti + j] (+ a[yo + j + res])) for j < len}, vector and scalar. */
  private void finishKernels() {
    if (!microKernels.add("finish")) return;
    MethodSpec.Builder sig = MethodSpec.methodBuilder("finish").addModifiers(Modifier.STATIC)
        .addParameter(FLOATS, "t").addParameter(int.class, "ti").addParameter(FLOATS, "a").addParameter(int.class, "yo")
        .addParameter(int.class, "res").addParameter(boolean.class, "relu").addParameter(int.class, "len");
    // Whole vectors, then one masked vector for the rest: 16 lanes where the conv tiles have them.
    CodeBlock.Builder v = CodeBlock.builder();
    v.addStatement("int j = 0");
    v.beginControlFlow("if (WIDE)");
    finishLoop(v, "SP16", 16);
    v.addStatement("return");
    v.endControlFlow();
    finishLoop(v, "SP8", 8);
    simd.addMethod(sig.build().toBuilder().addCode(v.build()).build());
    CodeBlock.Builder sc = CodeBlock.builder();
    sc.beginControlFlow("for (int j = 0; j < len; j++)");
    sc.addStatement("float y = t[ti + j]");
    sc.addStatement("if (res != NO_RESIDUAL) y += a[yo + j + res]");
    sc.addStatement("a[yo + j] = relu ? Math.max(y, 0f) : y");
    sc.endControlFlow();
    scalarKernels.add(sig.addCode(sc.build()).build());
  }

  private static void finishLoop(CodeBlock.Builder v, String sp, int lanes) {
    v.beginControlFlow("for (; j <= len - $L; j += $L)", lanes, lanes);
    v.addStatement("$T y = $T.fromArray($L, t, ti + j)", FV, FV, sp);
    v.addStatement("if (res != NO_RESIDUAL) y = y.add($T.fromArray($L, a, yo + j + res))", FV, sp);
    v.addStatement("if (relu) y = y.max(0f)");
    v.addStatement("y.intoArray(a, yo + j)");
    v.endControlFlow();
    v.beginControlFlow("if (j < len)");
    v.addStatement("$T<Float> m = $L.indexInRange(j, len)", VM, sp);
    v.addStatement("$T y = $T.fromArray($L, t, ti + j, m)", FV, FV, sp);
    v.addStatement("if (res != NO_RESIDUAL) y = y.add($T.fromArray($L, a, yo + j + res, m))", FV, sp);
    v.addStatement("if (relu) y = y.max(0f)");
    v.addStatement("y.intoArray(a, yo + j, m)");
    v.endControlFlow();
  }

  /** Name of the micro-kernel for this tile, generating it (and for 256-bit tiles its scalar twin) on first use. */
  private String microKernel(ConvPlan c, ConvPlan.Variant v, int nv) {
    return microKernel(c.packR(), v, nv, c.kk() == 1);
  }

  /** {@code oneTap}: a kernel for 1x1 convs, without the loop over taps (C2 does not know the table has one entry). */
  private String microKernel(int packR, ConvPlan.Variant v, int nv, boolean oneTap) {
    String name = String.format("tile%d_%dx%d_w%d%s", v.lanes(), v.r(), nv, packR, oneTap ? "_k1" : "");
    if (microKernels.add(name)) {
      simd.addMethod(vectorKernel(name, v.lanes(), v.r(), nv, packR, oneTap));
      if (v.lanes() == ConvPlan.NARROW) scalarKernels.add(scalarKernel(name, v.lanes(), v.r(), nv, packR));
    }
    return name;
  }

  private static MethodSpec.Builder kernelSignature(String name, int lanes, int r, int nv, int packR) {
    return MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
        .addJavadoc("$L output channels x $L positions ($L vectors of $L): acc = bias + sum over input channels and taps, stored\n"
            + "whole at {@code y[yo + channel * yp + position]} (the epilogue is the caller's: this method must stay small\n"
            + "enough for the JIT's C1 tier, or it may never be compiled). {@code tap} holds each tap's offset from the\n"
            + "position in the input; weights are packed $L output channels per tap.\n", r, nv * lanes, nv, lanes, packR)
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(int.class, "ics").addParameter(int.class, "cg")
        .addParameter(int[].class, "tap").addParameter(FLOATS, "w").addParameter(int.class, "wi").addParameter(int.class, "bi")
        .addParameter(FLOATS, "y").addParameter(int.class, "yo").addParameter(int.class, "yp");
  }

  private MethodSpec vectorKernel(String name, int lanes, int r, int v, int packR, boolean oneTap) {
    String sp = lanes == ConvPlan.WIDE ? "SP16" : "SP8";
    CodeBlock.Builder b = CodeBlock.builder();
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < v; j++) b.addStatement("$T a$L$L = $T.broadcast($L, w[bi + $L])", FV, i, j, FV, sp, i);
    }
    // A loop over taps (offsets from the layer's table) keeps the method small enough for the JIT's first tier.
    // Loads are never masked: scratch and the arena have room past the last tile, and lanes past `valid` are
    // not stored.
    if (oneTap) {
      b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics, wi += $L)", packR);
      b.addStatement("int o = xi");
    } else {
      b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics)");
      b.beginControlFlow("for (int t = 0; t < tap.length; t++, wi += $L)", packR);
      b.addStatement("int o = xi + tap[t]");
    }
    for (int j = 0; j < v; j++) b.addStatement("$T x$L = $T.fromArray($L, x, o + $L)", FV, j, FV, sp, j * lanes);
    for (int i = 0; i < r; i++) {
      b.addStatement("$T w$L = $T.broadcast($L, w[wi + $L])", FV, i, FV, sp, i);
      for (int j = 0; j < v; j++) b.addStatement("a$L$L = x$L.fma(w$L, a$L$L)", i, j, j, i, i, j);
    }
    if (!oneTap) b.endControlFlow();
    b.endControlFlow();
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < v; j++) b.addStatement("a$L$L.intoArray(y, yo + $L * yp + $L)", i, j, i, j * lanes);
    }
    return kernelSignature(name, lanes, r, v, packR).addCode(b.build()).build();
  }

  /** The same tile in plain Java: same loop order and per-output summation order as the vector kernel. */
  private MethodSpec scalarKernel(String name, int lanes, int r, int v, int packR) {
    int tile = v * lanes;
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("int len = $L", tile);
    b.addStatement("float[] acc = new float[$L]", r * tile);
    b.addStatement("for (int i = 0; i < $L; i++) java.util.Arrays.fill(acc, i * $L, i * $L + len, w[bi + i])", r, tile, tile);
    b.beginControlFlow("for (int ic = 0; ic < cg; ic++, xi += ics)");
    b.beginControlFlow("for (int t = 0; t < tap.length; t++, wi += $L)", packR);
    b.beginControlFlow("for (int i = 0; i < $L; i++)", r);
    b.addStatement("float wv = w[wi + i]");
    b.addStatement("for (int j = 0; j < len; j++) acc[i * $L + j] = Math.fma(x[xi + tap[t] + j], wv, acc[i * $L + j])", tile, tile);
    b.endControlFlow();
    b.endControlFlow();
    b.endControlFlow();
    b.addStatement("for (int i = 0; i < $L; i++) System.arraycopy(acc, i * $L, y, yo + i * yp, $L)", r, tile, tile);
    return kernelSignature(name, lanes, r, v, packR).addCode(b.build()).build();
  }

  /** Weights [O][Cg][k][k] to [O/packR][Cg][k][k][packR]. */
  private static float[] pack(float[] w, ConvPlan c) {
    int per = c.cg() * c.kk(), r = c.packR();
    float[] out = new float[w.length];
    for (int o = 0; o < c.o(); o++) {
      for (int j = 0; j < per; j++) out[((o / r) * per + j) * r + o % r] = w[o * per + j];
    }
    return out;
  }

  // ---- the other layers: plain loops with literal shapes ----

  /**
   * Floats a task of a memory-bound layer should touch at least: smaller ones are grouped, so a small layer is one
   * task (run inline, without waking the team) and a large one a few dozen.
   */
  static final int TASK_FLOATS = 16384;

  /**
   * Opens {@code team.run} over the {@code n * perImage} tasks t of a layer, each touching {@code floats} floats:
   * several per team task when they are small. Returns the grouping for {@link #closeTasks}.
   */
  private static int openTasks(CodeBlock.Builder b, int perImage, long floats) {
    int grain = (int) Math.max(1, TASK_FLOATS / Math.max(1, floats));
    if (grain == 1) {
      b.add("team.run(n * $L, t -> {\n$>", perImage);
    } else {
      b.add("team.run(Math.ceilDiv(n * $L, $L), u -> {\n$>", perImage, grain);
      b.beginControlFlow("for (int t = u * $L, end = Math.min(t + $L, n * $L); t < end; t++)", grain, grain, perImage);
    }
    return grain;
  }

  private static void closeTasks(CodeBlock.Builder b, int grain) {
    if (grain > 1) b.endControlFlow();
    b.add("$<});\n");
  }


  /** Outputs per weight group of a dense layer: one 16-lane vector, two 8-lane ones. */
  private static final int DENSE_GROUP = 16;
  /** Outputs per dense task. */
  private static final int DENSE_TASK = 64;

  /**
   * A dense layer as broadcast FMAs over output vectors, no horizontal sums. Weights are packed in groups of 16
   * outputs, [group][in][16] (zeros past the last output), and a group is one sequential pass: output m sums
   * {@code x[i] * w[m][i]} in four FMA chains over i mod 4, the first from the bias, then adds them as
   * {@code (c0 + c1) + (c2 + c3)}: the same operations on every path, so deterministic. A task takes up to 64
   * outputs for every image of the batch, so its weights come from memory once per batch.
   */
  private CodeBlock dense(Node n) {
    TensorType wt = g.node(n.input(1)).type();
    int out = wt.dim(0), in = wt.dim(1);
    int padded = Math.ceilDiv(out, DENSE_GROUP) * DENSE_GROUP;
    long wOff = blob.add(n.input(1) + "#groups", (long) padded * in, () -> packDense(data(n.input(1)).data(), out, in));
    String biasKey = n.inputs().size() > 2 ? n.input(2) + "#padded" : n.name() + "#zero-bias";
    long bOff = blob.add(biasKey, padded, () -> java.util.Arrays.copyOf(n.inputs().size() > 2 ? data(n.input(2)).data() : new float[0], padded));
    denseKernels();
    int tasks = Math.ceilDiv(out, DENSE_TASK);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.add("// $L outputs in $L task(s) of up to $L\n", out, tasks, DENSE_TASK);
    b.add("team.run($L, t -> {\n$>", tasks);
    b.addStatement("int wi = $L + t * $L, bi = $L + t * $L, count = Math.min($L, $L - t * $L)", wOff, (long) DENSE_TASK * in, bOff, DENSE_TASK,
        DENSE_TASK, out, DENSE_TASK);
    b.beginControlFlow("for (int b = 0; b < n; b++)");
    b.addStatement("int xi = X + b * $L, yo = Y + b * $L + t * $L", in, out, DENSE_TASK);
    String args = CodeBlock.of("a, xi, w, wi, bi, $L, a, yo, count", in).toString();
    b.addStatement("if (!VECTOR) dense($L); else if (WIDE) Simd.dense16($L); else Simd.dense8($L)", args, args, args);
    b.endControlFlow();
    b.add("$<});\n");
    return b.build();
  }

  /** [out][in] to [group][in][16], zeros past out. */
  private static float[] packDense(float[] w, int out, int in) {
    float[] p = new float[Math.ceilDiv(out, DENSE_GROUP) * DENSE_GROUP * in];
    for (int m = 0; m < out; m++) {
      for (int i = 0; i < in; i++) p[((m / DENSE_GROUP) * in + i) * DENSE_GROUP + m % DENSE_GROUP] = w[m * in + i];
    }
    return p;
  }

  /** The dense kernels: scalar, 16 lanes (one vector per chain) and 8 lanes (two). */
  private void denseKernels() {
    if (!microKernels.add("dense")) return;
    MethodSpec.Builder sig = MethodSpec.methodBuilder("dense").addModifiers(Modifier.STATIC)
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(FLOATS, "w").addParameter(int.class, "wi")
        .addParameter(int.class, "bi").addParameter(int.class, "len").addParameter(FLOATS, "y").addParameter(int.class, "yo")
        .addParameter(int.class, "count");
    CodeBlock.Builder sc = CodeBlock.builder();
    sc.beginControlFlow("for (int m = 0; m < count; m++)");
    sc.addStatement("float c0 = w[bi + m], c1 = 0f, c2 = 0f, c3 = 0f");
    sc.addStatement("int i = 0, o = wi + m / $L * $L * len + m % $L", DENSE_GROUP, DENSE_GROUP, DENSE_GROUP);
    sc.beginControlFlow("for (; i <= len - 4; i += 4, o += $L)", 4 * DENSE_GROUP);
    for (int c = 0; c < 4; c++) {
      sc.addStatement("c$L = Math.fma(x[xi + i$L], w[o$L], c$L)", c, c == 0 ? "" : " + " + c, c == 0 ? "" : " + " + c * DENSE_GROUP, c);
    }
    sc.endControlFlow();
    for (int c = 0; c < 3; c++) {
      sc.addStatement("if (i$L < len) c$L = Math.fma(x[xi + i$L], w[o$L], c$L)", c == 0 ? "" : " + " + c, c, c == 0 ? "" : " + " + c,
          c == 0 ? "" : " + " + c * DENSE_GROUP, c);
    }
    sc.addStatement("y[yo + m] = (c0 + c1) + (c2 + c3)");
    sc.endControlFlow();
    scalarKernels.add(sig.build().toBuilder()
        .addJavadoc("{@code y[yo + m] = w[bi + m] + sum x[xi + i] * w[m][i]} for m < count in four chains over i mod 4, weights in groups\n"
            + "of $L outputs: [group][len][$L].\n", DENSE_GROUP, DENSE_GROUP)
        .addCode(sc.build()).build());
    for (int lanes : new int[] {ConvPlan.WIDE, ConvPlan.NARROW}) {
      String sp = lanes == ConvPlan.WIDE ? "SP16" : "SP8";
      int parts = DENSE_GROUP / lanes;
      CodeBlock.Builder v = CodeBlock.builder();
      v.beginControlFlow("for (int g = 0; g < count; g += $L, wi += $L * len)", DENSE_GROUP, DENSE_GROUP);
      for (int h = 0; h < parts; h++) {
        v.addStatement("$T c0$L = $T.fromArray($L, w, bi + g$L), c1$L = $T.zero($L), c2$L = c1$L, c3$L = c1$L", FV, h, FV, sp,
            h == 0 ? "" : " + " + h * lanes, h, FV, sp, h, h, h, h);
      }
      v.addStatement("int i = 0, o = wi");
      v.beginControlFlow("for (; i <= len - 4; i += 4, o += $L)", 4 * DENSE_GROUP);
      for (int c = 0; c < 4; c++) {
        v.addStatement("$T x$L = $T.broadcast($L, x[xi + i$L])", FV, c, FV, sp, c == 0 ? "" : " + " + c);
        for (int h = 0; h < parts; h++) {
          int at = c * DENSE_GROUP + h * lanes;
          v.addStatement("c$L$L = $T.fromArray($L, w, o$L).fma(x$L, c$L$L)", c, h, FV, sp, at == 0 ? "" : " + " + at, c, c, h);
        }
      }
      v.endControlFlow();
      for (int c = 0; c < 3; c++) {
        v.beginControlFlow("if (i$L < len)", c == 0 ? "" : " + " + c);
        v.addStatement("$T xt = $T.broadcast($L, x[xi + i$L])", FV, FV, sp, c == 0 ? "" : " + " + c);
        for (int h = 0; h < parts; h++) {
          int at = c * DENSE_GROUP + h * lanes;
          v.addStatement("c$L$L = $T.fromArray($L, w, o$L).fma(xt, c$L$L)", c, h, FV, sp, at == 0 ? "" : " + " + at, c, h);
        }
        v.endControlFlow();
      }
      for (int h = 0; h < parts; h++) {
        String at = h == 0 ? "g" : "g + " + h * lanes;
        v.addStatement("c0$L.add(c1$L).add(c2$L.add(c3$L)).intoArray(y, yo + $L, $L.indexInRange($L, count))", h, h, h, h, at, sp, at);
      }
      v.endControlFlow();
      simd.addMethod(sig.build().toBuilder().setName("dense" + lanes)
          .addJavadoc("The scalar {@code dense} with $L lanes: per group of $L outputs, four chains of $L vector(s).\n", lanes, DENSE_GROUP, parts)
          .addCode(v.build()).build());
    }
  }

  /**
   * Max pooling, one output row at a time: the border columns (windows clamped to the image) one by one, the
   * interior columns (windows inside the image, no clamping) through a kernel per window size and stride, vector
   * where the Vector API is present. Rows are clamped once per output row. Every path takes the interpreter's
   * maximum: over the window in row-major order {@code m = v} when {@code v > m} or v is NaN, from -infinity (so
   * padding never wins, a NaN makes the output NaN, and of +0 and -0 the first one seen stays).
   */
  private CodeBlock maxPool(Node n, Op.MaxPool p) {
    TensorType x = g.node(n.input(0)).type(), y = n.type();
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), oh = y.dim(2), ow = y.dim(3), k = p.kernel(), sd = p.stride(), pad = p.pad();
    // interior columns [ox0, ox1): ox * sd - pad >= 0 and ox * sd - pad + k <= w
    int ox0 = Math.min(ow, Math.ceilDiv(pad, sd));
    int ox1 = Math.max(ox0, Math.min(ow, w - k + pad < 0 ? 0 : Math.floorDiv(w - k + pad, sd) + 1));
    String kernel = poolKernels(k, sd);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    int grain = openTasks(b, c, h * w);
    b.addStatement("int xb = X + t * $L, yb = Y + t * $L", h * w, oh * ow);
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.addStatement("int y0 = Math.max(oy * $L - $L, 0), y1 = Math.min(oy * $L - $L + $L, $L), yr = yb + oy * $L", sd, pad, sd, pad, k, h, ow);
    if (ox0 > 0 || ox1 < ow) {
      b.add("// border columns: windows clamped to the image\n");
      String border = CodeBlock.of("a[yr + ox] = windowMax(a, xb, $L, y0, y1, Math.max(ox * $L - $L, 0), Math.min(ox * $L - $L + $L, $L))",
          w, sd, pad, sd, pad, k, w).toString();
      if (ox0 > 0) b.addStatement("for (int ox = 0; ox < $L; ox++) $L", ox0, border);
      if (ox1 < ow) b.addStatement("for (int ox = $L; ox < $L; ox++) $L", ox1, ow, border);
      windowMaxKernel();
    }
    if (ox1 > ox0) {
      b.add("// columns $L..$L: windows inside the image\n", ox0, ox1 - 1);
      String args = CodeBlock.of("a, xb + y0 * $L + $L, $L, y1 - y0, a, yr + $L, $L", w, ox0 * sd - pad, w, ox0, ox1 - ox0).toString();
      if (sd <= 2) {
        b.addStatement("if (!VECTOR) $L($L); else if (WIDE) Simd.$L_16($L); else Simd.$L_8($L)", kernel, args, kernel, args, kernel, args);
      } else {
        b.addStatement("$L($L)", kernel, args);
      }
    }
    b.endControlFlow();
    closeTasks(b, grain);
    return b.build();
  }

  /** The interior max-pool kernels of one window size and stride: scalar, and for strides 1 and 2 vector ones. */
  private String poolKernels(int k, int sd) {
    String name = "maxpool" + k + "s" + sd;
    if (!microKernels.add(name)) return name;
    MethodSpec.Builder sig = MethodSpec.methodBuilder(name).addModifiers(Modifier.STATIC)
        .addJavadoc("{@code y[yo + j] = max x[xi + r * xs + j * $L + kx]} over r < rows, kx < $L, for j < len (windows inside the image).\n", sd, k)
        .addParameter(FLOATS, "x").addParameter(int.class, "xi").addParameter(int.class, "xs").addParameter(int.class, "rows")
        .addParameter(FLOATS, "y").addParameter(int.class, "yo").addParameter(int.class, "len");
    CodeBlock.Builder sc = CodeBlock.builder();
    sc.beginControlFlow("for (int j = 0; j < len; j++)");
    sc.addStatement("float m = Float.NEGATIVE_INFINITY");
    sc.beginControlFlow("for (int r = 0, o = xi + j * $L; r < rows; r++, o += xs)", sd);
    sc.beginControlFlow("for (int kx = 0; kx < $L; kx++)", k);
    sc.addStatement("float v = x[o + kx]");
    sc.addStatement("if (v > m || Float.isNaN(v)) m = v");
    sc.endControlFlow();
    sc.endControlFlow();
    sc.addStatement("y[yo + j] = m");
    sc.endControlFlow();
    scalarKernels.add(sig.build().toBuilder().addCode(sc.build()).build());
    if (sd > 2) return name;
    for (int lanes : new int[] {ConvPlan.WIDE, ConvPlan.NARROW}) {
      String sp = lanes == ConvPlan.WIDE ? "SP16" : "SP8";
      if (sd == 2) evenLanes(lanes);
      CodeBlock.Builder v = CodeBlock.builder();
      v.add("// the last vector overlaps the one before it when lanes do not divide len; the values are the same\n");
      v.beginControlFlow("if (len < $L)", lanes);
      v.addStatement("$L(x, xi, xs, rows, y, yo, len)", name);
      v.addStatement("return");
      v.endControlFlow();
      v.beginControlFlow("for (int j = 0; j < len; j += $L)", lanes);
      v.addStatement("if (j > len - $L) j = len - $L", lanes, lanes);
      v.add("// m: the interpreter's max of the values that are not NaN (v > m, in window order); z is NaN if any value is\n");
      v.addStatement("$T m = $T.broadcast($L, Float.NEGATIVE_INFINITY), z = m", FV, FV, sp);
      v.beginControlFlow("for (int r = 0, o = xi + j * $L; r < rows; r++, o += xs)", sd);
      for (int kx = 0; kx < k; kx++) {
        CodeBlock decl = kx == 0 ? CodeBlock.of("$T v", FV) : CodeBlock.of("v");
        if (sd == 1) v.addStatement("$L = $T.fromArray($L, x, o$L)", decl, FV, sp, kx == 0 ? "" : " + " + kx);
        else v.addStatement("$L = EVEN$L.selectFrom($T.fromArray($L, x, o$L), $T.fromArray($L, x, o + $L))",
            decl, lanes, FV, sp, kx == 0 ? "" : " + " + kx, FV, sp, kx + lanes);
        v.addStatement("m = m.blend(v, v.compare($T.GT, m))", VOPS);
        v.addStatement("z = z.max(v)");
      }
      v.endControlFlow();
      v.addStatement("m.blend(z, z.compare($T.NE, z)).intoArray(y, yo + j)", VOPS);
      v.endControlFlow();
      simd.addMethod(sig.build().toBuilder().setName(name + "_" + lanes).addCode(v.build()).build());
    }
    return name;
  }

  /** The max of a window clamped to the image, for border columns. */
  private void windowMaxKernel() {
    if (!microKernels.add("windowMax")) return;
    scalarKernels.add(MethodSpec.methodBuilder("windowMax").addModifiers(Modifier.STATIC).returns(float.class)
        .addJavadoc("Max of {@code x[xb + iy * w + ix]} for iy in [y0, y1), ix in [x0, x1), row-major; a NaN wins; -infinity when empty.\n")
        .addParameter(FLOATS, "x").addParameter(int.class, "xb").addParameter(int.class, "w").addParameter(int.class, "y0")
        .addParameter(int.class, "y1").addParameter(int.class, "x0").addParameter(int.class, "x1")
        .addStatement("float m = Float.NEGATIVE_INFINITY")
        .beginControlFlow("for (int iy = y0; iy < y1; iy++)")
        .beginControlFlow("for (int ix = x0; ix < x1; ix++)")
        .addStatement("float v = x[xb + iy * w + ix]")
        .addStatement("if (v > m || Float.isNaN(v)) m = v")
        .endControlFlow()
        .endControlFlow()
        .addStatement("return m").build());
  }

  private CodeBlock avgPool(Node n, Op.AvgPool p) {
    TensorType x = g.node(n.input(0)).type(), y = n.type();
    int c = x.dim(1), h = x.dim(2), w = x.dim(3), oh = y.dim(2), ow = y.dim(3), k = p.kernel(), s = p.stride(), pad = p.pad();
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    int grain = openTasks(b, c, h * w);
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
    closeTasks(b, grain);
    return b.build();
  }

  private CodeBlock globalAvgPool(Node n) {
    TensorType x = g.node(n.input(0)).type();
    int c = x.dim(1), plane = x.dim(2) * x.dim(3);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    int grain = openTasks(b, c, plane);
    b.addStatement("double sum = 0");
    b.addStatement("for (int i = 0; i < $L; i++) sum += a[X + t * $L + i]", plane, plane);
    b.addStatement("a[Y + t] = (float) (sum / $L)", plane);
    closeTasks(b, grain);
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
    int grain = openTasks(b, c, plane);
    b.addStatement("float sc = w[$L + t % $L], sh = w[$L + t % $L]", sOff, c, tOff, c);
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = a[X + i] * sc + sh", plane, plane);
    closeTasks(b, grain);
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
    b.add("// flat, in tasks of $L floats\n", TASK_FLOATS);
    b.add("team.run(Math.ceilDiv(n * $L, $L), t -> {\n$>", size, TASK_FLOATS);
    b.addStatement("for (int i = t * $L, end = Math.min(i + $L, n * $L); i < end; i++) a[Y + i] = $L", TASK_FLOATS, TASK_FLOATS, size, expr);
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
    int grain = openTasks(b, oc, oh * ow);
    b.addStatement("int b = t / $L, ch = t % $L - $L", oc, oc, p.before());
    b.beginControlFlow("for (int oy = 0; oy < $L; oy++)", oh);
    b.beginControlFlow("for (int ox = 0; ox < $L; ox++)", ow);
    b.addStatement("a[Y + t * $L + oy * $L + ox] = ch >= 0 && ch < $L ? a[X + ((b * $L + ch) * $L + oy * $L) * $L + ox * $L] : 0f",
        oh * ow, ow, c, c, h, p.stride(), w, p.stride());
    b.endControlFlow();
    b.endControlFlow();
    closeTasks(b, grain);
    return b.build();
  }

  private CodeBlock normalize(Node n, Op.Normalize z) {
    TensorType x = n.type();
    int c = x.dim(1), plane = x.dim(2) * x.dim(3);
    CodeBlock.Builder b = CodeBlock.builder();
    b.addStatement("final int X = $L * n, Y = $L * n", off(n.input(0)), off(n.name()));
    b.addStatement("final float[] mean = {$L}, std = {$L}", floats(z.mean()), floats(z.std()));
    int grain = openTasks(b, c, plane);
    b.addStatement("int ch = t % $L", c);
    b.addStatement("for (int i = t * $L; i < (t + 1) * $L; i++) a[Y + i] = (a[X + i] / $Lf - mean[ch]) / std[ch]", plane, plane, z.div());
    closeTasks(b, grain);
    return b.build();
  }

  /** Little-endian bytes of the weights blob, as {@code resnetc.runtime.Weights} reads them. */
  public static byte[] blobBytes(float[] weights) {
    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(weights.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(weights);
    return buf.array();
  }
}
