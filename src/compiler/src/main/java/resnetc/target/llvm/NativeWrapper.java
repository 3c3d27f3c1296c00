package resnetc.target.llvm;

import static resnetc.target.Poet.floats;
import static resnetc.target.Poet.getter;
import static resnetc.target.Poet.strings;

import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.JavaFile;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.ParameterizedTypeName;
import com.palantir.javapoet.TypeName;
import com.palantir.javapoet.TypeSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.Collectors;
import javax.lang.model.element.Modifier;
import resnetc.target.java.JavaBackend;

/**
 * Emits the Java class around a {@link NativeProgram}: the same public API as the Java backend's classes, with
 * each step a downcall into the native code. The activation arena and scratch are heap float[]s handed to the
 * kernels without copying ({@code Linker.Option.critical(true)}): the kernels never call back into Java nor keep
 * pointers, so pinning the arrays for the length of one call is safe. The weights live off-heap, copied once.
 */
public final class NativeWrapper {
  private static final ClassName MODEL = ClassName.get("resnetc.runtime", "CompiledModel");
  private static final ClassName TEAM = ClassName.get("resnetc.runtime", "ThreadTeam");
  private static final ClassName PREP = ClassName.get("resnetc.runtime", "Preprocessing");
  private static final ClassName WEIGHTS = ClassName.get("resnetc.runtime", "Weights");
  private static final ClassName LIBRARY = ClassName.get("resnetc.runtime", "NativeLibrary");
  private static final TypeName STRINGS = ParameterizedTypeName.get(List.class, String.class);
  private static final int SLACK = NativeProgram.ARENA_SLACK;
  /** Largest Java array we allocate. */
  private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

  private NativeWrapper() {}

  /** The source for square inputs: channels from the preprocessing's mean, height = width from the input size. */
  public static String generate(NativeProgram p, JavaBackend.ModelInfo info, JavaBackend.Options opt, String libraryName) {
    int c = info.mean().length, plane = c == 0 ? 0 : p.inputSize() / c, side = (int) Math.round(Math.sqrt(plane));
    if (c == 0 || (long) c * side * side != p.inputSize()) {
      throw new IllegalArgumentException(p.model() + ": input of " + p.inputSize() + " floats is not " + c
          + " square channels; pass channels, height and width");
    }
    return generate(p, info, opt, libraryName, c, side, side);
  }

