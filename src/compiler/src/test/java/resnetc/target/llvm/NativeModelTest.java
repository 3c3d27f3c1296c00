package resnetc.target.llvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.TestPaths;
import resnetc.packaging.ModelJar;
import resnetc.target.Artifact;
import resnetc.target.InMemoryJavac;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.F32;
import resnetc.runtime.NativeLibrary;

/**
 * The runtime's {@code NativeModel} and the model jar around a hand-written native program (gcc, not the LLVM
 * target): a toy model on 1x4x4 inputs, {@code y = dense(relu(2x + b))} with 3 classes, in three steps that follow
 * the native ABI, and a model class written the way the native target writes one.
 */
class NativeModelTest {
  @TempDir static Path tmp;
  static byte[] so;
  static SymbolLookup lib;
  static Map<String, byte[]> classes;

  /** a: [input 16n][doubled 16n][output 3n]; s: [relu 16n]; w: [bias][dense 3x16][dense bias 3]. */
  static final String TOY_C = """
      #include <stdint.h>
      int64_t toy_calls = 0; /* kernel calls, read by the test to prove which calls happened */
      #define COUNT __atomic_fetch_add(&toy_calls, 1, __ATOMIC_RELAXED)
      void toy_double(float* a, const float* w, float* s, int32_t n, int32_t begin, int32_t end) {
        COUNT; /* a task is one row of 4 */
        for (int t = begin; t < end; t++) for (int x = 0; x < 4; x++) a[16L * n + t * 4 + x] = 2 * a[t * 4 + x] + w[0];
      }
      void toy_relu(float* a, const float* w, float* s, int32_t n, int32_t begin, int32_t end) {
        COUNT; /* a task is one image */
        for (int t = begin; t < end; t++) for (int k = 0; k < 16; k++) {
          float v = a[16L * n + t * 16 + k];
          s[t * 16 + k] = v > 0 ? v : 0;
        }
      }
      void toy_dense(float* a, const float* w, float* s, int32_t n, int32_t begin, int32_t end) {
        COUNT; /* a task is one output */
        for (int t = begin; t < end; t++) {
          int i = t / 3, c = t % 3;
          float acc = w[49 + c];
          for (int k = 0; k < 16; k++) acc += s[i * 16 + k] * w[1 + c * 16 + k];
          a[32L * n + t] = acc;
        }
      }
      """;

  static final float[] WEIGHTS = new float[52];

  static {
    Random r = new Random(5);
    for (int i = 0; i < WEIGHTS.length; i++) WEIGHTS[i] = (float) r.nextGaussian();
  }

  /** The model class: its descriptor and program, as {@code NativeClassEmitter} writes them. */
  static final String TOY_JAVA = """
      package com.example.toy;

      import java.lang.foreign.SymbolLookup;
      import resnetc.runtime.ModelDescriptor;
      import resnetc.runtime.NativeModel;

      public final class Toy extends NativeModel {
        private static final ModelDescriptor MODEL = ModelDescriptor.builder("toy")
            .input(1, 4, 4).classes(3).memory(35, 64, 16).offsets(0, 32).maxBatch(1000000)
            .labels("a", "b", "c")
            .layer("conv1", "conv 1x1", "1x4x4", 48L)
            .layer("fc", "fc", "3", 96L)
            .build();
        private static final Program PROGRAM = Program.builder()
            .isa("x86-64-v3", "x86-64-v3")
            .step("toy_double", 0, 1, 4)
            .step("toy_relu", 0, 1, 1)
            .step("toy_dense", 1, 1, 3)
            .build();
        private static final Code CODE = new Code(Toy.class, "toy", "Toy.weights", 52L);

        public Toy() {
          this(Runtime.getRuntime().availableProcessors());
        }

        public Toy(int threads) {
          super(MODEL, PROGRAM, CODE, threads);
        }

        public Toy(int threads, SymbolLookup symbols) {
          super(MODEL, PROGRAM, CODE, symbols, threads);
        }
      }
      """;

  static Map<String, byte[]> resources(Map<String, byte[]> libraries) {
    Map<String, byte[]> r = LlvmTarget.nativeResources("toy-x86-64-v3", libraries);
    r.put("com/example/toy/Toy.weights", Artifact.blobBytes(WEIGHTS));
    return r;
  }

