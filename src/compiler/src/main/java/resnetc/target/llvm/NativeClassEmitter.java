package resnetc.target.llvm;

import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.TypeSpec;
import java.lang.foreign.SymbolLookup;
import java.util.List;
import javax.lang.model.element.Modifier;
import resnetc.schedule.Schedule;
import resnetc.schedule.Step;
import resnetc.target.ModelClass;
import resnetc.target.ModelInfo;

/**
 * The Java class around schedules compiled to native code, one per instruction set: a {@code NativeModel} whose
 * only contents are constants, the model's descriptor and its program (per instruction set, one row per step:
 * symbol, layer, grain, tasks), plus the constructors. The runtime's {@code NativeModel} checks sizes and runs each step over the thread team.
 */
final class NativeClassEmitter {
  private static final ClassName NATIVE = ClassName.get("resnetc.runtime", "NativeModel");
  private static final ClassName PROGRAM = NATIVE.nestedClass("Program"), CODE = NATIVE.nestedClass("Code");

  private NativeClassEmitter() {}

  /** The class for {@code schedules} (one per instruction set, best first) whose steps export {@code symbols} (a list each). */
  static String source(List<Schedule> schedules, ModelInfo info, List<List<String>> symbols, String packageName, String cls, String library) {
    Schedule s = schedules.getFirst();
    String what = " to native code for " + String.join(" and ", schedules.stream().map(x -> x.cpu().name()).toList());
    TypeSpec.Builder t = ModelClass.type(cls, NATIVE, s, info, what);
    t.addField(ModelClass.descriptor(schedules, info));
    CodeBlock.Builder program = CodeBlock.builder().add("$T.builder()\n$>$>", PROGRAM);
    for (int k = 0; k < schedules.size(); k++) {
      Schedule x = schedules.get(k);
      program.add(".isa($S, $S)\n", x.cpu().name(), LlvmTarget.level(x.cpu()));
      List<Schedule.Layer> layers = x.layers();
      for (int i = 0, layer = -1; i < x.steps().size(); i++) {
        Step step = x.steps().get(i);
        if (layer < 0 || !layers.get(layer).name().equals(step.layer())) {
          layer++;
          while (!layers.get(layer).name().equals(step.layer())) layer++;
          // the spec lines once, with the first instruction set's steps
          if (k == 0) program.add(ModelClass.layerComment(layers.get(layer), info));
        }
        program.add(".step($S, $L, $L, $L)\n", symbols.get(k).get(i), layer, step.grain() == Integer.MAX_VALUE ? "Integer.MAX_VALUE" : step.grain(),
            step.tasksPerImage());
      }
    }
    program.add(".build()$<$<");
    t.addField(FieldSpec.builder(PROGRAM, "PROGRAM", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("The native steps in order for each instruction set: symbol, layer, tasks per team job at least, tasks per image.\n")
        .initializer(program.build()).build());
    ClassName self = ClassName.get(packageName, cls);
    t.addField(FieldSpec.builder(CODE, "CODE", Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
        .addJavadoc("The library for this CPU in this jar ({@code <library>-<isa>}) and the weights, loaded by the first instance and shared by all.\n")
        .initializer("new $T($T.class, $S, $S, $LL)", CODE, self, library, cls + ".weights", s.weightFloats()).build());
    t.addMethod(ModelClass.allCores());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addParameter(int.class, "threads")
        .addJavadoc("Splits each step over {@code threads} threads (1 = the calling thread only), with the native library from this jar.\n")
        .addStatement("super(MODEL, PROGRAM, CODE, threads)").build());
    t.addMethod(MethodSpec.constructorBuilder().addModifiers(Modifier.PUBLIC).addParameter(int.class, "threads")
        .addParameter(SymbolLookup.class, "symbols")
        .addJavadoc("Runs the native code {@code symbols} finds (compiled in this process); it must outlive this instance.\n")
        .addStatement("super(MODEL, PROGRAM, CODE, symbols, threads)").build());
    return ModelClass.source(packageName, t.build(), info, " (native backend)");
  }
}
