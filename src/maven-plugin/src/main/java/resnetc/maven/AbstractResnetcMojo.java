package resnetc.maven;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.maven.plugin.AbstractMojo;
import org.apache.maven.plugin.MojoExecutionException;
import org.apache.maven.plugin.MojoFailureException;
import org.apache.maven.plugin.descriptor.PluginDescriptor;
import org.apache.maven.plugins.annotations.Parameter;
import org.apache.maven.project.MavenProject;
import org.codehaus.plexus.util.DirectoryScanner;
import resnetc.Frontend;
import resnetc.Driver;
import resnetc.schedule.Tuning;
import resnetc.schedule.Winograd;
import resnetc.target.Artifact;
import resnetc.target.CodegenOptions;
import resnetc.target.Targets;
import resnetc.diag.SpecException;
import resnetc.ir.Graph;
import resnetc.weights.RandomWeights;
import resnetc.weights.WeightException;
import resnetc.weights.WeightFile;

/** What the goals share: finding the specs, choosing their weights, hashing, and turning errors into build failures. */
abstract class AbstractResnetcMojo extends AbstractMojo {

  /** The directory searched for model specs. */
  @Parameter(property = "resnetc.specDirectory", defaultValue = "${project.basedir}/src/main/resnet", required = true)
  protected File specDirectory;

  /**
   * Ant-style patterns, relative to {@code specDirectory}, of the models to compile: specs and ONNX models
   * (default {@code **}{@code /*.resnet} and {@code **}{@code /*.onnx}).
   */
  @Parameter
  protected List<String> includes;

  /** Ant-style patterns, relative to {@code specDirectory}, of specs to leave out. */
  @Parameter
  protected List<String> excludes;

  /**
   * Weights per spec: the element name is the spec's file name without {@code .resnet}, the value a safetensors
   * file or a PyTorch checkpoint ({@code .pth}, {@code .pt}, {@code .th}; {@code FILE#KEY} names the state dict inside)
   * relative to the project directory, e.g. {@code &lt;weights&gt;&lt;resnet20&gt;models/resnet20.pth&lt;/resnet20&gt;&lt;/weights&gt;}. A spec
   * without an entry uses {@code randomWeightsSeed} when that is set, else the file its own
   * {@code weights { file "..." }} names (relative to the spec); a spec with neither fails the build.
   */
  @Parameter
  protected Map<String, String> weights;

  /**
   * The preprocessing of ONNX models, which carry none: the element name is the model's file name without
   * {@code .onnx}, the value the body of a spec's preprocess section, e.g. {@code &lt;resnet56&gt;scale 1/255 mean [0.485,
   * 0.456, 0.406] std [0.229, 0.224, 0.225]&lt;/resnet56&gt;}. Without it the generated class's {@code preprocessing()} is the
   * identity (its input is model-ready tensors).
   */
  @Parameter
  protected Map<String, String> preprocess;

  /**
   * Deterministic random weights from this seed for every spec without an entry in {@code weights} (for tests and
   * models without a checkpoint; ONNX models keep their own); the same seed gives the same weights as
   * {@code resnetc --random-weights SEED}.
   */
  @Parameter(property = "resnetc.randomWeightsSeed")
  protected Long randomWeightsSeed;

  /** Code generator: one of the registered backends, {@code java} or {@code native} (LLVM kernels in a shared library). */
  @Parameter(property = "resnetc.backend", defaultValue = "java", required = true)
  protected String backend;

  /** Winograd (F(4x4, 3x3) or F(2x2, 3x3)) for 3x3 stride-1 convs: {@code auto} (where it pays on the backend), {@code off} or {@code always}. */
  @Parameter(property = "resnetc.winograd", defaultValue = "auto", required = true)
  protected String winograd;

  /** Package of the generated classes; each class is named after its model, capitalized ({@code resnet20} gives {@code Resnet20}). */
  @Parameter(property = "resnetc.packageName", defaultValue = "resnetc.models", required = true)
  protected String packageName;

  /** Target CPU for the {@code native} backend ({@code x86-64-v3} when unset; {@code native} = the build machine); ignored by the {@code java} backend. */
  @Parameter(property = "resnetc.targetCpu")
  protected String targetCpu;

  /**
   * Load weights that hold NaN or infinite values. Off by default: such weights make outputs NaN, so the build fails
   * naming the tensors that hold them.
   */
  @Parameter(property = "resnetc.allowNonFinite", defaultValue = "false")
  protected boolean allowNonFinite;

  /**
   * Where tuning records are ({@code resnetc tune}): a model whose file is {@code NAME.resnet} or {@code NAME.onnx}
   * is compiled with {@code NAME.tuning} from this directory when there is one (default: beside the specs). A record
   * changes the model's hash, so editing it regenerates.
   */
  @Parameter(property = "resnetc.tuningDirectory")
  protected File tuningDirectory;

