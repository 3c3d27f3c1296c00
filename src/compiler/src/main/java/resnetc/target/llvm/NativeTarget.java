package resnetc.target.llvm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;
import resnetc.packaging.InMemoryJavac;
import resnetc.target.java.JavaBackend;
import resnetc.packaging.ModelJar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.NativeLibrary;

/** The Java side of the native backend: wrapper source to classes, to a live model (JIT) or to a jar (AOT). */
public final class NativeTarget {
  private NativeTarget() {}

  /**
   * The compiled wrapper: its source and class files, the weights blob (null when the graph has none) and where it
   * goes, the library's name.
   */
  public record Compiled(String qualifiedName, String source, Map<String, byte[]> classes, byte[] blob, String weightsPath,
                         String libraryName) {}

  /** Compiles the wrapper for square inputs (see {@link NativeWrapper#generate(NativeProgram, JavaBackend.ModelInfo, JavaBackend.Options, String)}). */
  public static Compiled compileWrapper(NativeProgram p, JavaBackend.ModelInfo info, JavaBackend.Options opt, String libraryName) {
    return compile(NativeWrapper.generate(p, info, opt, libraryName), p, opt, libraryName);
  }

  public static Compiled compileWrapper(NativeProgram p, JavaBackend.ModelInfo info, JavaBackend.Options opt, String libraryName,
                                        int channels, int height, int width) {
    return compile(NativeWrapper.generate(p, info, opt, libraryName, channels, height, width), p, opt, libraryName);
  }

  private static Compiled compile(String source, NativeProgram p, JavaBackend.Options opt, String libraryName) {
    String qn = opt.packageName().isEmpty() ? opt.className() : opt.packageName() + "." + opt.className();
    String dir = opt.packageName().isEmpty() ? "" : opt.packageName().replace('.', '/') + "/";
    return new Compiled(qn, source, InMemoryJavac.compile(qn, source), p.weights() == null ? null : JavaBackend.blobBytes(p.weights()),
        dir + opt.className() + ".weights", libraryName);
  }

  /**
   * A live model over native code compiled in this process: {@code symbols} gives each step function's address
   * (null when missing), and that code must stay loaded while the model is in use.
   */
  public static CompiledModel instantiate(Compiled c, int threads, Function<String, MemorySegment> symbols) {
    SymbolLookup lookup = name -> Optional.ofNullable(symbols.apply(name));
    return construct(c, Map.of(), new Class<?>[] {int.class, SymbolLookup.class}, threads, lookup);
  }

  /** A live model that loads its library like a jar would, from {@code libraries} (platform to library bytes). */
  public static CompiledModel instantiate(Compiled c, int threads, Map<String, byte[]> libraries) {
    return construct(c, nativeResources(c.libraryName(), libraries), new Class<?>[] {int.class}, threads);
  }

  private static CompiledModel construct(Compiled c, Map<String, byte[]> extra, Class<?>[] signature, Object... args) {
    requireWeights(c);
    Map<String, byte[]> resources = new LinkedHashMap<>(extra);
    resources.put(c.weightsPath(), c.blob());
    var loader = new InMemoryJavac.Loader(c.classes(), resources, NativeTarget.class.getClassLoader());
    try {
      return (CompiledModel) loader.loadClass(c.qualifiedName()).getConstructor(signature).newInstance(args);
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) throw r; // e.g. a clear "no native library" error
      throw new IllegalStateException("cannot start " + c.qualifiedName() + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot load " + c.qualifiedName() + ": " + e, e);
    }
  }

  /** Writes the deployable jar with {@code so}, the library built for this machine's platform. */
  public static void writeJar(Path jar, Compiled c, byte[] so) {
    writeJar(jar, c, Map.of(NativeLibrary.platform(), so));
  }

  /** Writes the deployable jar with one library per platform ({@code linux-x86_64} and so on, see NativeLibrary.platform()). */
  public static void writeJar(Path jar, Compiled c, Map<String, byte[]> libraries) {
    ModelJar.write(jar, c.qualifiedName(), c.classes(), resources(c, libraries));
  }

  /** Every resource the model class loads: the weights blob, the libraries under native/ and their index. */
  public static Map<String, byte[]> resources(Compiled c, Map<String, byte[]> libraries) {
    requireWeights(c);
    Map<String, byte[]> resources = nativeResources(c.libraryName(), libraries);
    resources.put(c.weightsPath(), c.blob());
    return resources;
  }

  private static void requireWeights(Compiled c) {
    if (c.blob() == null) throw new IllegalArgumentException("model " + c.qualifiedName() + " has no weights");
  }

  /** {@code native/<platform>/<file>} entries and the index that lists them. */
  static Map<String, byte[]> nativeResources(String libraryName, Map<String, byte[]> libraries) {
    if (libraries.isEmpty()) throw new IllegalArgumentException("no native library for " + libraryName);
    Map<String, byte[]> out = new TreeMap<>();
    StringBuilder index = new StringBuilder("# native libraries in this jar: platform/file\n");
    for (var e : new TreeMap<>(libraries).entrySet()) {
      out.put(NativeLibrary.entry(e.getKey(), libraryName), e.getValue());
      index.append(e.getKey()).append('/').append(NativeLibrary.fileName(e.getKey(), libraryName)).append('\n');
    }
    out.put(NativeLibrary.INDEX, index.toString().getBytes(StandardCharsets.UTF_8));
    return out;
  }
}
