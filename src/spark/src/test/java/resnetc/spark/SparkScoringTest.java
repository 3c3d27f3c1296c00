package resnetc.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import javax.imageio.ImageIO;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.cli.Main;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.F32;
import resnetc.runtime.ModelMain;
import resnetc.spark.ScoreOptions.InputKind;

/**
 * The pretrained ResNet-20 on the 1000 shared CIFAR-10 images, scored by Spark in {@code local[2]} from a folder of
 * PNGs (with corrupt files among them) and from the CIFAR binary file, with a Java and a native model jar built by
 * {@code resnetc compile}: the logits equal the jar's own bit for bit, the accuracy is the jar's 0.7950, and the bad
 * files, exactly those, are reported instead of failing the job.
 */
class SparkScoringTest {
  static final int IMAGES = 1000, CLASSES = 10;
  /** Files among the PNGs that no decoder can read: text, half a PNG, a PNG signature followed by noise. */
  static final Set<String> CORRUPT = Set.of("bad-text.png", "bad-truncated.png", "bad-garbled.png");

  @TempDir static Path tmp;
  static Path cifarFile, pngs;
  static Cifar cifar;
  /** Backend name to its model jar and the class in it. */
  static final Map<String, Path> JARS = new HashMap<>();
  static SparkSession spark;

  static String modelClass(String backend) {
    return "resnetc.sparktest.Resnet20" + (backend.equals("java") ? "Java" : "Native");
  }

  @BeforeAll
  static void setUp() throws Exception {
    Path shared = SharedData.root();
    Path weights = shared.resolve("models/cifar10/resnet20.safetensors");
    cifarFile = shared.resolve("data/cifar10-test-1000.bin");
    if (!Files.isRegularFile(weights) || !Files.isRegularFile(cifarFile)) return; // every test skips itself
    for (String backend : List.of("java", "native")) {
      Path jar = tmp.resolve("resnet20-" + backend + ".jar");
      String cls = modelClass(backend);
      StringWriter err = new StringWriter();
      int code = Main.execute(new String[] {"compile", SharedData.repoRoot().resolve("examples/cifar/resnet20.resnet").toString(),
          "--weights", weights.toString(), "--backend", backend, "-o", jar.toString(),
          "--package", cls.substring(0, cls.lastIndexOf('.')), "--class", cls.substring(cls.lastIndexOf('.') + 1)},
          new PrintWriter(new StringWriter()), new PrintWriter(err));
      assertEquals(0, code, err.toString());
      JARS.put(backend, jar);
    }
    cifar = Cifar.read(cifarFile, 0);
    pngs = Files.createDirectories(tmp.resolve("pngs"));
    writePngs(cifar, pngs);
    Files.writeString(pngs.resolve("bad-text.png"), "not an image");
    byte[] png = Files.readAllBytes(pngs.resolve(name(0, cifar.labels()[0])));
    Files.write(pngs.resolve("bad-truncated.png"), Arrays.copyOf(png, png.length / 2));
    byte[] garbled = new byte[png.length];
    new java.util.Random(5).nextBytes(garbled);
    System.arraycopy(png, 0, garbled, 0, 8);
    Files.write(pngs.resolve("bad-garbled.png"), garbled);
    // Spark's file sources skip empty files when they list a folder (SPARK-27291): never read, so never reported
    Files.write(pngs.resolve("empty.png"), new byte[0]);
    Files.writeString(pngs.resolve("README.txt"), "not picked: the default glob takes image names only");
    spark = SparkSession.builder().master("local[2]").appName("resnetc-spark test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        // the model jars reach the executor's class loader as on a cluster, not through the test's class path
        .config("spark.jars", JARS.get("java") + "," + JARS.get("native"))
        .getOrCreate();
  }

  /** Skips each test, so that the report counts them as skipped, when ../shared is absent. */
  @BeforeEach
  void needsSharedData() {
    assumeTrue(spark != null, "../shared is absent");
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) spark.stop();
  }

  /** {@code 00042-7.png}: image 42 of the file, label 7. */
  static String name(int index, int label) {
    return String.format("%05d-%d.png", index, label);
  }

  static void writePngs(Cifar data, Path dir) throws Exception {
    int plane = 32 * 32;
    for (int i = 0; i < data.count(); i++) {
      BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
      int base = i * 3 * plane;
      for (int p = 0; p < plane; p++) {
        int r = (int) data.pixels()[base + p], g = (int) data.pixels()[base + plane + p], b = (int) data.pixels()[base + 2 * plane + p];
        img.setRGB(p % 32, p / 32, r << 16 | g << 8 | b);
      }
      ImageIO.write(img, "png", dir.resolve(name(i, data.labels()[i])).toFile());
    }
  }

