package resnetc.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.when;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.Manifest;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.AnalysisException;
import resnetc.runtime.ModelMain;
import resnetc.spark.ScoreOptions.InputKind;

/**
 * The command line: {@code spark-submit [spark options] --jars MODEL.jar resnetc-spark.jar INPUT --output DIR
 * [options]} (see {@link #USAGE}). Scores the input, writes the table, then reads it back and reports how many rows
 * were scored, every bad record (up to {@code --show-errors}), the accuracy when the input has labels, and the time.
 */
public final class ScoreMain {
  static final String USAGE = """
      usage: spark-submit [spark options] --jars MODEL.jar resnetc-spark.jar INPUT --output DIR [options]
      input, one of:
        --images DIR        image files (PNG, JPEG, BMP, GIF) under DIR, recursively; key: path
        --cifar FILE        CIFAR binary records (a file, folder or glob); key: index; the label is kept
        --table PATH        a table (spark.sql.sources.default, Parquet unless set) with a column of
                              images (binary; --kind image), raw CHW pixels (binary; --kind pixels) or
                              preprocessed floats (array<float>; --kind floats)
      options:
        --output DIR        where to write the scores (must not exist)
        --format F          output format: parquet (default), orc, json
        --column C          --table: the input column (default content)
        --kind K            --table: image (default), pixels or floats
        --key C             --table: the key column (default path)
        --carry C1,C2       --table: further columns to copy to the output (a column named label is
                              compared with the top class for the accuracy)
        --glob G            --images: file names to read (default %s)
        --model-class NAME  the compiled model (default: the Resnetc-Model attribute of the model jar)
        --batch B           images per predict call (default 64)
        --threads T         model threads per task (default 1; see README: sizing)
        --top K             classes per image (default 5)
        --logits            also write the logits
        --show-errors N     list at most N bad records (default 20)
        --help              print this text
      """.formatted(ResnetcSpark.IMAGE_GLOB);

  private ScoreMain() {}

  public static void main(String[] args) {
    if (Arrays.asList(args).contains("--help")) {
      System.out.print(USAGE);
      return;
    }
    SparkSession spark = SparkSession.builder().appName("resnetc score").getOrCreate();
    int code;
    try {
      code = run(spark, args, System.out, System.err);
    } finally {
      spark.stop();
    }
    if (code != 0) System.exit(code);
  }

  /** Runs the command line on {@code spark}; returns 0, or 1 after a one-line {@code error: ...} on {@code err}. */
  public static int run(SparkSession spark, String[] args, PrintStream out, PrintStream err) {
    try {
      Args a = Args.parse(args);
      String modelClass = a.modelClass != null ? a.modelClass : manifestModel();
      Dataset<Row> input;
      ScoreOptions o;
      if (a.images != null) {
        input = ResnetcSpark.readImages(spark, a.images, a.glob);
        o = ScoreOptions.images();
      } else if (a.cifar != null) {
        input = ResnetcSpark.readCifar(spark, a.cifar);
        o = ScoreOptions.cifar();
      } else {
        input = spark.read().load(a.table);
        o = ScoreOptions.images().withInput(a.column, a.kind).withKey(a.key).withCarry(a.carry);
      }
      o = o.withBatch(a.batch).withThreadsPerTask(a.threads).withTopK(a.top).withLogits(a.logits);
      Dataset<Row> scores = ResnetcSpark.score(input, modelClass, o);
      long t0 = System.nanoTime();
      scores.write().format(a.format).save(a.output);
      double seconds = (System.nanoTime() - t0) / 1e9;
      // with the schema as written: JSON leaves null fields out, so inferring it could lose the error column
      report(spark.read().format(a.format).schema(scores.schema()).load(a.output), modelClass, a, seconds, out);
      return 0;
    } catch (IllegalArgumentException | IllegalStateException | UncheckedIOException e) {
      err.println("error: " + e.getMessage());
      return 1;
    } catch (Exception e) {
      // Scala's AnalysisException (a missing input path, an output that exists, an unknown format) is checked in Java
      if (!(e instanceof AnalysisException a)) throw e;
      err.println("error: " + a.getSimpleMessage());
      return 1;
    }
  }