  /** Skip the goal. */
  @Parameter(property = "resnetc.skip", defaultValue = "false")
  protected boolean skip;

  @Parameter(defaultValue = "${project}", readonly = true, required = true)
  protected MavenProject project;

  @Parameter(defaultValue = "${plugin}", readonly = true, required = true)
  protected PluginDescriptor plugin;

  /** A spec that loaded, with the weights chosen for it. */
  record Model(Path spec, String relative, Frontend.Loaded loaded, Path weightsFile, Long seed, Tuning tuning, String hash) {
    String name() {
      return loaded.model().name();
    }
  }

  /**
   * One model's generated class: its source and the resources it loads (the weights blob, and for the native
   * backend the shared library under {@code native/<platform>/} with its index), by resource path.
   */
  record Generated(Model model, String qualifiedName, String source, java.util.Map<String, byte[]> resources) {
    long bytes() {
      return resources.values().stream().mapToLong(b -> b.length).sum();
    }
  }

  /** Every code generation option in one value, which the hash covers; a bad option fails the build with its message. */
  CodegenOptions options() throws MojoFailureException {
    try {
      Targets.get(backend);
      List<String> cpus = targetCpu == null || targetCpu.isBlank() ? List.of() : List.of(targetCpu.strip().split("\\s*,\\s*"));
      return new CodegenOptions(backend, cpus, packageName, null, Winograd.Mode.parse(winograd));
    } catch (IllegalArgumentException e) {
      throw new MojoFailureException("resnetc: " + e.getMessage());
    }
  }

  /** The tuning record of a model file (relative to specDirectory), or none. */
  Tuning tuning(String rel) {
    Path dir = (tuningDirectory != null ? tuningDirectory : specDirectory).toPath();
    Path file = dir.resolve(baseName(rel) + ".tuning");
    if (!Files.exists(file)) return Tuning.none();
    getLog().info("resnetc: " + rel + " tuned by " + file);
    return Tuning.read(file);
  }

  /** The spec files, relative to specDirectory, sorted. */
  List<String> specFiles() throws MojoFailureException {
    if (!specDirectory.isDirectory()) return List.of();
    DirectoryScanner ds = new DirectoryScanner();
    ds.setBasedir(specDirectory);
    ds.setIncludes(includes == null || includes.isEmpty() ? new String[] {"**/*.resnet", "**/*.onnx"} : includes.toArray(String[]::new));
    if (excludes != null && !excludes.isEmpty()) ds.setExcludes(excludes.toArray(String[]::new));
    ds.scan();
    List<String> files = new ArrayList<>(List.of(ds.getIncludedFiles()));
    files.replaceAll(s -> s.replace(File.separatorChar, '/'));
    files.sort(null);
    return files;
  }

  /** The models this execution works on: none when skipped or when there are no specs (both logged). */
  List<Model> modelsToBuild() throws MojoFailureException, MojoExecutionException {
    if (skip) {
      getLog().info("resnetc: skipped");
      return List.of();
    }
    List<Model> models = loadModels();
    if (models.isEmpty()) getLog().info("resnetc: no model specs under " + specDirectory);
    return models;
  }

  /** Loads every spec (reporting the diagnostics of all of them), resolves and hashes its weights. */
  List<Model> loadModels() throws MojoFailureException, MojoExecutionException {
    CodegenOptions options = options();
    List<String> files = specFiles();
    if (weights != null) {
      for (String key : weights.keySet()) {
        boolean known = files.stream().anyMatch(f -> baseName(f).equals(key));
        if (!known) getLog().warn("resnetc: <weights> names '" + key + "' but no spec " + key + ".resnet (or " + key + ".onnx) is under " + specDirectory);
      }
    }
    StringBuilder errors = new StringBuilder();
    int failed = 0;
    List<Model> out = new ArrayList<>();
    Map<String, String> classes = new LinkedHashMap<>();
    for (String rel : files) {
      Path spec = specDirectory.toPath().resolve(rel).toAbsolutePath().normalize();
      try {
        Frontend.Loaded l = Frontend.load(spec, preprocess == null ? null : preprocess.get(baseName(rel)));
        Path wfile = null;
        Long seed = null;
        String configured = weights == null ? null : weights.get(baseName(rel));
        if (configured != null && !configured.isBlank()) {
          wfile = project.getBasedir().toPath().resolve(configured.strip()).toAbsolutePath().normalize();
        } else if (l.graph().hasWeights()) {
          // an ONNX model carries its weights
        } else if (randomWeightsSeed != null) {
          seed = randomWeightsSeed;
        } else if (l.specWeights() != null) {
          wfile = l.specWeights().toAbsolutePath().normalize();
        } else {
          throw new WeightException(spec + ": no weights for model '" + l.model().name() + "': configure <weights><" + baseName(rel)
              + ">path/to/weights.safetensors</" + baseName(rel) + "></weights>, name a file in the spec (weights { file \"...\" }),"
              + " or set <randomWeightsSeed>");
        }
        Path wsource = wfile == null ? null : WeightFile.Source.parse(wfile).file(); // without a #key
        if (wsource != null && !Files.isRegularFile(wsource)) throw new WeightException(spec + ": weights file not found: " + wsource);
        String cls = options.qualifiedName(l.model().name());
        String other = classes.put(cls, rel);
        if (other != null) throw new WeightException(spec + ": model '" + l.model().name() + "' would generate " + cls + ", as " + other + " does");
        Tuning tuning = tuning(rel);
        out.add(new Model(spec, rel, l, wfile, seed, tuning, hash(rel, l, wfile, seed, options.withTuning(tuning))));
      } catch (SpecException e) {
        failed++;
        errors.append(e.render()).append('\n');
      } catch (WeightException | IllegalArgumentException e) {
        failed++;
        errors.append(e.getMessage()).append('\n');
      } catch (IOException e) {
        failed++;
        errors.append(spec).append(": ").append(e).append('\n');
      }
    }
    if (failed > 0) fail(failed, errors.toString());
    return out;
  }

