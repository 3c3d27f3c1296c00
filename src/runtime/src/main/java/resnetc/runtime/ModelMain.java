package resnetc.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.module.ModuleFinder;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.jar.Manifest;
import resnetc.runtime.serve.ModelServer;
import resnetc.runtime.serve.ServeOptions;

/**
 * The command line of a compiled model's jar ({@code java -jar model.jar ...}); see {@link #USAGE}. The model class
 * comes from the {@code Resnetc-Model} manifest attribute, or {@code --model-class}.
 */
public final class ModelMain {
  public static final String MODEL_ATTRIBUTE = "Resnetc-Model";
  private static final String VECTOR_MODULE = "jdk.incubator.vector";

  static final String USAGE = """
      usage: java -jar MODEL.jar [options] IMAGE...          top-5 classes of each image (PNG, JPEG, BMP, GIF)
             java -jar MODEL.jar --input-cifar FILE [options]  accuracy on CIFAR binary records
             java -jar MODEL.jar --input-f32 FILE [options]    preprocessed little-endian float32 NCHW input
             java -jar MODEL.jar --bench [options]             latency and throughput on random input
             java -jar MODEL.jar --serve [options]             an HTTP server: POST /predict, GET /health, /model, /metrics
      options:
        --output FILE       write the outputs as little-endian float32 [N, classes]
        --limit N           use only the first N inputs
        --batch B           images per predict call (default 32)
        --threads T         threads of the model (default: all cores; at most 8 per core)
        --seconds S         --bench: how long to measure (default 10)
        --warmup S          --bench, --serve: warm up for S seconds or 20 runs, whichever is first (default 2)
        --profile           --bench: also each layer's median time per run, GFLOP/s and share of the total
        --port P            --serve: TCP port (default 8080; 0: any free port)
        --host ADDR         --serve: address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
        --max-batch B       --serve: most images per model call (default 8)
        --max-delay-ms D    --serve: how long a request may wait for others to join its batch (default 2)
        --queue N           --serve: most images waiting for a batch; more is answered 503 (default 16 x max batch)
        --max-body-bytes N  --serve: largest request body; larger is answered 413 (default 8 MiB or a whole batch)
        --max-pixels N      refuse images of more than N pixels, read from their header (default %d;
                            --serve: 4194304, answered 413)
        --model-class NAME  run this model class instead of the manifest's Resnetc-Model
        --no-vector         do not relaunch the JVM with --add-modules jdk.incubator.vector
        --help              print this text
      """.formatted(Images.DEFAULT_MAX_PIXELS);

  private ModelMain() {}

  public static void main(String[] args) {
    Integer code = relaunchWithVectors(args);
    if (code == null) code = run(args, System.out, System.err, null);
    System.out.flush();
    System.exit(code);
  }

