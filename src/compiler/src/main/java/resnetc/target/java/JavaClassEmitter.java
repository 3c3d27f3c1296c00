package resnetc.target.java;

import static resnetc.target.java.ClassParts.FLOATS;
import static resnetc.target.java.ClassParts.FV;
import static resnetc.target.java.ClassParts.TEAM;

import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.NameAllocator;
import com.palantir.javapoet.ParameterizedTypeName;
import com.palantir.javapoet.TypeSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.lang.model.element.Modifier;
import resnetc.schedule.Schedule;
import resnetc.schedule.Step;
import resnetc.target.Artifact;
import resnetc.target.ModelClass;
import resnetc.target.ModelInfo;

/**
 * The Java target's class for a schedule: a {@code GeneratedModel} whose {@code forward} calls one method per
 * layer; each layer method holds its steps' loops with every shape, offset and tile size a literal, split over the
 * thread team. Kernels shared between layers (conv tiles, staging copies, max pooling, dense) are methods of their
 * own with a Vector API body in the nested {@code Simd} class, loaded only when {@code jdk.incubator.vector} is
 * present, and a scalar twin.
 */
final class JavaClassEmitter {
  private static final ClassName GENERATED = ClassName.get("resnetc.runtime", "GeneratedModel");
  private static final ClassName WEIGHTS = ClassName.get("resnetc.runtime", "Weights");
  private static final ClassName SPECIES = ClassName.get("jdk.incubator.vector", "VectorSpecies");

  private final Schedule schedule;
  private final ModelInfo info;
  private final ClassParts parts = new ClassParts();
  private final ConvEmitter conv = new ConvEmitter(parts);
  private final WinogradEmitter winograd = new WinogradEmitter(parts);
  private final DenseEmitter dense = new DenseEmitter(parts);
  private final PoolEmitter pool = new PoolEmitter(parts, conv);
  private final ElementwiseEmitter elementwise = new ElementwiseEmitter();

  private JavaClassEmitter(Schedule schedule, ModelInfo info) {
    this.schedule = schedule;
    this.info = info;
  }

  static Artifact emit(Schedule schedule, ModelInfo info, String packageName, String className) {
    if (schedule.weights() == null) throw new IllegalArgumentException("model " + info.name() + " has no weights");
    String source = new JavaClassEmitter(schedule, info).source(packageName, className);
    String qn = packageName.isEmpty() ? className : packageName + "." + className;
    return new Artifact(qn, source, Map.of(Artifact.resourcePath(qn, className + ".weights"), Artifact.blobBytes(schedule.weights())));
  }

  /** The source alone (weights need not be bound: the code does not depend on them). */
  static String source(Schedule schedule, ModelInfo info, String packageName, String className) {
    return new JavaClassEmitter(schedule, info).source(packageName, className);
  }