  @BeforeAll
  static void build() throws Exception {
    Path c = tmp.resolve("toy.c"), out = tmp.resolve("libtoy.so");
    Files.writeString(c, TOY_C);
    Process gcc;
    try {
      gcc = new ProcessBuilder("gcc", "-O2", "-shared", "-fPIC", "-o", out.toString(), c.toString()).redirectErrorStream(true).start();
    } catch (IOException e) {
      Assumptions.abort("needs gcc: " + e.getMessage());
      return;
    }
    String log = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, gcc.waitFor(), log);
    so = Files.readAllBytes(out);
    lib = SymbolLookup.libraryLookup(out, Arena.global());
    classes = InMemoryJavac.compile("com.example.toy.Toy", TOY_JAVA);
  }

  /** The toy over the library loaded here. */
  static CompiledModel jit(int threads) {
    var loader = new InMemoryJavac.Loader(classes, resources(Map.of()), NativeModelTest.class.getClassLoader());
    try {
      return (CompiledModel) loader.loadClass("com.example.toy.Toy").getConstructor(int.class, SymbolLookup.class).newInstance(threads, lib);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  static long calls() {
    return lib.findOrThrow("toy_calls").reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
  }

  /** The toy in plain Java, in the same order of operations. */
  static float[] reference(float[] x, int n) {
    float[] y = new float[n * 3];
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        float acc = WEIGHTS[49 + c];
        for (int k = 0; k < 16; k++) acc += Math.max(2 * x[i * 16 + k] + WEIGHTS[0], 0) * WEIGHTS[1 + c * 16 + k];
        y[i * 3 + c] = acc;
      }
    }
    return y;
  }

  static float[] input(int n, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n * 16];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    return x;
  }

  static void assertClose(float[] expected, float[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-5f * (1 + Math.abs(expected[i])), "output " + i);
  }

  @Test
  void outputsEqualTheJavaComputation() {
    for (int threads : new int[] {1, 3}) {
      try (CompiledModel m = jit(threads)) {
        for (int n : new int[] {1, 2, 7, 64}) {
          float[] x = input(n, n);
          assertClose(reference(x, n), m.predict(x, n));
        }
      }
    }
  }

  @Test
  void memorySegmentPredictCopiesInAndOut() {
    try (CompiledModel m = jit(2); Arena arena = Arena.ofConfined()) {
      float[] x = input(5, 11);
      MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x), out = arena.allocate(4L * 5 * 3);
      m.predict(in, out, 5);
      assertClose(reference(x, 5), out.toArray(ValueLayout.JAVA_FLOAT));
    }
  }

  @Test
  void describesItself() {
    try (CompiledModel m = jit(1)) {
      assertEquals("toy", m.name());
      assertEquals(List.of(1, 4, 4, 3), List.of(m.channels(), m.height(), m.width(), m.classes()));
      assertEquals(List.of("a", "b", "c"), m.labels());
      assertEquals(List.of("conv1", "fc"), m.layers(), "two steps of conv1 make one layer");
      assertArrayEquals(new long[] {48, 96}, m.layerFlops());
      assertEquals(List.of("conv 1x1", "fc"), m.layerKinds(), "a layer's kind and shape are its first step's");
      assertEquals(List.of("1x4x4", "3"), m.layerShapes());
      m.predict(input(1, 1), 1);
      assertArrayEquals(new long[2], m.layerNanos(), "no timing without -Dresnetc.profile=true");
    }
  }

  @Test
  void profilingCountsTimePerLayer() {
    try (CompiledModel m = TestPaths.withProperty("resnetc.profile", "true", () -> jit(2))) {
      m.predict(input(4, 2), 4);
      for (long t : m.layerNanos()) assertTrue(t > 0, java.util.Arrays.toString(m.layerNanos()));
    }
  }

  /** Bad sizes are rejected with the runtime's messages before any kernel runs (the C counter does not move). */
  @Test
  void wrongInputSizesFailBeforeAnyNativeCall() {
    try (CompiledModel m = jit(2); Arena arena = Arena.ofConfined()) {
      long before = calls();
      var e = assertThrows(IllegalArgumentException.class, () -> m.predict(new float[31], 2));
      assertEquals("toy takes 2 x 1x4x4 = 32 floats, got 31", e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> m.predict(new float[0], 0));
      assertThrows(IllegalArgumentException.class, () -> m.predict(new float[16], -1));
      assertThrows(IllegalArgumentException.class, () -> m.predict(arena.allocate(4 * 16), arena.allocate(4 * 2), 1));
      assertThrows(IllegalArgumentException.class, () -> m.predict(arena.allocate(4 * 17), arena.allocate(4 * 3), 1));
      int huge = 2_000_000; // right sizes, but more than the class's largest batch (never read: NULL)
      var big = assertThrows(IllegalArgumentException.class,
          () -> m.predict(MemorySegment.NULL.reinterpret(4L * huge * 16), MemorySegment.NULL.reinterpret(4L * huge * 3), huge));
      assertTrue(big.getMessage().contains("images per call"), big.getMessage());
      assertEquals(before, calls());
      m.predict(input(1, 3), 1);
      assertTrue(calls() > before, "the counter does count real calls");
    }
  }

  @Test
  void oneInstanceServesManyThreadsAtOnce() throws Exception {
    try (CompiledModel m = jit(3); ExecutorService pool = Executors.newFixedThreadPool(8)) {
      List<float[]> inputs = new ArrayList<>();
      for (int k = 0; k < 16; k++) inputs.add(input(1 + k % 5, 100 + k));
      List<Future<float[]>> got = new ArrayList<>();
      for (int rep = 0; rep < 20; rep++) for (float[] x : inputs) got.add(pool.submit(() -> m.predict(x, x.length / 16)));
      for (int k = 0; k < got.size(); k++) {
        float[] x = inputs.get(k % inputs.size());
        assertClose(reference(x, x.length / 16), got.get(k).get());
      }
    }
  }

  record Result(int code, String out, String err) {}

  static Result java(Path jar, Path cache, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-jar", jar.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(tmp.resolve("err.txt").toFile());
    pb.environment().put("XDG_CACHE_HOME", cache.toString()); // keep the test out of ~/.cache
    Process p = pb.start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int code = p.waitFor();
    return new Result(code, out, Files.readString(tmp.resolve("err.txt")));
  }

  /** The deployable jar: {@code java -jar} extracts the library into the cache and matches the Java computation. */
  @Test
  void jarRunsWithPlainJavaDashJar() throws Exception {
    Path jar = tmp.resolve("toy.jar"), cache = tmp.resolve("cache");
    ModelJar.write(jar, "com.example.toy.Toy", classes, resources(Map.of(NativeLibrary.platform(), so)));
    String platform = NativeLibrary.platform();
    try (JarFile j = new JarFile(jar.toFile())) {
      assertEquals("com.example.toy.Toy", j.getManifest().getMainAttributes().getValue("Resnetc-Model"));
      ZipEntry lib = j.getEntry("native/" + platform + "/toy-x86-64-v3.so"), w = j.getEntry("com/example/toy/Toy.weights");
      assertEquals(ZipEntry.STORED, lib.getMethod());
      assertEquals(ZipEntry.STORED, w.getMethod());
      assertArrayEquals(so, j.getInputStream(lib).readAllBytes());
      assertTrue(new String(j.getInputStream(j.getEntry("native/index.txt")).readAllBytes(), StandardCharsets.UTF_8)
          .contains(platform + "/toy-x86-64-v3.so"));
    }
    float[] x = input(5, 21);
    Path in = tmp.resolve("in.f32"), out = tmp.resolve("out.f32");
    F32.write(in, x);
    for (int run = 0; run < 2; run++) {
      Result r = java(jar, cache, "--input-f32", in.toString(), "--output", out.toString(), "--batch", "2", "--threads", "2");
      assertEquals(0, r.code(), r.err());
      assertClose(reference(x, 5), F32.read(out));
      try (Stream<Path> files = Files.walk(cache)) {
        assertEquals(1, files.filter(Files::isRegularFile).count(), "one extracted library, reused by the second run");
      }
    }
  }

  @Test
  void jarWithoutThisPlatformSaysWhichItHas() throws Exception {
    Path jar = tmp.resolve("elsewhere.jar");
    ModelJar.write(jar, "com.example.toy.Toy", classes, resources(Map.of("plan9-mips", so)));
    Path in = tmp.resolve("one.f32");
    F32.write(in, input(1, 1));
    Result r = java(jar, tmp.resolve("cache2"), "--input-f32", in.toString());
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("error: no native library toy-x86-64-v3 for platform " + NativeLibrary.platform()), r.err());
    assertTrue(r.err().contains("plan9-mips/toy-x86-64-v3.so"), r.err());
    assertFalse(r.err().contains("\tat "), r.err());
  }
}