  /**
   * Runs the command line and returns the exit code: 0 on success, 1 for a user mistake ({@code error: ...} on
   * {@code err}, no stack trace), 2 for an internal failure (with stack trace). {@code modelOverride}, when not
   * null, is used instead of loading a model class and is not closed.
   */
  public static int run(String[] args, PrintStream out, PrintStream err, CompiledModel modelOverride) {
    try {
      Options o = Options.parse(args);
      if (o.help) {
        out.print(USAGE);
        return 0;
      }
      o.check();
      // The generated class reads the flag once, when it initializes: set it before loading the class.
      if (o.profile && modelOverride == null) System.setProperty(CompiledModel.PROFILE_PROPERTY, "true");
      CompiledModel model = modelOverride != null ? modelOverride : loadModel(o.modelClass, o.threads);
      try {
        if (o.serve) serve(model, o, out, err);
        else if (o.bench) bench(model, o, out);
        else if (o.cifar != null) cifar(model, o, out, err);
        else if (o.f32 != null) f32(model, o, out, err);
        else images(model, o, out, err);
      } finally {
        if (modelOverride == null) model.close();
      }
      out.flush();
      return 0;
    } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
      return fail(err, message(e));
    } catch (NoSuchFileException e) {
      return fail(err, "no such file: " + e.getFile());
    } catch (IOException | UncheckedIOException e) {
      return fail(err, message(e));
    } catch (OutOfMemoryError e) {
      return fail(err, "out of memory (try a smaller --batch or --limit, or a larger -Xmx)");
    } catch (RuntimeException e) {
      err.println("error: internal failure: " + e);
      e.printStackTrace(err);
      return 2;
    }
  }

  private static int fail(PrintStream err, String message) {
    err.println("error: " + message);
    err.flush();
    return 1;
  }

  private static String message(Throwable e) {
    return e.getMessage() != null ? e.getMessage() : e.toString();
  }

  /** Parsed command line; all user mistakes surface as IllegalArgumentException. */
  private static final class Options {
    Path cifar, f32, output;
    final List<Path> images = new ArrayList<>();
    int limit, batch = 32;
    Integer threads;
    double seconds = 10, warmup = 2;
    boolean bench, profile, help, serve;
    String modelClass;
    String host;
    Integer port, maxBatch, queue;
    Double maxDelayMs;
    Long maxBodyBytes, maxPixels;

    static Options parse(String[] args) {
      Options o = new Options();
      boolean positionalOnly = false;
      for (int i = 0; i < args.length; i++) {
        String a = args[i], inline = null;
        if (positionalOnly || !a.startsWith("-") || a.equals("-")) {
          o.images.add(Path.of(a));
          continue;
        }
        int eq = a.indexOf('=');
        if (a.startsWith("--") && eq > 0) {
          inline = a.substring(eq + 1);
          a = a.substring(0, eq);
        }
        switch (a) {
          case "--help", "-h" -> o.help = true;
          case "--bench" -> o.bench = true;
          case "--serve" -> o.serve = true;
          case "--profile" -> o.profile = true;
          case "--no-vector" -> {} // only matters before the JVM is relaunched
          case "--" -> positionalOnly = true;
          case "--input-cifar", "--input-f32", "--output", "--limit", "--batch", "--threads", "--seconds", "--warmup",
              "--model-class", "--port", "--host", "--max-batch", "--max-delay-ms", "--queue", "--max-body-bytes", "--max-pixels" -> {
            String v = inline != null ? inline : i + 1 < args.length ? args[++i] : null;
            if (v == null) throw new IllegalArgumentException(a + " needs a value (see --help)");
            o.set(a, v);
            continue;
          }
          default -> throw new IllegalArgumentException("unknown option " + a + " (see --help)");
        }
        if (inline != null) throw new IllegalArgumentException(a + " takes no value");
      }
      return o;
    }

    private void set(String option, String v) {
      switch (option) {
        case "--input-cifar" -> cifar = Path.of(v);
        case "--input-f32" -> f32 = Path.of(v);
        case "--output" -> output = Path.of(v);
        case "--limit" -> limit = positive(option, v);
        case "--batch" -> batch = positive(option, v);
        case "--threads" -> threads = positive(option, v);
        case "--seconds" -> seconds = amount(option, v, "seconds");
        case "--warmup" -> warmup = amount(option, v, "seconds");
        case "--model-class" -> modelClass = v;
        case "--port" -> port = wholeNumber(option, v, 0, 65535);
        case "--host" -> host = v.strip();
        case "--max-batch" -> maxBatch = positive(option, v);
        case "--max-delay-ms" -> maxDelayMs = amount(option, v, "milliseconds");
        case "--queue" -> queue = positive(option, v);
        case "--max-body-bytes" -> maxBodyBytes = (long) wholeNumber(option, v, 1, Integer.MAX_VALUE - 8);
        case "--max-pixels" -> maxPixels = (long) wholeNumber(option, v, 1, Integer.MAX_VALUE);
        default -> throw new AssertionError(option);
      }
    }

    /** Exactly one kind of input, and input files that exist (before loading a possibly large model). */
    void check() throws IOException {
      int modes = (bench ? 1 : 0) + (serve ? 1 : 0) + (cifar != null ? 1 : 0) + (f32 != null ? 1 : 0) + (images.isEmpty() ? 0 : 1);
      if (modes == 0) throw new IllegalArgumentException("no input: give image files, --input-cifar, --input-f32, --bench or --serve (see --help)");
      if (modes > 1) throw new IllegalArgumentException("give only one of: image files, --input-cifar, --input-f32, --bench, --serve");
      if ((bench || serve) && output != null) throw new IllegalArgumentException("--output does not apply to " + (bench ? "--bench" : "--serve"));
      boolean serveOption = host != null || port != null || maxBatch != null || maxDelayMs != null || queue != null || maxBodyBytes != null;
      if (serveOption && !serve) throw new IllegalArgumentException("--port, --host, --max-batch, --max-delay-ms, --queue and --max-body-bytes need --serve");
      if (profile && !bench) throw new IllegalArgumentException("--profile needs --bench");
      if (threads != null) ThreadTeam.checkThreads(threads);
      List<Path> inputs = cifar != null ? List.of(cifar) : f32 != null ? List.of(f32) : images;
      for (Path p : inputs) InputFile.checkReadable(p);
      if (output != null && Files.isDirectory(output)) throw new IllegalArgumentException("--output " + output + " is a directory");
    }

    private static int wholeNumber(String option, String v, int min, int max) {
      try {
        int n = Integer.parseInt(v.strip());
        if (n >= min && n <= max) return n;
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new IllegalArgumentException(option + " needs a whole number from " + min + " to " + max + ", got '" + v + "'");
    }

    /** The server's settings: the defaults for this model, changed by the options given. */
    ServeOptions serveOptions(int inputFloats) {
      ServeOptions s = ServeOptions.defaults(inputFloats).withWarmup(Duration.ofNanos((long) (warmup * 1e9)));
      if (host != null) s = s.withHost(host);
      if (port != null) s = s.withPort(port);
      if (maxBatch != null) s = s.withMaxBatch(maxBatch, inputFloats);
      if (maxDelayMs != null) s = s.withMaxDelay(Duration.ofNanos((long) (maxDelayMs * 1e6)));
      if (queue != null) s = s.withQueueImages(queue);
      if (maxBodyBytes != null) s = s.withMaxBodyBytes(maxBodyBytes);
      if (maxPixels != null) s = s.withMaxPixels(maxPixels);
      return s;
    }

    private static double amount(String option, String v, String unit) {
      try {
        double s = Double.parseDouble(v.strip());
        if (s >= 0 && Double.isFinite(s)) return s;
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new IllegalArgumentException(option + " needs a number of " + unit + ", got '" + v + "'");
    }
  }

  // ---- model loading ----

  static CompiledModel loadModel(String className, Integer threads) {
    ClassLoader loader = ModelMain.class.getClassLoader();
    String name = className != null ? className : manifestModel(loader);
    Class<?> c;
    try {
      c = Class.forName(name, true, loader);
    } catch (ClassNotFoundException | LinkageError e) {
      throw new IllegalArgumentException("model class " + name + " not found: " + message(e));
    }
    if (!CompiledModel.class.isAssignableFrom(c)) {
      throw new IllegalArgumentException(name + " is not a " + CompiledModel.class.getName());
    }
    try {
      Object m = threads != null ? c.getConstructor(int.class).newInstance(threads) : c.getConstructor().newInstance();
      return (CompiledModel) m;
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      if (e.getCause() instanceof Error r) throw r;
      throw new IllegalStateException("creating " + name + ": " + message(e.getCause()), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalArgumentException(name + " has no public constructor " + (threads != null ? "(int threads)" : "()"));
    }
  }

  /** The {@code Resnetc-Model} attribute of the first manifest on the class path that has one. */
  private static String manifestModel(ClassLoader loader) {
    try {
      for (URL url : Collections.list(loader.getResources("META-INF/MANIFEST.MF"))) {
        try (InputStream in = url.openStream()) {
          String name = new Manifest(in).getMainAttributes().getValue(MODEL_ATTRIBUTE);
          if (name != null && !name.isBlank()) return name.strip();
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading the jar manifest: " + e.getMessage(), e);
    }
    throw new IllegalArgumentException("no model: the manifest has no " + MODEL_ATTRIBUTE + " attribute; pass --model-class NAME");
  }

  // ---- modes ----

  private static void cifar(CompiledModel m, Options o, PrintStream out, PrintStream err) throws IOException {
    if (m.channels() != 3 || m.height() != 32 || m.width() != 32) {
      throw new IllegalArgumentException(m.name() + " takes " + shape(m) + " images; CIFAR records are 3x32x32");
    }
    Accuracy score = new Accuracy();
    long t0 = System.nanoTime();
    try (InputFile in = InputFile.cifar(o.cifar, o.limit); AtomicFile file = o.output != null ? AtomicFile.create(o.output) : null;
        Progress progress = Progress.of(err, "images", in.count())) {
      for (InputFile.Batch b; (b = in.next(o.batch)) != null; ) {
        float[] y = predict(m, m.preprocessing().apply(b.values(), 3, 32 * 32), b.count());
        score.add(y, b.labels(), b.count(), m.classes());
        progress.advance(b.count());
        if (file != null) F32.write(file.stream(), y, 0, y.length);
      }
      if (file != null) file.commit();
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    out.println(score.line());
    out.println("correct: " + score.correct() + "/" + score.images());
    // this run's speed, JIT warm-up included; --bench measures the steady state
    out.printf(Locale.ROOT, "time_s: %.3f (batch %d, %d threads, %s)%n", seconds, o.batch, threads(o), m.isa().isEmpty() ? "isa unknown" : m.isa());
    out.printf(Locale.ROOT, "images_per_s: %.1f%n", score.images() / seconds);
    if (score.warning() != null) err.println(score.warning());
  }

  private static int threads(Options o) {
    return o.threads != null ? o.threads : Runtime.getRuntime().availableProcessors();
  }

  private static void f32(CompiledModel m, Options o, PrintStream out, PrintStream err) throws IOException {
    Accuracy score = new Accuracy();
    try (InputFile in = InputFile.f32(o.f32, m.inputSize(), m.name() + " inputs of " + shape(m), o.limit);
        AtomicFile file = o.output != null ? AtomicFile.create(o.output) : null;
        Progress progress = Progress.of(err, "images", file != null ? in.count() : 0)) {
      for (InputFile.Batch b; (b = in.next(o.batch)) != null; ) {
        float[] y = predict(m, b.values(), b.count());
        long first = score.images();
        score.add(y, null, b.count(), m.classes());
        progress.advance(b.count());
        if (file != null) {
          F32.write(file.stream(), y, 0, y.length);
        } else {
          for (int i = 0; i < b.count(); i++) out.println((first + i) + ": " + className(m, F32.argmax(y, i * m.classes(), m.classes())));
        }
      }
      if (file != null) {
        file.commit();
        out.println("wrote " + score.images() + " x " + m.classes() + " outputs to " + o.output);
      }
    }
    if (score.warning() != null) err.println(score.warning());
  }

  private static void images(CompiledModel m, Options o, PrintStream out, PrintStream err) throws IOException {
    List<Path> files = o.limit > 0 && o.limit < o.images.size() ? o.images.subList(0, o.limit) : o.images;
    int size = m.inputSize(), classes = m.classes(), plane = m.height() * m.width();
    int batch = InputFile.checkBatch(o.batch, size);
    Accuracy score = new Accuracy();
    try (AtomicFile file = o.output != null ? AtomicFile.create(o.output) : null) {
      for (int s = 0; s < files.size(); s += batch) {
        int b = Math.min(batch, files.size() - s);
        float[] x = new float[b * size];
        for (int i = 0; i < b; i++) {
          float[] px = Images.load(files.get(s + i), m.channels(), m.height(), m.width(), m.preprocessing(), o.maxPixels != null ? o.maxPixels : Images.maxPixels());
          System.arraycopy(px, 0, x, i * size, size);
        }
        float[] y = predict(m, m.preprocessing().apply(x, m.channels(), plane), b);
        score.add(y, null, b, classes);
        if (file != null) F32.write(file.stream(), y, 0, y.length);
        for (int i = 0; i < b; i++) {
          double[] p = probabilities(y, i * classes, classes);
          out.println(files.get(s + i));
          for (int c : top(p, 5)) {
            out.printf(Locale.ROOT, "  %.4f  %d%s%n", p[c], c, c < m.labels().size() ? "  " + m.labels().get(c) : "");
          }
        }
      }
      if (file != null) file.commit();
    }
    if (score.warning() != null) err.println(score.warning());
  }

  /**
   * Latency of repeated predict() calls on seeded random input. Warm-up stops after {@code --warmup} seconds or
   * 20 runs, whichever comes first; the median of the timed runs absorbs what JIT work remains. With
   * {@code --profile}, each layer's median time over the same runs.
   */
  private static void bench(CompiledModel m, Options o, PrintStream out) {
    if (o.profile && m.layers().isEmpty()) {
      throw new IllegalArgumentException(m.name() + " records no per-layer times (compiled by an older resnetc?); --profile needs them");
    }
    int b = InputFile.checkBatch(o.batch, m.inputSize());
    float[] x = new float[b * m.inputSize()];
    Random random = new Random(42);
    for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();

    predict(m, x, b);
    long coldStart = System.currentTimeMillis() - jvmStartMillis();
    long warmEnd = System.nanoTime() + (long) (o.warmup * 1e9);
    int warmups = 1;
    for (; warmups < 21 && System.nanoTime() < warmEnd; warmups++) predict(m, x, b);

    // --profile: the layer counters after every run, for per-layer medians (read outside the timed part)
    List<long[]> snapshots = new ArrayList<>();
    if (o.profile) snapshots.add(m.layerNanos());
    long[] times = new long[64];
    int runs = 0;
    long total = 0, budget = (long) (o.seconds * 1e9);
    do {
      long t0 = System.nanoTime();
      predict(m, x, b);
      long t = System.nanoTime() - t0;
      if (runs == times.length) times = Arrays.copyOf(times, runs * 2);
      times[runs++] = t;
      total += t;
      if (o.profile) snapshots.add(m.layerNanos());
    } while (total < budget);
    long[] sorted = Arrays.copyOf(times, runs);
    Arrays.sort(sorted);
    double median = runs % 2 == 1 ? sorted[runs / 2] : (sorted[runs / 2 - 1] + sorted[runs / 2]) / 2.0;
    double p90 = sorted[Math.max(0, (int) Math.ceil(0.9 * runs) - 1)];

    out.println("model: " + m.name());
    out.println("vector: " + (vectorModule() ? "on" : "off"));
    out.println("batch: " + b);
    out.println("threads: " + (o.threads != null ? o.threads : Runtime.getRuntime().availableProcessors()));
    out.println("cold_start_ms: " + coldStart);
    out.println("runs: " + runs);
    out.printf(Locale.ROOT, "median_ms: %.3f%n", median / 1e6);
    out.printf(Locale.ROOT, "p90_ms: %.3f%n", p90 / 1e6);
    out.printf(Locale.ROOT, "images_per_s: %.1f%n", (double) runs * b / (total / 1e9));
    if (o.profile) {
      int threads = o.threads != null ? o.threads : Runtime.getRuntime().availableProcessors();
      out.println();
      out.print(Profile.ofSnapshots(m, snapshots, Arrays.copyOf(times, runs), b, threads, warmups).table());
    }
  }

  /**
   * Serves the model over HTTP until the JVM is asked to stop (Ctrl-C, SIGTERM): then new requests are refused, the
   * ones received are answered, and the process exits.
   */
  private static void serve(CompiledModel m, Options o, PrintStream out, PrintStream err) throws IOException {
    ServeOptions so = o.serveOptions(m.inputSize());
    // a client that takes more than 30 s to send its request loses the connection (unless set otherwise)
    if (System.getProperty("sun.net.httpserver.maxReqTime") == null) System.setProperty("sun.net.httpserver.maxReqTime", "30");
    ModelServer server;
    try {
      server = ModelServer.start(m, so, err);
    } catch (java.net.BindException e) {
      throw new IllegalArgumentException("cannot listen on " + so.host() + ":" + so.port() + ": " + e.getMessage());
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      out.println("stopping: answering the requests in flight");
      server.stop();
      out.println("stopped");
      out.flush();
    }, "resnetc-shutdown"));
    out.println("serving " + server.describe() + " on " + server.uri());
    out.flush();
    try {
      server.awaitStopped();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      server.stop();
    }
  }

  // ---- helpers ----

  /** A command-line option's positive whole number, or a one-line error naming the option (also for ScoreMain). */
  public static int positive(String option, String v) {
    try {
      int n = Integer.parseInt(v.strip());
      if (n >= 1) return n;
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException(option + " needs a positive whole number, got '" + v + "'");
  }

  private static float[] predict(CompiledModel m, float[] x, int batch) {
    float[] y = m.predict(x, batch);
    if (y.length != batch * m.classes()) {
      throw new IllegalStateException(m.name() + " returned " + y.length + " outputs for " + batch + " x " + m.classes());
    }
    return y;
  }

  /**
   * The outputs {@code y[offset .. offset + n)} as probabilities: as they are when they already are (non-negative,
   * sum 1), else softmax. Public so that other front ends (resnetc-spark) score exactly as the jar prints.
   */
  public static double[] probabilities(float[] y, int offset, int n) {
    double sum = 0, max = Double.NEGATIVE_INFINITY;
    boolean nonNegative = true;
    for (int i = 0; i < n; i++) {
      sum += y[offset + i];
      max = Math.max(max, y[offset + i]);
      nonNegative &= y[offset + i] >= 0;
    }
    double[] p = new double[n];
    if (nonNegative && Math.abs(sum - 1) < 1e-3) {
      for (int i = 0; i < n; i++) p[i] = y[offset + i];
      return p;
    }
    double z = 0;
    for (int i = 0; i < n; i++) z += p[i] = Math.exp(y[offset + i] - max);
    for (int i = 0; i < n; i++) p[i] /= z;
    return p;
  }

  /** Indices of the k largest values, largest first (ties: lower index first). */
  public static int[] top(double[] p, int k) {
    return java.util.stream.IntStream.range(0, p.length).boxed()
        .sorted((a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b))
        .limit(k).mapToInt(Integer::intValue).toArray();
  }

  private static String className(CompiledModel m, int c) {
    return c < m.labels().size() ? c + " " + m.labels().get(c) : String.valueOf(c);
  }

  private static String shape(CompiledModel m) {
    return m.channels() + "x" + m.height() + "x" + m.width();
  }

  // ---- JVM relaunch for the Vector API ----

  private static boolean vectorModule() {
    return ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent();
  }

  /** When this JVM was started; a relaunched child gets its parent's start so cold start covers both. */
  private static long jvmStartMillis() {
    String parent = System.getenv("RESNETC_START_MS");
    if (parent != null) {
      try {
        return Long.parseLong(parent);
      } catch (NumberFormatException e) {
        // fall through to this JVM's start
      }
    }
    return ManagementFactory.getRuntimeMXBean().getStartTime();
  }

  /**
   * {@code java -jar} cannot add modules from the manifest, so without {@code jdk.incubator.vector} in the boot
   * layer the same command is run again with {@code --add-modules jdk.incubator.vector}. Returns the child's exit
   * code, or null to go on here (module already there, relaunch disabled or impossible).
   */
  private static Integer relaunchWithVectors(String[] args) {
    if (vectorModule() || System.getenv("RESNETC_NO_RELAUNCH") != null) return null;
    if (ModuleFinder.ofSystem().find(VECTOR_MODULE).isEmpty() || System.getProperty("jdk.module.main") != null) return null;
    for (String a : args) {
      if (a.equals("--")) break;
      if (a.equals("--no-vector") || a.equals("--help") || a.equals("-h")) return null;
    }
    String classPath = System.getProperty("java.class.path", "");
    if (classPath.isEmpty()) return null;
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
    for (String a : args) {
      if (a.equals("--")) break;
      if (a.equals("--profile")) { // before the child's model class loads, whatever the child's code does
        cmd.add("-D" + CompiledModel.PROFILE_PROPERTY + "=true");
        break;
      }
    }
    cmd.add("--add-modules");
    cmd.add(VECTOR_MODULE);
    Path jar = ownJar();
    if (jar != null && !classPath.contains(java.io.File.pathSeparator) && Path.of(classPath).toAbsolutePath().normalize().equals(jar)) {
      cmd.addAll(List.of("-jar", jar.toString())); // keeps manifest attributes such as Enable-Native-Access
    } else {
      cmd.addAll(List.of("-cp", classPath, ModelMain.class.getName()));
    }
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
    pb.environment().put("RESNETC_NO_RELAUNCH", "1");
    pb.environment().put("RESNETC_START_MS", Long.toString(jvmStartMillis()));
    pb.environment().remove("JDK_JAVA_OPTIONS"); // already among the input arguments
    Process child;
    try {
      child = pb.start();
    } catch (IOException e) {
      return null;
    }
    // Ctrl-C or SIGTERM (docker stop): the child shuts down gracefully (a server answers what it has received), and
    // this process, the one the terminal or the container waits for, exits after it
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      child.destroy();
      try {
        child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
    while (true) {
      try {
        return child.waitFor();
      } catch (InterruptedException e) {
        // keep waiting: the child owns the terminal
      }
    }
  }

  private static Path ownJar() {
    try {
      var source = ModelMain.class.getProtectionDomain().getCodeSource();
      if (source == null) return null;
      Path p = Path.of(source.getLocation().toURI()).toAbsolutePath().normalize();
      return Files.isRegularFile(p) ? p : null;
    } catch (Exception e) {
      return null; // not a file: no jar to relaunch
    }
  }
}