  /** The model jar on top of the test's class path (which has the runtime), as {@code java -jar} sees it. */
  static URLClassLoader jarLoader(String backend) throws Exception {
    return new URLClassLoader(new URL[] {JARS.get(backend).toUri().toURL()}, SparkScoringTest.class.getClassLoader());
  }

  static final Map<String, float[]> JAR_LOGITS = new HashMap<>();

  /** What {@code java -jar model.jar --input-cifar FILE --output F} writes, run here on the jar's own class. */
  static float[] jarLogits(String backend) throws Exception {
    if (!JAR_LOGITS.containsKey(backend)) JAR_LOGITS.put(backend, runJar(backend));
    return JAR_LOGITS.get(backend);
  }

  private static float[] runJar(String backend) throws Exception {
    try (URLClassLoader loader = jarLoader(backend);
        CompiledModel model = (CompiledModel) Class.forName(modelClass(backend), true, loader).getConstructor(int.class).newInstance(2)) {
      Path out = tmp.resolve("jar-" + backend + ".f32");
      ByteArrayOutputStream stdout = new ByteArrayOutputStream(), stderr = new ByteArrayOutputStream();
      int code = ModelMain.run(new String[] {"--input-cifar", cifarFile.toString(), "--output", out.toString()},
          new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(stderr, true, StandardCharsets.UTF_8), model);
      assertEquals(0, code, stderr.toString(StandardCharsets.UTF_8));
      assertTrue(stdout.toString(StandardCharsets.UTF_8).contains("accuracy: 0.7950"), stdout.toString(StandardCharsets.UTF_8));
      return F32.read(out);
    }
  }

  /** The rows' logits in input order ({@code index} says where) and how many have the label as their top class. */
  record Scored(float[] logits, int correct, int rows) {}

  static Scored collect(List<Row> rows, java.util.function.ToIntFunction<Row> index) {
    float[] logits = new float[IMAGES * CLASSES];
    int correct = 0;
    Set<Integer> seen = new TreeSet<>();
    for (Row r : rows) {
      int i = index.applyAsInt(r);
      assertTrue(seen.add(i), "image " + i + " scored twice");
      assertNull(r.getAs(ResnetcSpark.ERROR), () -> "image " + i + ": " + r.getAs(ResnetcSpark.ERROR));
      List<Float> y = r.getList(r.fieldIndex(ResnetcSpark.LOGITS));
      for (int c = 0; c < CLASSES; c++) logits[i * CLASSES + c] = y.get(c);
      List<Row> top = r.getList(r.fieldIndex(ResnetcSpark.TOP));
      assertEquals(5, top.size());
      for (int k = 1; k < top.size(); k++) assertTrue(top.get(k - 1).getDouble(2) >= top.get(k).getDouble(2), "top-k is sorted");
      assertEquals(List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck").get(top.get(0).getInt(0)),
          top.get(0).getString(1));
      if (top.get(0).getInt(0) == cifar.labels()[i]) correct++;
    }
    return new Scored(logits, correct, rows.size());
  }

  @ParameterizedTest
  @ValueSource(strings = {"java", "native"})
  void pngFolderAndCifarRecordsScoreLikeTheJarBitForBit(String backend) throws Exception {
    float[] expected = jarLogits(backend);
    String cls = modelClass(backend);

    // the PNG folder, corrupt files included, in batches that are not the jar's 32
    List<Row> fromPngs = ResnetcSpark.score(ResnetcSpark.readImages(spark, pngs.toString(), null), cls,
        ScoreOptions.images().withBatch(50).withLogits(true)).collectAsList();
    assertEquals(IMAGES + CORRUPT.size(), fromPngs.size());
    List<Row> bad = fromPngs.stream().filter(r -> r.getAs(ResnetcSpark.ERROR) != null).toList();
    assertEquals(CORRUPT, new TreeSet<>(bad.stream().map(r -> Path.of(java.net.URI.create(r.getString(0))).getFileName().toString()).toList()));
    for (Row r : bad) {
      assertTrue(r.<String>getAs(ResnetcSpark.ERROR).startsWith("cannot read image "), r.toString());
      assertNull(r.getAs(ResnetcSpark.TOP));
      assertNull(r.getAs(ResnetcSpark.LOGITS));
    }
    Scored images = collect(fromPngs.stream().filter(r -> r.getAs(ResnetcSpark.ERROR) == null).toList(),
        r -> Integer.parseInt(Path.of(r.getString(0)).getFileName().toString().substring(0, 5)));
    assertEquals(IMAGES, images.rows());
    assertEquals(0.7950, (double) images.correct() / IMAGES, 1e-12);
    assertArrayEquals(expected, images.logits(), "PNG logits equal the jar's bit for bit");

    // the CIFAR binary file, two threads per task (each scoring half of every batch)
    Scored records = collect(ResnetcSpark.score(ResnetcSpark.readCifar(spark, cifarFile.toString()), cls,
        ScoreOptions.cifar().withThreadsPerTask(2).withLogits(true)).collectAsList(), r -> Math.toIntExact(r.getLong(0)));
    assertEquals(IMAGES, records.rows());
    assertEquals(0.7950, (double) records.correct() / IMAGES, 1e-12);
    assertArrayEquals(expected, records.logits(), "CIFAR record logits equal the jar's bit for bit");

    assertEquals(1, ExecutorModels.instances(cls), "one model instance in this JVM for every partition and task");
  }

