package resnetc.target.llvm;

import com.palantir.javapoet.NameAllocator;
import java.lang.foreign.SymbolLookup;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.NativeLibrary;
import resnetc.schedule.CpuModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Step;
import resnetc.schedule.Winograd;
import resnetc.target.Artifact;
import resnetc.target.CodegenOptions;
import resnetc.target.InMemoryJavac;
import resnetc.target.ModelInfo;
import resnetc.target.Target;

/**
 * The native target: every step of the schedule an LLVM function (through the LLVM C API, {@code default<O3>} for
 * the CPU), linked into a shared library that the model jar carries, and a Java class that calls the steps through
 * the FFM API. In process ({@link #load}) the same module runs from an ORC JIT, bit for bit the same code.
 */
public final class LlvmTarget implements Target {
  @Override
  public String name() {
    return "native";
  }

  @Override
  public Pipeline legalization() {
    return Pipeline.parse("fuse-conv,dce");
  }

  /** The first of the options' CPUs ({@value LlvmMachine#DEFAULT_CPU} when none); {@code native} is this machine. */
  @Override
  public CpuModel cpu(CodegenOptions options) {
    return LlvmMachine.resolve(options.cpus().isEmpty() ? null : options.cpus().get(0));
  }

  @Override
  public Winograd.Mode winograd(Winograd.Mode requested) {
    return requested;
  }

  /** Each step's exported function: {@code rn_<model>_<layer>_<step>}, unique. */
  static List<String> symbols(Schedule s) {
    NameAllocator names = new NameAllocator();
    List<String> out = new ArrayList<>();
    for (Step step : s.steps()) {
      String base = "rn_" + s.model() + "_" + step.layer() + "_" + step.kind();
      out.add(names.newName(base.replaceAll("[^A-Za-z0-9_]", "_"), step));
    }
    return out;
  }

  @Override
  public String source(Schedule schedule, ModelInfo info, CodegenOptions options) {
    String cls = options.className(info.name());
    return NativeClassEmitter.source(schedule, info, symbols(schedule), options.packageName(), cls, cls.toLowerCase(Locale.ROOT));
  }

  @Override
  public Artifact emit(Schedule schedule, ModelInfo info, CodegenOptions options) {
    if (schedule.weights() == null) throw new IllegalArgumentException("model " + info.name() + " has no weights");
    List<String> symbols = symbols(schedule);
    String cls = options.className(info.name()), library = cls.toLowerCase(Locale.ROOT);
    String qn = options.qualifiedName(info.name());
    Map<String, byte[]> resources = nativeResources(library, Map.of(NativeLibrary.platform(), SharedLibrary.build(schedule, symbols)));
    resources.put(Artifact.resourcePath(qn, cls + ".weights"), Artifact.blobBytes(schedule.weights()));
    return new Artifact(qn, NativeClassEmitter.source(schedule, info, symbols, options.packageName(), cls, library), resources);
  }

  /** {@code native/<platform>/<file>} entries and the index that lists them (see {@code NativeLibrary}). */
  static Map<String, byte[]> nativeResources(String libraryName, Map<String, byte[]> libraries) {
    Map<String, byte[]> out = new TreeMap<>();
    StringBuilder index = new StringBuilder("# native libraries in this jar: platform/file\n");
    for (var e : new TreeMap<>(libraries).entrySet()) {
      out.put(NativeLibrary.entry(e.getKey(), libraryName), e.getValue());
      index.append(e.getKey()).append('/').append(NativeLibrary.fileName(e.getKey(), libraryName)).append('\n');
    }
    out.put(NativeLibrary.INDEX, index.toString().getBytes(StandardCharsets.UTF_8));
    return out;
  }

  /** The schedule compiled by the ORC JIT and bound to its class, with no shared library written anywhere. */
  @Override
  public CompiledModel load(Schedule schedule, ModelInfo info, CodegenOptions options, int threads) {
    if (schedule.weights() == null) throw new IllegalArgumentException("model " + info.name() + " has no weights");
    List<String> symbols = symbols(schedule);
    String cls = options.className(info.name()), qn = options.qualifiedName(info.name());
    String source = NativeClassEmitter.source(schedule, info, symbols, options.packageName(), cls, "jit");
    Map<String, byte[]> resources = Map.of(Artifact.resourcePath(qn, cls + ".weights"), Artifact.blobBytes(schedule.weights()));
    var loader = new InMemoryJavac.Loader(InMemoryJavac.compile(qn, source), resources, LlvmTarget.class.getClassLoader());
    NativeJit jit = NativeJit.load(schedule, symbols);
    try {
      var model = (CompiledModel) loader.loadClass(qn).getConstructor(int.class, SymbolLookup.class).newInstance(threads, jit.lookup());
      return new JitModel(model, jit);
    } catch (InvocationTargetException e) {
      jit.close();
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException("cannot start " + qn + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException | RuntimeException e) {
      jit.close();
      throw new IllegalStateException("cannot load " + qn + ": " + e, e);
    }
  }
}