  /** The model class source; {@code libraryName} is the library's name in the jar (see {@code NativeLibrary}). */
  public static String generate(NativeProgram p, JavaBackend.ModelInfo info, JavaBackend.Options opt, String libraryName,
                                int channels, int height, int width) {
    if ((long) channels * height * width != p.inputSize()) {
      throw new IllegalArgumentException(p.model() + ": " + channels + "x" + height + "x" + width + " is not the program's input of "
          + p.inputSize() + " floats");
    }
    if (p.steps().isEmpty()) throw new IllegalArgumentException(p.model() + ": a native program needs at least one step");
    long weights = p.weights() == null ? 0 : p.weights().length;
    String cls = opt.className();
    ClassName self = ClassName.get(opt.packageName(), cls);

    // Layers in order of first step; a layer made of several steps adds up their flops and time.
    List<String> layers = new ArrayList<>();
    List<Long> flops = new ArrayList<>();
    List<String> kinds = new ArrayList<>(), shapes = new ArrayList<>();
    int maxTasks = 1;
    CodeBlock.Builder forward = CodeBlock.builder();
    forward.addStatement("$T w = weights()", MemorySegment.class);
    forward.addStatement("$T a = $T.ofArray(arena), s = $T.ofArray(scratch)", MemorySegment.class, MemorySegment.class, MemorySegment.class);
    forward.addStatement("long t0 = PROFILE ? System.nanoTime() : 0");
    for (int i = 0; i < p.steps().size(); i++) {
      NativeProgram.Step st = p.steps().get(i);
      if (st.tasksPerImage() < 1) throw new IllegalArgumentException(st.symbol() + ": tasksPerImage must be at least 1");
      int layer = layers.indexOf(st.layer());
      if (layer < 0) {
        layer = layers.size();
        layers.add(st.layer());
        flops.add(0L);
        kinds.add(st.kind());
        shapes.add(st.shape());
      }
      flops.set(layer, flops.get(layer) + st.flopsPerImage());
      maxTasks = Math.max(maxTasks, st.tasksPerImage());
      forward.add("// $L: $L, $L tasks per image\n", st.layer(), st.symbol(), st.tasksPerImage());
      forward.addStatement("step($L, a, w, s, n, $L)", i, st.tasksPerImage());
      forward.addStatement("if (PROFILE) t0 = lap($L, t0)", layer);
    }
    // The largest batch whose arena, scratch and task counts fit a Java array and an int32.
    long maxBatch = Math.min((MAX_ARRAY - SLACK) / Math.max(1, p.arenaPerImage()),
        Math.min(MAX_ARRAY / Math.max(1, p.scratchPerImage()), Integer.MAX_VALUE / maxTasks));

    TypeSpec.Builder t = TypeSpec.classBuilder(cls).addModifiers(Modifier.PUBLIC, Modifier.FINAL).addSuperinterface(MODEL)
        .addJavadoc("$L compiled by resnetc from $L to native code for $L$L. Generated code: do not edit; regenerate with resnetc compile.\n\n",
            info.name(), info.specFile(), p.cpu(), p.features() == null || p.features().isEmpty() ? "" : " (" + p.features() + ")")
        .addJavadoc("<p>$L steps in $L layers, activation arena $L floats and scratch $L floats per image, weights $L floats.\n",
            p.steps().size(), layers.size(), p.arenaPerImage(), p.scratchPerImage(), weights);
    t.addField(constant(String.class, "NAME", "$S", info.name()));
    t.addField(constant(int.class, "C", "$L", channels));
    t.addField(constant(int.class, "H", "$L", height));
    t.addField(constant(int.class, "W", "$L", width));
    t.addField(constant(int.class, "CLASSES", "$L", p.classes()));
    t.addField(constant(long.class, "ARENA", "$LL", p.arenaPerImage()).toBuilder().addJavadoc("Activation floats per image.\n").build());
    t.addField(constant(long.class, "SCRATCH", "$LL", p.scratchPerImage()).toBuilder().addJavadoc("Scratch floats per image.\n").build());
    t.addField(constant(int.class, "SLACK", "$L", SLACK).toBuilder().addJavadoc("Floats past the arena that kernels may read.\n").build());
    t.addField(constant(long.class, "IN", "$LL", p.inputOffset()));
    t.addField(constant(long.class, "OUT", "$LL", p.outputOffset()));
    t.addField(constant(long.class, "WEIGHTS", "$LL", weights));
    t.addField(constant(int.class, "MAX_BATCH", "$L", maxBatch).toBuilder()
        .addJavadoc("Most images per call: the arena must fit a Java array and the task count an int32.\n").build());
    t.addField(constant(String.class, "LIBRARY", "$S", libraryName));
    t.addField(constant(PREP, "PREPROCESSING", "new $T($Lf, new float[] {$L}, new float[] {$L}, $L, $L)", PREP, info.div(),
        floats(info.mean()), floats(info.std()), info.resize(), info.crop()));
    t.addField(constant(STRINGS, "LABELS", "$T.of($L)", List.class, strings(info.labels())));
    t.addField(constant(STRINGS, "LAYERS", "$T.of($L)", List.class, strings(layers)));
    t.addField(constant(STRINGS, "KINDS", "$T.of($L)", List.class, strings(kinds)));
    t.addField(constant(STRINGS, "SHAPES", "$T.of($L)", List.class, strings(shapes)));
    t.addField(constant(long[].class, "FLOPS", "{$L}", flops.stream().map(f -> f + "L").collect(Collectors.joining(", ")))
        .toBuilder().addJavadoc("Floating-point operations per image of each layer.\n").build());
    t.addField(constant(String[].class, "SYMBOLS", "{$L}", strings(p.steps().stream().map(NativeProgram.Step::symbol).toList()))
        .toBuilder().addJavadoc("The native function of each step, in order.\n").build());
    t.addField(constant(FunctionDescriptor.class, "KERNEL", "$T.ofVoid($T.ADDRESS, $T.ADDRESS, $T.ADDRESS, $T.JAVA_INT, $T.JAVA_INT, $T.JAVA_INT)",
        FunctionDescriptor.class, ValueLayout.class, ValueLayout.class, ValueLayout.class, ValueLayout.class, ValueLayout.class, ValueLayout.class)
        .toBuilder().addJavadoc("void step(float* a, const float* w, float* s, int32 n, int32 begin, int32 end)\n").build());
    t.addField(constant(boolean.class, "PROFILE", "Boolean.getBoolean($S)", "resnetc.profile").toBuilder()
        .addJavadoc("Per-layer timing ({@code -Dresnetc.profile=true}); off, the JIT removes it.\n").build());
    t.addField(FieldSpec.builder(MemorySegment.class, "weights", Modifier.PRIVATE, Modifier.STATIC, Modifier.VOLATILE)
        .addJavadoc("The weights off-heap, loaded by the first instance and shared by all.\n").build());
    t.addField(FieldSpec.builder(MethodHandle[].class, "library", Modifier.PRIVATE, Modifier.STATIC)
        .addJavadoc("Downcalls into the jar's library, made by the first instance that uses it. Guarded by the class lock.\n").build());
    t.addField(TEAM, "team", Modifier.PRIVATE, Modifier.FINAL);
    t.addField(FieldSpec.builder(int.class, "chunks", Modifier.PRIVATE, Modifier.FINAL)
        .addJavadoc("Task ranges per step: a few per thread, so uneven ones even out.\n").build());
    t.addField(MethodHandle[].class, "kernels", Modifier.PRIVATE, Modifier.FINAL);
    t.addField(FieldSpec.builder(AtomicLongArray.class, "nanos", Modifier.PRIVATE, Modifier.FINAL)
        .initializer("new $T($L)", AtomicLongArray.class, layers.size()).build());

    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addJavadoc("Uses every core.\n")
        .addStatement("this(Runtime.getRuntime().availableProcessors())").build());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addParameter(int.class, "threads")
        .addJavadoc("Splits each step over {@code threads} threads (1 = the calling thread only), with the native library from this jar.\n")
        .addStatement("this(threads, library())").build());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addParameter(int.class, "threads").addParameter(SymbolLookup.class, "symbols")
        .addJavadoc("Runs the native code that {@code symbols} finds (code compiled in this process); it must outlive this instance.\n")
        .addStatement("this(threads, kernels(symbols))").build());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PRIVATE).addParameter(int.class, "threads").addParameter(MethodHandle[].class, "kernels")
        .addStatement("weights()")
        .addStatement("this.team = new $T(threads)", TEAM)
        .addStatement("this.chunks = threads == 1 ? 1 : 4 * threads")
        .addStatement("this.kernels = kernels").build());

    t.addMethod(MethodSpec.methodBuilder("library").addModifiers(Modifier.PRIVATE, Modifier.STATIC, Modifier.SYNCHRONIZED).returns(MethodHandle[].class)
        .addJavadoc("A plain lazy field, not a holder class: a missing library must be a clear error, not an ExceptionInInitializerError.\n")
        .addStatement("if (library == null) library = kernels($T.load($T.class, LIBRARY))", LIBRARY, self)
        .addStatement("return library").build());
    t.addMethod(MethodSpec.methodBuilder("kernels").addModifiers(Modifier.PRIVATE, Modifier.STATIC).returns(MethodHandle[].class)
        .addParameter(SymbolLookup.class, "symbols")
        .addStatement("$T linker = $T.nativeLinker()", Linker.class, Linker.class)
        .addStatement("$T[] k = new $T[SYMBOLS.length]", MethodHandle.class, MethodHandle.class)
        .beginControlFlow("for (int i = 0; i < k.length; i++)")
        .addStatement("String symbol = SYMBOLS[i]")
        .addStatement("$T f = symbols.find(symbol).orElseThrow(() -> new IllegalStateException(NAME + $S + symbol))",
            MemorySegment.class, ": the native code has no function ")
        .addComment("critical: heap arrays go in without copying; the kernels never call back into Java")
        .addStatement("k[i] = linker.downcallHandle(f, KERNEL, $T.Option.critical(true))", Linker.class)
        .endControlFlow()
        .addStatement("return k").build());
    t.addMethod(MethodSpec.methodBuilder("weights").addModifiers(Modifier.PRIVATE, Modifier.STATIC).returns(MemorySegment.class)
        .addStatement("$T w = weights", MemorySegment.class)
        .beginControlFlow("if (w == null)")
        .beginControlFlow("synchronized ($T.class)", self)
        .beginControlFlow("if ((w = weights) == null)")
        .addStatement("float[] f = $T.load($T.class, $S, WEIGHTS)", WEIGHTS, self, cls + ".weights")
        .addStatement("w = $T.global().allocate(Math.max(4 * WEIGHTS, 4), 64)", Arena.class)
        .addStatement("$T.copy(f, 0, w, $T.JAVA_FLOAT, 0, f.length)", MemorySegment.class, ValueLayout.class)
        .addStatement("weights = w")
        .endControlFlow().endControlFlow().endControlFlow()
        .addStatement("return w").build());

    t.addMethod(getter(String.class, "name", "NAME"));
    t.addMethod(getter(int.class, "channels", "C"));
    t.addMethod(getter(int.class, "height", "H"));
    t.addMethod(getter(int.class, "width", "W"));
    t.addMethod(getter(int.class, "classes", "CLASSES"));
    t.addMethod(getter(PREP, "preprocessing", "PREPROCESSING"));
    t.addMethod(getter(STRINGS, "labels", "LABELS"));
    t.addMethod(getter(STRINGS, "layers", "LAYERS"));
    t.addMethod(getter(STRINGS, "layerKinds", "KINDS"));
    t.addMethod(getter(STRINGS, "layerShapes", "SHAPES"));
    t.addMethod(MethodSpec.methodBuilder("layerFlops").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .returns(long[].class).addStatement("return FLOPS.clone()").build());
    t.addMethod(MethodSpec.methodBuilder("layerNanos").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(long[].class)
        .addStatement("long[] out = new long[LAYERS.size()]").addStatement("for (int i = 0; i < out.length; i++) out[i] = nanos.get(i)")
        .addStatement("return out").build());
    t.addMethod(MethodSpec.methodBuilder("lap").addModifiers(Modifier.PRIVATE).returns(long.class).addParameter(int.class, "layer")
        .addParameter(long.class, "t0").addStatement("long t1 = System.nanoTime()").addStatement("nanos.addAndGet(layer, t1 - t0)")
        .addStatement("return t1").build());

    ClassName work = ClassName.get("resnetc.runtime", "Workspace"), buffers = work.nestedClass("Buffers");
    t.addField(FieldSpec.builder(work, "work", Modifier.PRIVATE, Modifier.FINAL)
        .initializer("new $T(ARENA, SLACK, SCRATCH)", work).build());
    t.addMethod(MethodSpec.methodBuilder("predict").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(float[].class)
        .addParameter(float[].class, "x").addParameter(int.class, "n")
        .addStatement("$T.checkInput(this, x.length, n)", MODEL)
        .addStatement("checkBatch(n)")
        .addStatement("$T b = work.take(n)", buffers)
        .addStatement("System.arraycopy(x, 0, b.a(), (int) (IN * n), x.length)")
        .addStatement("forward(b.a(), b.s(), n)")
        .addStatement("float[] y = $T.copyOfRange(b.a(), (int) (OUT * n), (int) (OUT * n) + CLASSES * n)", Arrays.class)
        .addStatement("work.give(b)")
        .addStatement("return y").build());
    t.addMethod(MethodSpec.methodBuilder("predict").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC)
        .addParameter(MemorySegment.class, "input").addParameter(MemorySegment.class, "output").addParameter(int.class, "n")
        .addStatement("$T.checkSegments(this, input, output, n)", MODEL)
        .addStatement("checkBatch(n)")
        .addStatement("$T b = work.take(n)", buffers)
        .addStatement("$T.copy(input, $T.JAVA_FLOAT, 0, b.a(), (int) (IN * n), n * C * H * W)", MemorySegment.class, ValueLayout.class)
        .addStatement("forward(b.a(), b.s(), n)")
        .addStatement("$T.copy(b.a(), (int) (OUT * n), output, $T.JAVA_FLOAT, 0, n * CLASSES)", MemorySegment.class, ValueLayout.class)
        .addStatement("work.give(b)").build());
    t.addMethod(MethodSpec.methodBuilder("checkBatch").addModifiers(Modifier.PRIVATE, Modifier.STATIC).addParameter(int.class, "n")
        .beginControlFlow("if (n > MAX_BATCH)")
        .addStatement("throw new IllegalArgumentException(NAME + $S + MAX_BATCH + $S + n)", " runs at most ", " images per call, got ")
        .endControlFlow().build());
    t.addMethod(MethodSpec.methodBuilder("close").addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).addStatement("team.close()")
        .addStatement("work.clear()").build());
    t.addMethod(MethodSpec.methodBuilder("forward").addModifiers(Modifier.PRIVATE).addParameter(float[].class, "arena")
        .addParameter(float[].class, "scratch").addParameter(int.class, "n")
        .addJavadoc("Runs every step in order over the arena; the input is already in place, the output is read after.\n")
        .addCode(forward.build()).build());
    t.addMethod(MethodSpec.methodBuilder("step").addModifiers(Modifier.PRIVATE).addParameter(int.class, "step")
        .addParameter(MemorySegment.class, "a").addParameter(MemorySegment.class, "w").addParameter(MemorySegment.class, "s")
        .addParameter(int.class, "n").addParameter(int.class, "tasksPerImage")
        .addJavadoc("Splits the step's {@code n * tasksPerImage} tasks into contiguous ranges over the team.\n")
        .addStatement("$T k = kernels[step]", MethodHandle.class)
        .addStatement("int tasks = n * tasksPerImage, parts = Math.min(tasks, chunks)")
        .addStatement("team.run(parts, c -> call(k, a, w, s, n, (int) ((long) tasks * c / parts), (int) ((long) tasks * (c + 1) / parts)))").build());
    t.addMethod(MethodSpec.methodBuilder("call").addModifiers(Modifier.PRIVATE, Modifier.STATIC).addParameter(MethodHandle.class, "k")
        .addParameter(MemorySegment.class, "a").addParameter(MemorySegment.class, "w").addParameter(MemorySegment.class, "s")
        .addParameter(int.class, "n").addParameter(int.class, "begin").addParameter(int.class, "end")
        .beginControlFlow("try").addStatement("k.invokeExact(a, w, s, n, begin, end)")
        .nextControlFlow("catch (RuntimeException | Error e)").addStatement("throw e")
        .nextControlFlow("catch (Throwable e)").addStatement("throw new IllegalStateException(e)")
        .endControlFlow().build());
    return JavaFile.builder(opt.packageName(), t.build()).skipJavaLangImports(true).indent("  ")
        .addFileComment("Generated by resnetc from $L (native backend). Do not edit.", info.specFile()).build().toString();
  }

  private static FieldSpec constant(Object type, String name, String format, Object... args) {
    TypeName tn = type instanceof TypeName t ? t : TypeName.get((Class<?>) type);
    return FieldSpec.builder(tn, name, Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL).initializer(format, args).build();
  }

}