  private static void report(Dataset<Row> written, String modelClass, Args a, double seconds, PrintStream out) {
    boolean labelled = Arrays.asList(written.columns()).contains("label");
    Row totals = written.agg(count("*"), count(col(ResnetcSpark.ERROR)),
        count(when(col(ResnetcSpark.ERROR).isNull().and(labelled ? col("label").equalTo(col(ResnetcSpark.TOP).getItem(0).getField("class"))
            : org.apache.spark.sql.functions.lit(false)), 1))).first();
    long rows = totals.getLong(0), errors = totals.getLong(1), correct = totals.getLong(2), scored = rows - errors;
    out.println("model: " + modelClass);
    out.println("output: " + a.output + " (" + a.format + ")");
    out.println("records: " + rows);
    out.println("scored: " + scored);
    out.println("errors: " + errors);
    String key = written.columns()[0];
    List<Row> bad = written.filter(col(ResnetcSpark.ERROR).isNotNull()).select(col(key), col(ResnetcSpark.ERROR))
        .orderBy(col(key)).limit(a.showErrors).collectAsList();
    for (Row r : bad) out.println("  " + r.get(0) + ": " + r.getString(1));
    if (errors > bad.size()) out.println("  ... and " + (errors - bad.size()) + " more (rows with a non-null " + ResnetcSpark.ERROR + ")");
    if (labelled && scored > 0) out.printf(Locale.ROOT, "accuracy: %.4f%n", (double) correct / scored);
    out.printf(Locale.ROOT, "seconds: %.2f%n", seconds);
    out.printf(Locale.ROOT, "images_per_s: %.1f%n", rows / seconds);
  }

  /** The {@code Resnetc-Model} attribute of the model jar's manifest, when exactly one model jar is on the class path. */
  static String manifestModel() {
    ClassLoader loader = Thread.currentThread().getContextClassLoader();
    Set<String> models = new TreeSet<>();
    try {
      for (URL url : Collections.list(loader.getResources("META-INF/MANIFEST.MF"))) {
        try (InputStream in = url.openStream()) {
          String name = new Manifest(in).getMainAttributes().getValue(ModelMain.MODEL_ATTRIBUTE);
          if (name != null && !name.isBlank()) models.add(name.strip());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading jar manifests: " + e.getMessage(), e);
    }
    if (models.size() == 1) return models.iterator().next();
    throw new IllegalArgumentException(models.isEmpty() ? "no model jar on the class path (give it with --jars MODEL.jar), or pass --model-class NAME"
        : "several model jars on the class path (" + String.join(", ", models) + "): pass --model-class NAME");
  }

  /** Parsed command line; every mistake is an IllegalArgumentException naming it. */
  private static final class Args {
    String images, cifar, table, output, format = "parquet", column = "content", key = "path", glob, modelClass;
    InputKind kind = InputKind.IMAGE;
    List<String> carry = List.of();
    int batch = 64, threads = 1, top = 5, showErrors = 20;
    boolean logits;

    static Args parse(String[] args) {
      Args a = new Args();
      for (int i = 0; i < args.length; i++) {
        String o = args[i];
        if (o.equals("--logits")) {
          a.logits = true;
          continue;
        }
        if (!o.startsWith("--")) throw new IllegalArgumentException("unexpected argument " + o + " (see --help)");
        if (i + 1 >= args.length) throw new IllegalArgumentException(o + " needs a value (see --help)");
        String v = args[++i];
        switch (o) {
          case "--images" -> a.images = v;
          case "--cifar" -> a.cifar = v;
          case "--table" -> a.table = v;
          case "--output" -> a.output = v;
          case "--format" -> a.format = v;
          case "--column" -> a.column = v;
          case "--key" -> a.key = v;
          case "--glob" -> a.glob = v;
          case "--model-class" -> a.modelClass = v;
          case "--carry" -> a.carry = Arrays.stream(v.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
          case "--kind" -> a.kind = switch (v) {
            case "image" -> InputKind.IMAGE;
            case "pixels" -> InputKind.PIXELS;
            case "floats" -> InputKind.FLOATS;
            default -> throw new IllegalArgumentException("--kind is image, pixels or floats, not " + v);
          };
          case "--batch" -> a.batch = ModelMain.positive(o, v);
          case "--threads" -> a.threads = ModelMain.positive(o, v);
          case "--top" -> a.top = ModelMain.positive(o, v);
          case "--show-errors" -> a.showErrors = ModelMain.positive(o, v);
          default -> throw new IllegalArgumentException("unknown option " + o + " (see --help)");
        }
      }
      int inputs = (a.images != null ? 1 : 0) + (a.cifar != null ? 1 : 0) + (a.table != null ? 1 : 0);
      if (inputs != 1) throw new IllegalArgumentException("give exactly one of --images, --cifar, --table (see --help)");
      if (a.output == null) throw new IllegalArgumentException("--output DIR is missing");
      return a;
    }
  }
}
