package resnetc.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * A generated model whose layers are native functions, one per step, called through the FFM API:
 * {@code void step(float* a, const float* w, float* s, int32 n, int32 begin, int32 end)} does tasks
 * [begin, end) of the step's {@code n * tasksPerImage} tasks. The arena and scratch are heap arrays handed to the
 * code without copying ({@code Linker.Option.critical(true)}: the code never calls back into Java nor keeps
 * pointers, so pinning the arrays for the length of one call is safe); the weights live off-heap, copied once per
 * class. A generated subclass holds only constants: its {@link Program} and its {@link Code}. A program may carry
 * code for several instruction sets (a library each); the best one this CPU runs is chosen when the class first
 * loads its code (see {@link CpuFeatures}).
 */
public abstract class NativeModel extends GeneratedModel {
  /** The signature of every step function. */
  public static final FunctionDescriptor STEP = FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);

  /**
   * What the model runs, for one or more instruction sets (best first), a library each: the steps of each in order.
   * Their steps may differ (a tuned schedule may take Winograd for a conv on one and not on another), and so may
   * their task counts (the register tiles differ).
   */
  public record Program(List<Isa> isas, List<Steps> steps) {
    public Program {
      isas = List.copyOf(isas);
      steps = List.copyOf(steps);
      if (isas.isEmpty() || steps.size() != isas.size()) throw new IllegalArgumentException("a program needs steps for each of its instruction sets");
    }

    public static ProgramBuilder builder() {
      return new ProgramBuilder();
    }
  }

  /**
   * The steps of one instruction set: each one's exported symbol, the layer it belongs to (index into the
   * descriptor's layers), the consecutive tasks a team job takes at least, and its tasks per image.
   */
  public record Steps(List<String> symbols, int[] layers, int[] grains, int[] tasks) {
    public Steps {
      symbols = List.copyOf(symbols);
      if (layers.length != symbols.size() || grains.length != symbols.size() || tasks.length != symbols.size()) {
        throw new IllegalArgumentException("a step needs a symbol, a layer, a grain and a task count");
      }
      for (int t : tasks) if (t < 1) throw new IllegalArgumentException("a step needs at least one task per image, got " + t);
    }
  }

  /** An instruction set a program was compiled for: its name (an LLVM CPU name) and its x86-64 level. */
  public record Isa(String name, String level) {}

  /** A program one line per instruction set and step, as a generated class's static initializer reads best. */
  public static final class ProgramBuilder {
    private final List<Isa> isas = new ArrayList<>();
    private final List<Steps> done = new ArrayList<>();
    private final List<String> symbols = new ArrayList<>();
    private final List<int[]> rows = new ArrayList<>();

    private ProgramBuilder() {}

    /** The steps that follow are this instruction set's. */
    public ProgramBuilder isa(String name, String level) {
      finish();
      isas.add(new Isa(name, level));
      return this;
    }

    /** A step of the current instruction set: its symbol, layer, grain, and tasks per image. */
    public ProgramBuilder step(String symbol, int layer, int grain, int tasks) {
      if (isas.isEmpty()) throw new IllegalStateException(symbol + ": name the instruction set (isa) before its steps");
      symbols.add(symbol);
      rows.add(new int[] {layer, grain, tasks});
      return this;
    }

    private void finish() {
      if (isas.size() == done.size()) return;
      done.add(new Steps(symbols, rows.stream().mapToInt(r -> r[0]).toArray(), rows.stream().mapToInt(r -> r[1]).toArray(),
          rows.stream().mapToInt(r -> r[2]).toArray()));
      symbols.clear();
      rows.clear();
    }

    public Program build() {
      finish();
      return new Program(isas, done);
    }
  }

  /**
   * What a generated class loads once and shares between its instances: its weights off-heap, and the library of
   * the instruction set this machine runs (from the jar, see {@link NativeLibrary}; named
   * {@code <library>-<isa>}) with a downcall handle per step. Loaded on first use, so a missing library is a clear
   * error at construction, not an ExceptionInInitializerError.
   */
  public static final class Code {
    private final Class<?> owner;
    private final String library, weightsResource;
    private final long weightFloats;
    private MemorySegment weights; // guarded by this
    private MethodHandle[] steps; // guarded by this
    private int isa = -1; // guarded by this

    public Code(Class<?> owner, String library, String weightsResource, long weightFloats) {
      this.owner = owner;
      this.library = library;
      this.weightsResource = weightsResource;
      this.weightFloats = weightFloats;
    }

    synchronized MemorySegment weights() {
      if (weights == null) {
        float[] f = Weights.load(owner, weightsResource, weightFloats);
        MemorySegment w = Arena.global().allocate(Math.max(4 * weightFloats, 4), 64);
        MemorySegment.copy(f, 0, w, ValueLayout.JAVA_FLOAT, 0, f.length);
        weights = w;
      }
      return weights;
    }

    /** The index of the instruction set chosen for this machine, its library loaded and bound. */
    synchronized int load(String model, Program p) {
      if (steps == null) {
        String chosen = CpuFeatures.choose(model, p.isas().stream().map(Isa::level).toList());
        int i = 0;
        while (!p.isas().get(i).level().equals(chosen)) i++;
        steps = bind(model, NativeLibrary.load(owner, library + "-" + p.isas().get(i).name()), p.steps().get(i));
        isa = i;
      }
      return isa;
    }

    synchronized MethodHandle[] steps() {
      return steps;
    }
  }

  private final Program program;
  /** The instruction set this instance runs: an index into the program's. */
  private final int isa;
  /** The steps of that instruction set. */
  private final Steps isaSteps;
  private final MethodHandle[] steps;
  private final MemorySegment weights;
  /** Task ranges per step: a few per thread, so uneven ones even out. */
  private final int chunks;
  /** Per-layer timing, {@code -Dresnetc.profile=true} when the instance was made (a branch per step when off). */
  private final boolean profile = Boolean.getBoolean(PROFILE_PROPERTY);

  /** Runs the library of the best instruction set this machine has, loading it on first use. */
  protected NativeModel(ModelDescriptor model, Program program, Code code, int threads) {
    this(model, program, code, code.load(model.name(), program), null, threads);
  }

  /**
   * Runs the native code {@code symbols} finds (compiled in this process for the program's first instruction set);
   * it must outlive this instance.
   */
  protected NativeModel(ModelDescriptor model, Program program, Code code, SymbolLookup symbols, int threads) {
    this(model, program, code, 0, bind(model.name(), symbols, program.steps().getFirst()), threads);
  }

  private NativeModel(ModelDescriptor model, Program program, Code code, int isa, MethodHandle[] steps, int threads) {
    super(model, threads);
    this.program = program;
    this.isa = isa;
    this.isaSteps = program.steps().get(isa);
    this.steps = steps != null ? steps : code.steps();
    this.weights = code.weights();
    this.chunks = threads == 1 ? 1 : 4 * threads;
  }

  @Override
  public String backend() {
    return "native";
  }

  /** The instruction set of the native code this instance runs. */
  @Override
  public String isa() {
    return program.isas().get(isa).name();
  }

  private static MethodHandle[] bind(String model, SymbolLookup symbols, Steps p) {
    Linker linker = Linker.nativeLinker();
    MethodHandle[] k = new MethodHandle[p.symbols().size()];
    for (int i = 0; i < k.length; i++) {
      String symbol = p.symbols().get(i);
      MemorySegment f = symbols.find(symbol).orElseThrow(() -> new IllegalStateException(model + ": the native code has no function " + symbol));
      // critical: heap arrays go in without copying; the code never calls back into Java
      k[i] = linker.downcallHandle(f, STEP, Linker.Option.critical(true));
    }
    return k;
  }

  @Override
  protected final void forward(float[] arena, float[] scratch, int n) {
    MemorySegment a = MemorySegment.ofArray(arena), s = MemorySegment.ofArray(scratch);
    long t0 = profile ? System.nanoTime() : 0;
    int[] tasks = isaSteps.tasks(), grains = isaSteps.grains(), layers = isaSteps.layers();
    for (int i = 0; i < steps.length; i++) {
      step(steps[i], a, s, n, tasks[i], grains[i]);
      if (profile) t0 = lap(layers[i], t0);
    }
  }

  /** Splits a step's {@code n * tasksPerImage} tasks into contiguous ranges over the team, at least {@code grain} per range. */
  private void step(MethodHandle k, MemorySegment a, MemorySegment s, int n, int tasksPerImage, int grain) {
    int tasks = n * tasksPerImage, parts = Math.min(Math.ceilDiv(tasks, grain), chunks);
    MemorySegment w = weights;
    team.run(parts, c -> call(k, a, w, s, n, (int) ((long) tasks * c / parts), (int) ((long) tasks * (c + 1) / parts)));
  }

  private static void call(MethodHandle k, MemorySegment a, MemorySegment w, MemorySegment s, int n, int begin, int end) {
    try {
      k.invokeExact(a, w, s, n, begin, end);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }
}