  @Test
  void mainWritesParquetAndReportsExactlyTheCorruptFiles() throws Exception {
    Path out = tmp.resolve("scores-pngs");
    Run run = main("--images", pngs.toString(), "--output", out.toString(), "--model-class", modelClass("java"), "--top", "3");
    assertEquals(0, run.code(), run.err());
    assertTrue(run.out().contains("records: 1003\nscored: 1000\nerrors: 3\n"), run.out());
    for (String f : CORRUPT) assertTrue(run.out().lines().anyMatch(l -> l.startsWith("  file:") && l.contains(f + ": cannot read image")), f + "\n" + run.out());
    assertTrue(run.out().contains("images_per_s: "), run.out());
    Dataset<Row> written = spark.read().parquet(out.toString());
    assertEquals(List.of("path", "top", "error"), List.of(written.columns()));
    assertEquals(1003, written.count());
    assertEquals(3, written.filter("error is null").first().<scala.collection.Seq<Row>>getAs("top").size());

    Run again = main("--images", pngs.toString(), "--output", out.toString(), "--model-class", modelClass("java"));
    assertEquals(1, again.code());
    assertTrue(again.err().startsWith("error: ") && again.err().contains("already exists") && again.err().lines().count() == 1, again.err());

    Run records = main("--cifar", cifarFile.toString(), "--output", tmp.resolve("scores-cifar").toString(), "--model-class", modelClass("native"),
        "--format", "json", "--batch", "100");
    assertEquals(0, records.code(), records.err());
    assertTrue(records.out().contains("records: 1000\nscored: 1000\nerrors: 0\naccuracy: 0.7950\n"), records.out());
  }

  /** A table with a float-array or a raw-pixel column; wrong sizes and nulls are bad records, the rest as the jar. */
  @Test
  void floatAndPixelTablesCountWrongSizesAndNulls() throws Exception {
    int n = 20, size = 3 * 32 * 32;
    float[] expected = jarLogits("java");
    List<Row> floats = new ArrayList<>(), pixels = new ArrayList<>();
    float[] x = Arrays.copyOf(cifar.pixels(), n * size);
    try (URLClassLoader loader = jarLoader("java");
        CompiledModel model = (CompiledModel) Class.forName(modelClass("java"), true, loader).getConstructor(int.class).newInstance(1)) {
      model.preprocessing().apply(x, 3, 32 * 32); // what --input-f32 users feed
    }
    for (int i = 0; i < n; i++) {
      float[] one = Arrays.copyOfRange(x, i * size, (i + 1) * size);
      Float[] boxed = new Float[size];
      for (int k = 0; k < size; k++) boxed[k] = one[k];
      floats.add(RowFactory.create((long) i, Arrays.asList(boxed)));
      byte[] px = new byte[size];
      for (int k = 0; k < size; k++) px[k] = (byte) cifar.pixels()[i * size + k];
      pixels.add(RowFactory.create((long) i, px));
    }
    floats.add(RowFactory.create(100L, Arrays.asList(new Float[size - 1])));
    floats.add(RowFactory.create(101L, null));
    pixels.add(RowFactory.create(100L, new byte[size + 1]));
    pixels.add(RowFactory.create(101L, null));
    StructType floatSchema = new StructType().add("id", DataTypes.LongType).add("x", DataTypes.createArrayType(DataTypes.FloatType));
    StructType pixelSchema = new StructType().add("id", DataTypes.LongType).add("x", DataTypes.BinaryType);
    Map<InputKind, Dataset<Row>> tables = Map.of(InputKind.FLOATS, spark.createDataFrame(floats, floatSchema),
        InputKind.PIXELS, spark.createDataFrame(pixels, pixelSchema));
    for (var t : tables.entrySet()) {
      List<Row> rows = ResnetcSpark.score(t.getValue(), modelClass("java"), ScoreOptions.images().withInput("x", t.getKey()).withKey("id")
          .withLogits(true).withBatch(7)).collectAsList();
      assertEquals(n + 2, rows.size());
      for (Row r : rows) {
        long id = r.getLong(0);
        if (id == 100) {
          assertEquals(t.getKey() == InputKind.FLOATS ? "3071 floats, expected 3x32x32 = 3072" : "3073 pixel bytes, expected 3x32x32 = 3072",
              r.getAs(ResnetcSpark.ERROR));
        } else if (id == 101) {
          assertEquals("no input (null)", r.getAs(ResnetcSpark.ERROR));
        } else {
          assertNull(r.getAs(ResnetcSpark.ERROR));
          List<Float> y = r.getList(r.fieldIndex(ResnetcSpark.LOGITS));
          float[] got = new float[CLASSES];
          for (int c = 0; c < CLASSES; c++) got[c] = y.get(c);
          assertArrayEquals(Arrays.copyOfRange(expected, (int) id * CLASSES, (int) (id + 1) * CLASSES), got, t.getKey() + " row " + id);
        }
      }
    }
  }

