package resnetc.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import resnetc.runtime.Cifar;
import resnetc.spark.ScoreOptions.InputKind;

/**
 * Batch scoring with a compiled model on Spark: {@link #score} turns a table of images into a table of scores,
 * {@link #readImages} and {@link #readCifar} make such tables from files. The model class comes from a model jar
 * ({@code resnetc compile ... -o model.jar}) on the executors' class path ({@code spark-submit --jars model.jar});
 * {@link ScoreMain} is the command line.
 */
public final class ResnetcSpark {
  /** Output columns besides the key and the carried ones. */
  public static final String TOP = "top", LOGITS = "logits", ERROR = "error";

  /** The element type of {@value #TOP}: a class index, its label (null when the model has none) and its probability. */
  public static final StructType TOP_ENTRY = new StructType()
      .add("class", DataTypes.IntegerType, false)
      .add("label", DataTypes.StringType, true)
      .add("score", DataTypes.DoubleType, false);

  /** File names {@link #readImages} picks by default (Hadoop glob; case matters). */
  public static final String IMAGE_GLOB = "*.{png,PNG,jpg,JPG,jpeg,JPEG,bmp,BMP,gif,GIF}";

  private ResnetcSpark() {}

  /**
   * Scores every row of {@code input} with the compiled model {@code modelClass}. The result has the key column,
   * the carried columns, {@value #TOP} (array of {@link #TOP_ENTRY}, the {@code topK} most likely classes, most
   * likely first), {@value #LOGITS} (array of float, only with {@code logits}) and {@value #ERROR}: null for a
   * scored row, else why its input could not be used (undecodable image, wrong size, null), with null scores.
   * Bad rows never fail the job. The model runs in {@code mapPartitions}, one shared instance per executor JVM.
   *
   * @throws IllegalArgumentException if a column is missing or has the wrong type, or the model class (when the
   *     driver can see it) is not a compiled model; nothing runs then
   */
  public static Dataset<Row> score(Dataset<Row> input, String modelClass, ScoreOptions options) {
    if (modelClass == null || modelClass.isBlank()) throw new IllegalArgumentException("no model class given");
    StructType schema = input.schema();
    StructField key = field(schema, options.keyColumn(), "key");
    StructField in = field(schema, options.inputColumn(), "input");
    DataType want = options.kind() == InputKind.FLOATS ? DataTypes.createArrayType(DataTypes.FloatType) : DataTypes.BinaryType;
    boolean floats = in.dataType() instanceof ArrayType a && a.elementType().equals(DataTypes.FloatType);
    if (options.kind() == InputKind.FLOATS ? !floats : !in.dataType().equals(DataTypes.BinaryType)) {
      throw new IllegalArgumentException("input column " + in.name() + " is " + in.dataType().simpleString() + "; "
          + options.kind() + " input needs " + want.simpleString());
    }
    List<StructField> out = new ArrayList<>(List.of(key));
    List<Column> columns = new ArrayList<>(List.of(input.col(key.name()), input.col(in.name())));
    Set<String> taken = Set.of(TOP, LOGITS, ERROR);
    for (String c : options.carry()) {
      StructField f = field(schema, c, "carried");
      if (out.stream().anyMatch(o -> o.name().equalsIgnoreCase(f.name())) || taken.contains(f.name().toLowerCase(java.util.Locale.ROOT))) {
        throw new IllegalArgumentException("column " + f.name() + " is carried twice or clashes with the output's columns " + taken);
      }
      out.add(f);
      columns.add(input.col(f.name()));
    }
    if (taken.contains(key.name().toLowerCase(java.util.Locale.ROOT))) {
      throw new IllegalArgumentException("the key column may not be called " + key.name() + ": the output has a column of that name");
    }
    checkOnDriver(modelClass);
    out.add(DataTypes.createStructField(TOP, DataTypes.createArrayType(TOP_ENTRY, false), true));
    if (options.logits()) out.add(DataTypes.createStructField(LOGITS, DataTypes.createArrayType(DataTypes.FloatType, false), true));
    out.add(DataTypes.createStructField(ERROR, DataTypes.StringType, true));
    return input.select(columns.toArray(Column[]::new))
        .mapPartitions(new ScorePartition(modelClass, options), Encoders.row(DataTypes.createStructType(out)));
  }

