package resnetc.spark;

import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import resnetc.cli.Main;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.ModelMain;

/**
 * Images/s of the Spark job against the plain jar on the same PNG files, decoding included on both sides (run by
 * {@code bench/spark.sh}, never by the test command). The plain side is the jar's own image mode
 * ({@code java -jar model.jar --threads T --batch B FILE...}, i.e. {@link ModelMain#run}) on the model class loaded
 * from the jar; the Spark side is {@link ResnetcSpark#score} over {@code binaryFile} in {@code local[T]}, written to
 * the {@code noop} sink so that the job is the scoring stage alone. Both run in this JVM, warmed up by one untimed
 * pass; each figure is the median of the timed passes (the
 * upper one for an even count).
 *
 * <p>Arguments: {@code BACKEND (java|native) COPIES (of the 1000 shared images) RUNS}.
 */
public final class SparkBench {
  private SparkBench() {}

  public static void main(String[] args) throws Exception {
    String backend = args.length > 0 ? args[0] : "java";
    int copies = args.length > 1 ? Integer.parseInt(args[1]) : 5, runs = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    Path shared = SharedData.root(), tmp = Files.createTempDirectory("resnetc-spark-bench");
    try {
      run(backend, copies, runs, shared, tmp);
    } finally {
      try (Stream<Path> s = Files.walk(tmp)) {
        for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
      }
    }
  }

  private static void run(String backend, int copies, int runs, Path shared, Path tmp) throws Exception {
    int batch = 64;
    Path jar = tmp.resolve("resnet20-" + backend + ".jar");
    StringWriter err = new StringWriter();
    if (Main.execute(new String[] {"compile", SharedData.repoRoot().resolve("examples/cifar/resnet20.resnet").toString(), "--weights",
        shared.resolve("models/cifar10/resnet20.safetensors").toString(), "--backend", backend, "-o", jar.toString()},
        new PrintWriter(new StringWriter()), new PrintWriter(err)) != 0) {
      throw new IllegalStateException(err.toString());
    }
    Cifar cifar = Cifar.read(shared.resolve("data/cifar10-test-1000.bin"), 0);
    Path pngs = Files.createDirectories(tmp.resolve("pngs"));
    for (int c = 0; c < copies; c++) SparkScoringTest.writePngs(cifar, Files.createDirectories(pngs.resolve("copy" + c)));
    List<String> files;
    try (Stream<Path> s = Files.walk(pngs)) {
      files = s.filter(Files::isRegularFile).map(Path::toString).sorted().toList();
    }
    int images = files.size();
    System.out.printf(Locale.ROOT, "resnet20, %s backend, %d PNG files of 32x32, batch %d, %d timed runs (median), %d cores (%s)%n%n",
        backend, images, batch, runs, Runtime.getRuntime().availableProcessors(), System.getProperty("os.arch"));
    System.out.println("| run | threads in all | seconds | images/s | of the plain jar's | CPU ms per image |");
    System.out.println("| --- | --- | --- | --- | --- | --- |");
    for (int threads : new int[] {1, 2}) {
      Timing plain = plainJar(jar, files, threads, batch, runs);
      row("plain jar, --threads " + threads, threads, plain, images, plain);
      row("Spark local[" + threads + "], 1 thread per task", threads, sparkJob(jar, pngs, threads, 1, batch, runs, false), images, plain);
      row("Spark local[" + threads + "], 1 thread per task, " + SMALL_FILES, threads, sparkJob(jar, pngs, threads, 1, batch, runs, true), images, plain);
      if (threads == 2) row("Spark local[1], 2 threads per task, " + SMALL_FILES, 2, sparkJob(jar, pngs, 1, 2, batch, runs, true), images, plain);
    }
  }

  private static void row(String what, int threads, Timing t, int images, Timing plain) {
    System.out.printf(Locale.ROOT, "| %s | %d | %.2f | %.0f | %.0f %% | %.2f |%n", what, threads, t.seconds(), images / t.seconds(),
        100 * plain.seconds() / t.seconds(), 1e3 * t.cpuSeconds() / images);
  }

  /** The jar's image mode on every file, its output thrown away. */
  private static Timing plainJar(Path jar, List<String> files, int threads, int batch, int runs) throws Exception {
    try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, SparkBench.class.getClassLoader());
        CompiledModel model = (CompiledModel) Class.forName("resnetc.models.Resnet20", true, loader).getConstructor(int.class).newInstance(threads)) {
      List<String> args = new ArrayList<>(List.of("--threads", String.valueOf(threads), "--batch", String.valueOf(batch)));
      args.addAll(files);
      String[] argv = args.toArray(String[]::new);
      PrintStream sink = new PrintStream(OutputStream.nullOutputStream());
      return median(runs, () -> {
        if (ModelMain.run(argv, sink, System.err, model) != 0) throw new IllegalStateException("the jar failed");
      });
    }
  }

  /** The partition settings README: Spark suggests for many small images (a few hundred per task, not about 32). */
  static final String SMALL_FILES = "openCostInBytes 64 KB, maxPartitionBytes 16 MB";

  private static Timing sparkJob(Path jar, Path pngs, int cores, int threadsPerTask, int batch, int runs, boolean smallFiles) throws Exception {
    SparkSession spark = SparkSession.builder().master("local[" + cores + "]").appName("resnetc-spark bench")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.files.openCostInBytes", smallFiles ? "65536" : "4194304")
        .config("spark.sql.files.maxPartitionBytes", smallFiles ? "16m" : "128m")
        .config("spark.jars", jar.toString()).getOrCreate();
    try {
      Dataset<Row> scores = ResnetcSpark.score(ResnetcSpark.readImages(spark, pngs.toString(), null), "resnetc.models.Resnet20",
          ScoreOptions.images().withBatch(batch).withThreadsPerTask(threadsPerTask));
      return median(runs, () -> scores.write().format("noop").mode("overwrite").save());
    } finally {
      spark.stop();
    }
  }

  interface Pass {
    void run() throws Exception;
  }

  /**
   * Wall seconds of a pass, and the CPU seconds of this whole process meanwhile (every thread: Spark's own, the GC,
   * spinning team workers), which a busy machine disturbs far less than the wall time.
   */
  record Timing(double seconds, double cpuSeconds) {}

  /** The median of {@code runs} timed passes (by wall time) after one untimed one. */
  private static Timing median(int runs, Pass pass) throws Exception {
    var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    pass.run();
    Timing[] t = new Timing[runs];
    for (int i = 0; i < runs; i++) {
      long t0 = System.nanoTime(), c0 = os.getProcessCpuTime();
      pass.run();
      t[i] = new Timing((System.nanoTime() - t0) / 1e9, (os.getProcessCpuTime() - c0) / 1e9);
    }
    Arrays.sort(t, java.util.Comparator.comparingDouble(Timing::seconds));
    return t[runs / 2];
  }
}