  @Test
  void mistakesAreOneLineErrorsBeforeAnyWork() throws Exception {
    Dataset<Row> images = ResnetcSpark.readImages(spark, pngs.toString(), null);
    String cls = modelClass("java");
    var e = assertThrows(IllegalArgumentException.class, () -> ResnetcSpark.score(images, cls, ScoreOptions.images().withInput("pixels", InputKind.IMAGE)));
    assertEquals("the input has no input column pixels (it has path, modificationTime, length, content)", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ResnetcSpark.score(images, cls, ScoreOptions.images().withInput("content", InputKind.FLOATS)));
    assertEquals("input column content is binary; FLOATS input needs array<float>", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ResnetcSpark.score(images, "java.lang.String", ScoreOptions.images()));
    assertTrue(e.getMessage().startsWith("java.lang.String is not a resnetc.runtime.CompiledModel"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ScoreOptions.images().withBatch(0));

    // a class no executor has fails the job with the same words (the driver cannot see spark.jars here either)
    var job = assertThrows(SparkException.class, () -> ResnetcSpark.score(images, "resnetc.sparktest.Missing", ScoreOptions.images()).count());
    assertTrue(String.valueOf(job.getMessage()).contains("model class resnetc.sparktest.Missing is not on the class path"), job.getMessage());

    Path odd = Files.write(tmp.resolve("odd.bin"), new byte[Cifar.RECORD + 1]);
    Run run = main("--cifar", odd.toString(), "--output", tmp.resolve("never").toString(), "--model-class", cls);
    assertEquals(1, run.code());
    assertEquals("error: " + odd.toUri().toString().replace("file:///", "file:/") + ": 3074 bytes is not a whole number of records of 3073 bytes\n", run.err());
    run = main("--output", tmp.resolve("never").toString());
    assertEquals("error: give exactly one of --images, --cifar, --table (see --help)\n", run.err());

    // without --model-class the model jar's manifest names the class; the test's own class path has no model jar
    run = main("--cifar", cifarFile.toString(), "--output", tmp.resolve("never").toString());
    assertEquals("error: no model jar on the class path (give it with --jars MODEL.jar), or pass --model-class NAME\n", run.err());
    Thread thread = Thread.currentThread();
    ClassLoader own = thread.getContextClassLoader();
    try (URLClassLoader driver = new URLClassLoader(new URL[] {JARS.get("java").toUri().toURL(), JARS.get("native").toUri().toURL()}, own)) {
      thread.setContextClassLoader(driver); // a driver started with --jars java.jar,native.jar
      run = main("--cifar", cifarFile.toString(), "--output", tmp.resolve("never").toString());
    } finally {
      thread.setContextClassLoader(own);
    }
    assertEquals("error: several model jars on the class path (resnetc.sparktest.Resnet20Java, resnetc.sparktest.Resnet20Native):"
        + " pass --model-class NAME\n", run.err());
  }

  record Run(int code, String out, String err) {}

  static Run main(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    int code = ScoreMain.run(spark, args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }
}
