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
import resnetc.backend.java.JavaBackend;
import resnetc.backend.java.JavaTarget;
import resnetc.diag.SpecException;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.weights.RandomWeights;
import resnetc.weights.WeightException;

/** What the goals share: finding the specs, choosing their weights, hashing, and turning errors into build failures. */
abstract class AbstractResnetcMojo extends AbstractMojo {
  static final List<String> BACKENDS = List.of("java", "native");

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
   * Weights (safetensors) per spec: the element name is the spec's file name without {@code .resnet}, the value a
   * path relative to the project directory, e.g. {@code &lt;weights&gt;&lt;resnet20&gt;models/resnet20.safetensors&lt;/resnet20&gt;&lt;/weights&gt;}. A spec
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

  /** Code generator: {@code java} (the only one this version supports; {@code native} is planned). */
  @Parameter(property = "resnetc.backend", defaultValue = "java", required = true)
  protected String backend;

  /** Package of the generated classes; each class is named after its model, capitalized ({@code resnet20} gives {@code Resnet20}). */
  @Parameter(property = "resnetc.packageName", defaultValue = "resnetc.models", required = true)
  protected String packageName;

  /** Target CPU for the {@code native} backend ({@code x86-64-v3} when unset; {@code native} = the build machine); ignored by the {@code java} backend. */
  @Parameter(property = "resnetc.targetCpu")
  protected String targetCpu;

  /** Skip the goal. */
  @Parameter(property = "resnetc.skip", defaultValue = "false")
  protected boolean skip;

  @Parameter(defaultValue = "${project}", readonly = true, required = true)
  protected MavenProject project;

  @Parameter(defaultValue = "${plugin}", readonly = true, required = true)
  protected PluginDescriptor plugin;

  /** A spec that loaded, with the weights chosen for it. */
  record Model(Path spec, String relative, Frontend.Loaded loaded, Path weightsFile, Long seed, String hash) {
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

  void checkBackend() throws MojoFailureException {
    if (!BACKENDS.contains(backend)) {
      throw new MojoFailureException("resnetc: backend '" + backend + "' is not available in this version of the plugin (supported: "
          + String.join(", ", BACKENDS) + ")");
    }
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
    checkBackend();
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
        if (wfile != null && !Files.isRegularFile(wfile)) {
          throw new WeightException(spec + ": weights file not found: " + wfile);
        }
        String cls = packageName + "." + JavaTarget.className(l.model().name());
        String other = classes.put(cls, rel);
        if (other != null) throw new WeightException(spec + ": model '" + l.model().name() + "' would generate " + cls + ", as " + other + " does");
        out.add(new Model(spec, rel, l, wfile, seed, hash(rel, l, wfile, seed)));
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

  /** Source and weights blob for one model. */
  Generated generate(Model m) throws MojoFailureException {
    try {
      Graph g = m.seed() != null ? RandomWeights.generate(m.loaded().graph(), m.seed())
          : m.weightsFile() != null ? Frontend.bind(m.loaded(), m.weightsFile()) : m.loaded().graph();
      Graph optimized = JavaTarget.optimize(g, Pipeline.defaults());
      JavaBackend.Options names = JavaTarget.defaultOptions(m.loaded().model(), packageName, null);
      if (backend.equals("native")) {
        var lib = resnetc.backend.nat.NativeCompiler.sharedLibrary(optimized, targetCpu == null ? "x86-64-v3" : targetCpu);
        var in = m.loaded().model().input();
        String libName = names.className().toLowerCase(java.util.Locale.ROOT);
        var c = resnetc.backend.nat.NativeTarget.compileWrapper(lib.program(), JavaTarget.info(m.loaded()), names, libName,
            in.channels(), in.height(), in.width());
        var resources = resnetc.backend.nat.NativeTarget.resources(c, java.util.Map.of(resnetc.runtime.NativeLibrary.platform(), lib.so()));
        return new Generated(m, c.qualifiedName(), c.source(), resources);
      }
      JavaBackend.Output out = JavaTarget.generate(m.loaded(), optimized, names);
      String qn = out.qualifiedName();
      int dot = qn.lastIndexOf('.');
      String blobPath = (dot < 0 ? "" : qn.substring(0, dot).replace('.', '/') + "/") + out.weightsResource();
      return new Generated(m, qn, out.source(), java.util.Map.of(blobPath, JavaBackend.blobBytes(out.weights())));
    } catch (SpecException e) {
      fail(1, e.render());
    } catch (WeightException | IllegalArgumentException e) {
      fail(1, m.spec() + ": " + e.getMessage());
    }
    throw new AssertionError();
  }

  /** sha-256 over everything the output of one model depends on. */
  private String hash(String rel, Frontend.Loaded l, Path wfile, Long seed) throws IOException {
    MessageDigest md = sha256();
    Map<String, String> config = new TreeMap<>();
    config.put("plugin", plugin.getGroupId() + ":" + plugin.getArtifactId() + ":" + plugin.getVersion());
    config.put("compiler", implementationStamp());
    config.put("backend", backend);
    config.put("package", packageName);
    config.put("targetCpu", String.valueOf(targetCpu));
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
      try (InputStream in = Files.newInputStream(wfile)) {
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
