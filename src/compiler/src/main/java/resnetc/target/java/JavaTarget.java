package resnetc.target.java;

import java.lang.reflect.InvocationTargetException;
import java.util.List;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.CpuModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Winograd;
import resnetc.target.Artifact;
import resnetc.target.CodegenOptions;
import resnetc.target.InMemoryJavac;
import resnetc.target.ModelInfo;
import resnetc.target.Target;

/**
 * The Java target: a readable Java class over the Vector API, which needs nothing but a JDK at run time. It plans
 * for the JVM (see {@link CpuModel#jvm}): the vector width is chosen when the class loads, on the user's CPU.
 */
public final class JavaTarget implements Target {
  @Override
  public String name() {
    return "java";
  }

  @Override
  public Pipeline legalization() {
    return Pipeline.parse("fuse-conv,dce");
  }

  @Override
  public List<CpuModel> cpus(CodegenOptions options) {
    if (!options.cpus().isEmpty()) {
      throw new IllegalArgumentException("--cpu applies to the native backend; the Java backend chooses 16- or 8-float vectors when its class loads");
    }
    return List.of(CpuModel.jvm());
  }

  /**
   * Off unless asked for: on one core Winograd gains 7 % on ResNet-50, but its steps did not scale to two threads
   * (38 ms against 32 ms for the direct convs on Zen 5).
   */
  @Override
  public Winograd.Mode winograd(Winograd.Mode requested) {
    return requested == Winograd.Mode.AUTO ? Winograd.Mode.OFF : requested;
  }

  @Override
  public Artifact emit(List<Schedule> schedules, ModelInfo info, CodegenOptions options) {
    return JavaClassEmitter.emit(schedules.getFirst(), info, options.packageName(), options.className(info.name()));
  }

  @Override
  public String source(List<Schedule> schedules, ModelInfo info, CodegenOptions options) {
    return JavaClassEmitter.source(schedules.getFirst(), info, options.packageName(), options.className(info.name()));
  }

  @Override
  public CompiledModel load(Schedule schedule, ModelInfo info, CodegenOptions options, int threads) {
    Artifact a = emit(List.of(schedule), info, options);
    var loader = new InMemoryJavac.Loader(a.compile(), a.resources(), JavaTarget.class.getClassLoader());
    try {
      return (CompiledModel) loader.loadClass(a.qualifiedName()).getConstructor(int.class).newInstance(threads);
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException("cannot start " + a.qualifiedName() + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot load " + a.qualifiedName() + ": " + e, e);
    }
  }
}