  /**
   * The image files under {@code path} (a folder, searched recursively, or a glob) whose names match {@code glob}
   * (null: {@link #IMAGE_GLOB}), as {@code binaryFile} reads them: {@code path}, {@code modificationTime},
   * {@code length}, {@code content}; score it with {@link ScoreOptions#images()}.
   */
  public static Dataset<Row> readImages(SparkSession spark, String path, String glob) {
    return spark.read().format("binaryFile").option("recursiveFileLookup", "true")
        .option("pathGlobFilter", glob != null ? glob : IMAGE_GLOB).load(path);
  }

  /** Columns of {@link #readCifar}. */
  public static final StructType CIFAR_SCHEMA = new StructType()
      .add("index", DataTypes.LongType, false)
      .add("label", DataTypes.IntegerType, false)
      .add("pixels", DataTypes.BinaryType, false);

  /**
   * CIFAR binary records (a label byte, then 3 x 32 x 32 pixel bytes) from a file, a folder of them or a glob: one
   * row per record with its {@code index} (from 0, in file order), {@code label} and raw {@code pixels}; score it
   * with {@link ScoreOptions#cifar()}. Split over the cluster at record boundaries.
   *
   * @throws IllegalArgumentException if there is no such file, or a file is not a whole number of records (checked
   *     on the driver, before any job)
   */
  public static Dataset<Row> readCifar(SparkSession spark, String path) {
    checkRecordFiles(spark, path, Cifar.RECORD);
    JavaRDD<Row> rows = JavaSparkContext.fromSparkContext(spark.sparkContext()).binaryRecords(path, Cifar.RECORD).zipWithIndex()
        .map(r -> RowFactory.create(r._2(), r._1()[0] & 0xff, Arrays.copyOfRange(r._1(), 1, Cifar.RECORD)));
    return spark.createDataFrame(rows, CIFAR_SCHEMA);
  }

  private static void checkRecordFiles(SparkSession spark, String path, int record) {
    try {
      var p = new org.apache.hadoop.fs.Path(path);
      FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      FileStatus[] matches = fs.globStatus(p);
      if (matches == null || matches.length == 0) throw new IllegalArgumentException("no such file: " + path);
      List<FileStatus> files = new ArrayList<>();
      for (FileStatus s : matches) files.addAll(s.isDirectory() ? Arrays.asList(fs.listStatus(s.getPath())) : List.of(s));
      for (FileStatus f : files) {
        if (f.isFile() && (f.getLen() == 0 || f.getLen() % record != 0)) {
          throw new IllegalArgumentException(f.getPath() + ": " + f.getLen() + " bytes is not a whole number of records of " + record + " bytes");
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + path + ": " + e.getMessage(), e);
    }
  }

  private static StructField field(StructType schema, String name, String role) {
    return Arrays.stream(schema.fields()).filter(f -> f.name().equals(name)).findFirst().orElseThrow(() -> new IllegalArgumentException(
        "the input has no " + role + " column " + name + " (it has " + String.join(", ", schema.fieldNames()) + ")"));
  }

  /**
   * Fails early when the driver sees the class and it is no compiled model. A class the driver cannot see is left
   * to the executors (a session built in code may put spark.jars on the executors only), which then fail the job
   * with the same message.
   */
  private static void checkOnDriver(String modelClass) {
    ClassLoader loader = Thread.currentThread().getContextClassLoader();
    try {
      Class.forName(modelClass, false, loader);
    } catch (ClassNotFoundException | LinkageError e) {
      return;
    }
    try {
      ExecutorModels.modelClass(modelClass, loader, false);
    } catch (IllegalStateException e) {
      throw new IllegalArgumentException(e.getMessage());
    }
  }
}