  /** Reports diagnostics line by line in Maven's error output, then fails the build with them. */
  void fail(int failed, String diagnostics) throws MojoFailureException {
    String text = diagnostics.stripTrailing();
    for (String line : text.split("\n", -1)) getLog().error(line);
    throw new MojoFailureException("resnetc: " + failed + " model spec(s) failed:\n" + text);
  }

  /** Source and resources (weights blob, native libraries) for one model, through the compiler's driver. */
  Generated generate(Model m) throws MojoFailureException {
    try {
      Graph g = m.seed() != null ? RandomWeights.generate(m.loaded().graph(), m.seed())
          : m.weightsFile() != null ? Frontend.bind(m.loaded(), m.weightsFile(), allowNonFinite) : m.loaded().graph();
      Artifact a = Driver.compile(m.loaded(), g, options().withTuning(m.tuning())).emit();
      return new Generated(m, a.qualifiedName(), a.source(), a.resources());
    } catch (SpecException e) {
      fail(1, e.render());
    } catch (WeightException | IllegalArgumentException e) {
      fail(1, m.spec() + ": " + e.getMessage());
    }
    throw new AssertionError();
  }

  /** sha-256 over everything the output of one model depends on. */
  private String hash(String rel, Frontend.Loaded l, Path wfile, Long seed, CodegenOptions options) throws IOException {
    MessageDigest md = sha256();
    Map<String, String> config = new TreeMap<>();
    config.put("plugin", plugin.getGroupId() + ":" + plugin.getArtifactId() + ":" + plugin.getVersion());
    config.put("compiler", implementationStamp());
    config.put("codegen", options.text());
    config.put("allowNonFinite", String.valueOf(allowNonFinite));
    config.put("spec", rel);
    config.put("seed", String.valueOf(seed));
    config.put("weightsFile", String.valueOf(wfile));
    config.put("preprocess", String.valueOf(preprocess == null ? null : preprocess.get(baseName(rel))));
    md.update(config.toString().getBytes(StandardCharsets.UTF_8));
    md.update(Files.readAllBytes(l.spec()));
    if (wfile == null && seed == null) {
      // an ONNX model's own weights, wherever they are stored (external data files included)
      for (resnetc.ir.Tensor t : l.graph().constants().values()) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * t.data().length);
        b.asFloatBuffer().put(t.data());
        md.update(b.array());
      }
    }
    String labels = l.model().labels();
    if (labels != null) {
      Path p = l.spec().toAbsolutePath().getParent().resolve(labels);
      if (Files.isRegularFile(p)) md.update(Files.readAllBytes(p));
    }
    if (wfile != null) {
      byte[] buf = new byte[1 << 16];
      try (InputStream in = Files.newInputStream(WeightFile.Source.parse(wfile).file())) {
        for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  /** Size and time of the compiler jar, so a rebuilt SNAPSHOT of resnetc regenerates. */
  private static String implementationStamp() {
    try {
      Path p = Path.of(Frontend.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      return Files.isRegularFile(p) ? Files.size(p) + "@" + Files.getLastModifiedTime(p).toMillis() : "dir";
    } catch (Exception e) {
      return "unknown";
    }
  }

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String baseName(String rel) {
    String name = rel.substring(rel.lastIndexOf('/') + 1);
    for (String ext : List.of(".resnet", ".onnx")) if (name.endsWith(ext)) return name.substring(0, name.length() - ext.length());
    return name;
  }

  static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
  }
}