  private String source(String packageName, String cls) {
    ClassName self = ClassName.get(packageName, cls);
    NameAllocator names = new NameAllocator();
    for (String reserved : List.of("forward", "finish", "dense", "windowMax", "tileScalar", "winogradIn", "winogradOut", "stage1", "stage2")) {
      names.newName(reserved, "#" + reserved);
    }
    CodeBlock.Builder forward = CodeBlock.builder();
    forward.addStatement("float[] w = Blob.W");
    forward.addStatement("long t0 = PROFILE ? System.nanoTime() : 0");
    List<MethodSpec> layers = new ArrayList<>();
    List<Schedule.Layer> all = schedule.layers();
    for (int i = 0; i < all.size(); i++) {
      Schedule.Layer l = all.get(i);
      String method = names.newName(l.name(), l);
      forward.add(ModelClass.layerComment(l, info));
      forward.addStatement("$L(a, w, s, n, team)", method);
      forward.addStatement("if (PROFILE) t0 = lap($L, t0)", i);
      layers.add(layer(method, l));
    }

    TypeSpec.Builder t = ModelClass.type(cls, GENERATED, schedule, info, "");
    t.addField(ModelClass.descriptor(List.of(schedule), info));
    t.addField(FieldSpec.builder(boolean.class, "PROFILE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Per-layer timing ({@code -Dresnetc.profile=true}), read when the class loads; off, the JIT removes it.\n")
        .initializer("Boolean.getBoolean($S)", "resnetc.profile").build());
    t.addField(FieldSpec.builder(boolean.class, "VECTOR", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("The Vector API kernels run when the module is present (java --add-modules jdk.incubator.vector).\n")
        .initializer("ModuleLayer.boot().findModule($S).isPresent() && !Boolean.getBoolean($S)", "jdk.incubator.vector", "resnetc.scalar").build());
    t.addField(FieldSpec.builder(boolean.class, "WIDE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("16-float vectors where the CPU has 512-bit ones (AVX-512); else each planned vector runs as two of 8 floats.\n")
        .initializer("VECTOR && Simd.SP.length() == 16").build());
    if (parts.tileBuffer > 0) {
      t.addField(FieldSpec.builder(ParameterizedTypeName.get(ThreadLocal.class, float[].class), "TILE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
          .addJavadoc("Each thread's conv tile buffer (accumulators before the epilogue), reused by every task it runs, with a\n"
              + "vector of slack past the largest tile so the epilogue's masked loads stay inside it.\n")
          .initializer("$T.withInitial(() -> new float[$L])", ThreadLocal.class, parts.tileBuffer + 16).build());
    }
    t.addField(FieldSpec.builder(int.class, "NO_RESIDUAL", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("The epilogue's residual offset when there is none.\n").initializer("Integer.MIN_VALUE").build());
    parts.fields.forEach(t::addField);
    t.addType(TypeSpec.classBuilder("Blob").addModifiers(Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Weights, loaded once on first use and shared by every instance.\n")
        .addField(FieldSpec.builder(FLOATS, "W", Modifier.STATIC, Modifier.FINAL)
            .initializer("$T.load($T.class, $S, $LL)", WEIGHTS, self, cls + ".weights", schedule.weightFloats()).build()).build());
    t.addMethod(ModelClass.allCores());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addParameter(int.class, "threads")
        .addJavadoc("Splits each layer over {@code threads} threads (1 = the calling thread only).\n")
        .addStatement("super(MODEL, threads)").build());
    t.addMethod(MethodSpec.methodBuilder("isa").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(String.class)
        .addStatement("return !VECTOR ? $S : WIDE ? $S : $S", "scalar Java", "Vector API, 16 lanes (512-bit)", "Vector API, 8 lanes (256-bit)").build());
    t.addMethod(MethodSpec.methodBuilder("forward").addAnnotation(Override.class).addModifiers(Modifier.PROTECTED)
        .addParameter(FLOATS, "a").addParameter(FLOATS, "s").addParameter(int.class, "n").addCode(forward.build()).build());
    layers.forEach(t::addMethod);
    parts.methods.forEach(t::addMethod);
    t.addType(simd());
    return ModelClass.source(packageName, t.build(), info, "");
  }

  /** The Vector API bodies, and the species they use: chosen once, when the class loads. */
  private TypeSpec simd() {
    var species = ParameterizedTypeName.get(SPECIES, ClassName.get(Float.class));
    TypeSpec.Builder simd = TypeSpec.classBuilder("Simd").addModifiers(Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("Vector API bodies; loaded only when jdk.incubator.vector is present.\n");
    simd.addField(FieldSpec.builder(species, "SP", Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("512-bit vectors where the CPU's preferred ones are ({@code -Dresnetc.narrow=true} forces 256 bits).\n")
        .initializer("!Boolean.getBoolean($S) && $T.SPECIES_PREFERRED.length() >= 16 ? $T.SPECIES_512 : $T.SPECIES_256", "resnetc.narrow", FV, FV, FV)
        .build());
    String code = parts.simdMethods.toString() + parts.simdFields;
    if (code.contains("SP16")) simd.addField(FieldSpec.builder(species, "SP16", Modifier.STATIC, Modifier.FINAL).initializer("$T.SPECIES_512", FV).build());
    if (code.contains("SP8")) simd.addField(FieldSpec.builder(species, "SP8", Modifier.STATIC, Modifier.FINAL).initializer("$T.SPECIES_256", FV).build());
    parts.simdFields.forEach(simd::addField);
    parts.simdMethods.forEach(simd::addMethod);
    return simd.build();
  }

  /** One layer: its steps in order, over the arena offsets it reads and writes. */
  private MethodSpec layer(String method, Schedule.Layer l) {
    List<Step> steps = schedule.steps(l.name());
    CodeBlock.Builder b = CodeBlock.builder();
    List<String> bases = new ArrayList<>();
    long x = -1, y = -1, r = -1, z = -1;
    for (Step st : steps) {
      switch (st) {
        case Step.Stage s -> x = s.x();
        case Step.Conv c -> {
          if (!c.staged()) x = c.src();
          if (c.yScratch() < 0) y = c.y();
          if (c.r() >= 0) r = c.r();
        }
        case Step.WinogradInput s -> { }
        case Step.WinogradOutput s -> {
          y = s.y();
          if (s.r() >= 0) r = s.r();
        }
        case Step.Dense d -> { x = d.x(); y = d.y(); }
        case Step.Pool p -> { x = p.x(); y = p.y(); }
        case Step.GlobalAvgPool p -> { x = p.x(); y = p.y(); }
        case Step.BatchNorm p -> { x = p.x(); y = p.y(); }
        case Step.Elementwise e -> { x = e.x(); y = e.y(); if (e.add()) z = e.z(); }
        case Step.Softmax p -> { x = p.x(); y = p.y(); }
        case Step.SubsamplePad p -> { x = p.x(); y = p.y(); }
        case Step.Normalize p -> { x = p.x(); y = p.y(); }
      }
    }
    if (x >= 0) bases.add("X = " + Code.scaled(x));
    if (y >= 0) bases.add("Y = " + Code.scaled(y));
    if (r >= 0) bases.add("R = " + Code.scaled(r));
    if (z >= 0) bases.add("Z = " + Code.scaled(z));
    if (!bases.isEmpty()) b.addStatement("final int $L", String.join(", ", bases));
    for (Step st : steps) {
      switch (st) {
        case Step.Stage s -> conv.stage(b, s);
        case Step.Conv c -> conv.conv(b, c);
        case Step.WinogradInput s -> winograd.input(b, s);
        case Step.WinogradOutput s -> winograd.output(b, s);
        case Step.Dense d -> dense.dense(b, d);
        case Step.Pool p -> pool.pool(b, p);
        case Step.GlobalAvgPool p -> pool.globalAvgPool(b, p);
        case Step.BatchNorm p -> elementwise.batchNorm(b, p);
        case Step.Elementwise e -> elementwise.elementwise(b, e);
        case Step.Softmax p -> elementwise.softmax(b, p);
        case Step.SubsamplePad p -> elementwise.subsamplePad(b, p);
        case Step.Normalize p -> elementwise.normalize(b, p);
      }
    }
    return MethodSpec.methodBuilder(method).addModifiers(Modifier.STATIC)
        .addParameter(FLOATS, "a").addParameter(FLOATS, "w").addParameter(FLOATS, "s").addParameter(int.class, "n").addParameter(TEAM, "team")
        .addJavadoc("$L\n", l.ir().replace("$", "$$")).addCode(b.build()).build();
  }
}
