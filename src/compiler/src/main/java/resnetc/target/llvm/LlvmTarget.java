package resnetc.target.llvm;

import com.palantir.javapoet.NameAllocator;
import java.lang.foreign.SymbolLookup;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.stream.Collectors;
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

  /**
   * The options' CPUs ({@code native} is this machine), by default x86-64-v4 and x86-64-v3: AVX-512 and AVX2 code
   * in one jar, which runs the best this CPU has. Best (widest vectors) first.
   */
  @Override
  public List<CpuModel> cpus(CodegenOptions options) {
    List<String> names = options.cpus().isEmpty() ? DEFAULT_CPUS : options.cpus();
    List<CpuModel> cpus = names.stream().distinct().map(LlvmMachine::resolve).distinct().collect(Collectors.toCollection(ArrayList::new));
    cpus.sort(Comparator.comparingInt(CpuModel::lanes).reversed());
    return cpus;
  }

  /** What a native jar carries by default: every x86-64 server of the last decade runs one of them. */
  static final List<String> DEFAULT_CPUS = List.of("x86-64-v4", "x86-64-v3");

  /** The x86-64 level a CPU's code needs at run time (the runtime checks the CPU's flags against it). */
  static String level(CpuModel cpu) {
    return cpu.lanes() == 16 ? "x86-64-v4" : "x86-64-v3";
  }

  /**
   * An x86-64 level runs where the CPU's flags have it; a named CPU ({@code znver4}, ...) only on that CPU, as LLVM
   * names this machine's (its code may use any of that CPU's features).
   */
  @Override
  public boolean runsHere(CpuModel cpu) {
    if (cpu.name().startsWith("x86-64-v")) return resnetc.runtime.CpuFeatures.runsHere(cpu.name());
    return cpu.name().equals(LlvmMachine.resolve("native").name()) && resnetc.runtime.CpuFeatures.runsHere(level(cpu));
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
  public String source(List<Schedule> schedules, ModelInfo info, CodegenOptions options) {
    String cls = options.className(info.name());
    return NativeClassEmitter.source(schedules, info, schedules.stream().map(LlvmTarget::symbols).toList(), options.packageName(), cls,
        cls.toLowerCase(Locale.ROOT));
  }

  /**
   * One library per CPU, named {@code <class>-<cpu>}, with its own steps (tuning may choose differently per CPU),
   * sharing one weights blob (see {@link resnetc.schedule.Scheduler#plan(resnetc.ir.Graph, List, Winograd.Mode, String, resnetc.schedule.Tuning)}).
   */
  @Override
  public Artifact emit(List<Schedule> schedules, ModelInfo info, CodegenOptions options) {
    Schedule first = schedules.getFirst();
    if (first.weights() == null) throw new IllegalArgumentException("model " + info.name() + " has no weights");
    for (Schedule s : schedules) {
      if (s.weights() != first.weights()) throw new IllegalStateException(info.name() + ": the schedule for " + s.cpu().name() + " has a weights blob of its own");
    }
    String cls = options.className(info.name()), library = cls.toLowerCase(Locale.ROOT);
    String qn = options.qualifiedName(info.name());
    Map<String, byte[]> resources = new TreeMap<>();
    for (Schedule s : schedules) {
      resources.putAll(nativeResources(library + "-" + s.cpu().name(), Map.of(NativeLibrary.platform(), SharedLibrary.build(s, symbols(s)))));
    }
    resources.put(NativeLibrary.INDEX, index(resources));
    resources.put(Artifact.resourcePath(qn, cls + ".weights"), Artifact.blobBytes(first.weights()));
    return new Artifact(qn, source(schedules, info, options), resources);
  }

  /** {@code native/<platform>/<file>} entries and the index that lists them (see {@code NativeLibrary}). */
  static Map<String, byte[]> nativeResources(String libraryName, Map<String, byte[]> libraries) {
    Map<String, byte[]> out = new TreeMap<>();
    for (var e : libraries.entrySet()) out.put(NativeLibrary.entry(e.getKey(), libraryName), e.getValue());
    out.put(NativeLibrary.INDEX, index(out));
    return out;
  }

  /** The index of the libraries among {@code resources}: one {@code platform/file} line each. */
  private static byte[] index(Map<String, byte[]> resources) {
    StringBuilder index = new StringBuilder("# native libraries in this jar: platform/file\n");
    for (String path : new TreeMap<>(resources).keySet()) {
      if (path.startsWith("native/") && !path.equals(NativeLibrary.INDEX)) index.append(path.substring("native/".length())).append('\n');
    }
    return index.toString().getBytes(StandardCharsets.UTF_8);
  }

  /** The schedule compiled by the ORC JIT and bound to its class, with no shared library written anywhere. */
  @Override
  public CompiledModel load(Schedule schedule, ModelInfo info, CodegenOptions options, int threads) {
    if (schedule.weights() == null) throw new IllegalArgumentException("model " + info.name() + " has no weights");
    List<String> symbols = symbols(schedule);
    String cls = options.className(info.name()), qn = options.qualifiedName(info.name());
    String source = NativeClassEmitter.source(List.of(schedule), info, List.of(symbols), options.packageName(), cls, "jit");
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
