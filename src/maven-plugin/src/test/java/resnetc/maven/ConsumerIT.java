package resnetc.maven;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarOutputStream;
import java.util.zip.ZipEntry;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import resnetc.Frontend;
import resnetc.runtime.CompiledModel;

/**
 * Builds a copy of examples/maven-consumer from scratch with the plugin just packaged (run by surefire in the
 * integration-test phase): a normal build, a second one that skips generation, one with a broken spec that fails
 * with the spec's diagnostic, and ones with the native backend and with a PyTorch checkpoint as weights. The nested
 * builds use a local repository under target/it/repo holding the fresh resnetc artifacts, and reach everything else
 * through a mirror of the real local repository (no network).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsumerIT {
  static final String VERSION = "0.1.0-SNAPSHOT";
  static Path root, it, consumer, repo, settings;

  @BeforeAll
  static void setUp() throws IOException {
    root = Path.of(System.getProperty("resnetc.repoRoot")).toAbsolutePath().normalize();
    it = Path.of(System.getProperty("resnetc.itDir")).toAbsolutePath();
    deleteTree(it);
    consumer = it.resolve("maven-consumer");
    copyTree(root.resolve("examples/maven-consumer"), consumer);
    repo = it.resolve("repo");
    install("resnetc-parent", root.resolve("pom.xml"), null);
    install("resnetc-runtime", root.resolve("src/runtime/pom.xml"), jarOf(CompiledModel.class));
    install("resnetc-compiler", root.resolve("src/compiler/pom.xml"), jarOf(Frontend.class));
    install("resnetc-maven-plugin", root.resolve("src/maven-plugin/pom.xml"), Path.of(System.getProperty("resnetc.pluginJar")));
    Path realRepo = Path.of(System.getProperty("resnetc.localRepository"));
    settings = it.resolve("settings.xml");
    Files.writeString(settings, """
        <settings>
          <mirrors>
            <mirror>
              <id>local-mirror</id>
              <mirrorOf>*</mirrorOf>
              <url>%s</url>
            </mirror>
          </mirrors>
        </settings>
        """.formatted(realRepo.toUri()));
  }

  @Test
  @Order(1)
  void firstBuildGeneratesCompilesTestsAndPackages() throws Exception {
    String log = mvn("first", "verify");
    assertTrue(log.contains("resnetc: resnet20.resnet -> resnetc.models.Resnet20"), log);
    assertTrue(log.contains("resnetc: generated 1 model(s)"), log);
    assertTrue(log.contains("Tests run: 3, Failures: 0, Errors: 0"), log);
    assertTrue(log.contains("BUILD SUCCESS"), log);
    assertTrue(Files.isRegularFile(consumer.resolve("target/generated-sources/resnetc/resnetc/models/Resnet20.java")));
    assertTrue(Files.isRegularFile(consumer.resolve("target/classes/resnetc/models/Resnet20.class")));
    assertTrue(Files.isRegularFile(consumer.resolve("target/maven-consumer-1.0-SNAPSHOT-resnet20.jar")));
    if (!pretrainedWeights().isEmpty()) assertTrue(log.contains("accuracy: 0.7950"), log);
    else assertTrue(log.contains("max abs error vs reference"), log);
  }

  @Test
  @Order(2)
  void secondBuildSkipsGeneration() throws Exception {
    Path source = consumer.resolve("target/generated-sources/resnetc/resnetc/models/Resnet20.java");
    long before = Files.getLastModifiedTime(source).toMillis();
    String log = mvn("second", "verify");
    assertTrue(log.contains("resnetc: 1 model(s) up to date, skipping generation"), log);
    assertTrue(!log.contains("resnetc: generated"), log);
    assertTrue(log.contains("BUILD SUCCESS"), log);
    assertEquals(before, Files.getLastModifiedTime(source).toMillis());
    // any code generation option is part of the hash: another Winograd mode regenerates
    String again = mvn("winograd", "generate-sources", "-Dresnetc.winograd=always");
    assertTrue(again.contains("resnetc: generated 1 model(s)"), again);
    assertTrue(Files.readString(source).contains("winogradIn("), "the class is the one the option asks for");
  }

  @Test
  @Order(3)
  void brokenSpecFailsWithTheDiagnostic() throws Exception {
    Path broken = consumer.resolve("broken/resnet20.resnet");
    Files.createDirectories(broken.getParent());
    Files.writeString(broken, Files.readString(root.resolve("examples/cifar/resnet20.resnet")).replace("block basic", "block basik"));
    Files.copy(root.resolve("examples/cifar/cifar10.labels"), broken.resolveSibling("cifar10.labels"));
    String log = mvn("broken", "generate-sources", "-Dresnetc.specDirectory=" + broken.getParent());
    assertTrue(log.contains("BUILD FAILURE"), log);
    assertTrue(log.contains("[ERROR] " + broken + ":11:9: error: unknown block kind 'basik' (expected basic or bottleneck)"), log);
    assertTrue(log.contains("resnetc: 1 model spec(s) failed"), log);
  }

  @Test
  @Order(4)
  void missingWeightsFileNamesThePath() throws Exception {
    Path missing = consumer.resolve("no/such/weights.safetensors");
    String log = mvn("missing-weights", "generate-sources", "-Dmodel.weights=" + missing);
    assertTrue(log.contains("BUILD FAILURE"), log);
    assertTrue(log.contains("weights file not found: " + missing), log);
  }

  /** The same consumer with the native backend: LLVM kernels in a shared library under the generated resources. */
  @Test
  @Order(5)
  void nativeBackendBuildsAndPassesTheSameTests() throws Exception {
    String log = mvn("native", "verify", "-Dresnetc.backend=native");
    assertTrue(log.contains("native backend"), log);
    assertTrue(log.contains("Tests run: 3, Failures: 0, Errors: 0"), log);
    assertTrue(log.contains("BUILD SUCCESS"), log);
    assertTrue(Files.isRegularFile(consumer.resolve("target/generated-resources/resnetc/native/index.txt")));
    if (!pretrainedWeights().isEmpty()) assertTrue(log.contains("accuracy: 0.7950"), log);
  }

  /** The same consumer with the original PyTorch checkpoint (legacy torch.save format) as its {@code <weights>} entry. */
  @Test
  @Order(6)
  void pytorchCheckpointAsWeights() throws Exception {
    Path th = root.resolve("../shared/models/cifar10/resnet20-12fca82f.th").normalize();
    Assumptions.assumeTrue(Files.isRegularFile(th), "../shared is absent");
    String log = mvn("pth", "verify", "-Dmodel.weights=" + th + "#state_dict");
    assertTrue(log.contains("weights " + th + "#state_dict"), log);
    assertTrue(log.contains("Tests run: 3, Failures: 0, Errors: 0"), log);
    assertTrue(log.contains("accuracy: 0.7950"), log);
    assertTrue(log.contains("BUILD SUCCESS"), log);
  }

  /**
   * An ONNX model in the spec directory compiles like a spec, with the preprocessing the plugin configuration
   * states for it (the consumer's pom, including every .onnx file and configuring resnet20's preprocessing).
   */
  @Test
  @Order(7)
  void onnxModelsCompileLikeSpecs() throws Exception {
    Path models = Files.createDirectories(consumer.resolve("onnx"));
    resnetc.ir.Graph g = resnetc.weights.RandomWeights.generate(
        Frontend.withoutPreprocess(Frontend.load(root.resolve("examples/cifar/resnet20.resnet")).graph()), 3);
    resnetc.onnx.OnnxExport.write(g, models.resolve("onnx20.onnx"));
    String pom = Files.readString(consumer.resolve("pom.xml")).replace("<include>resnet20.resnet</include>", "<include>*.onnx</include>")
        .replace("<packageName>resnetc.models</packageName>", "<packageName>resnetc.models</packageName>"
            + "<preprocess><onnx20>scale 1/255 mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]</onnx20></preprocess>");
    Files.writeString(consumer.resolve("pom-onnx.xml"), pom);
    String log = mvn("onnx", "-f", "pom-onnx.xml", "generate-sources", "-Dresnetc.specDirectory=" + models);
    assertTrue(log.contains("resnetc: onnx20.onnx -> resnetc.models.Onnx20 (java backend, weights its own"), log);
    assertTrue(log.contains("BUILD SUCCESS"), log);
    String source = Files.readString(consumer.resolve("target/generated-sources/resnetc/resnetc/models/Onnx20.java"));
    assertTrue(source.contains("0.485") && source.contains("onnx20.onnx"), "the stated preprocessing and the model file");
  }

  /** The shared checkpoint when ../shared is present next to the repository, else "". */
  static String pretrainedWeights() {
    Path w = root.resolve("../shared/models/cifar10/resnet20.safetensors").normalize();
    return Files.isRegularFile(w) ? w.toString() : "";
  }

  /** Runs Maven on the consumer copy; returns its log (also kept as target/it/NAME.log), asserting nothing. */
  static String mvn(String name, String... args) throws Exception {
    String home = System.getProperty("maven.home");
    Path exe = home == null || home.isBlank() ? Path.of("mvn") : Path.of(home, "bin", "mvn");
    List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-B", "-s", settings.toString(), "-Dmaven.repo.local=" + repo,
        "-Dresnetc.root=" + root));
    String weights = pretrainedWeights();
    if (!weights.isEmpty() && Stream.of(args).noneMatch(a -> a.startsWith("-Dmodel.weights="))) cmd.add("-Dmodel.weights=" + weights);
    cmd.addAll(List.of(args));
    Path log = it.resolve(name + ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(consumer.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().put("MAVEN_OPTS", "--sun-misc-unsafe-memory-access=allow");
    pb.environment().remove("MAVEN_ARGS");
    Process p = pb.start();
    if (!p.waitFor(5, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("mvn " + String.join(" ", args) + " timed out; log: " + log);
    }
    String text = Files.readString(log);
    System.out.println("=== mvn " + name + " (exit " + p.exitValue() + ") ===");
    text.lines().filter(l -> l.contains("resnetc") || l.contains("Tests run") || l.contains("accuracy") || l.contains("BUILD")
        || l.contains("max abs error")).forEach(System.out::println);
    boolean failed = text.contains("BUILD FAILURE");
    if (failed) assertNotEquals(0, p.exitValue());
    else assertEquals(0, p.exitValue(), text);
    return text;
  }

  /** The jar a class came from; a classes directory (a reactor build before packaging) is jarred first. */
  static Path jarOf(Class<?> c) throws IOException {
    Path p;
    try {
      p = Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IOException(e);
    }
    if (Files.isRegularFile(p)) return p;
    Path jar = it.resolve(c.getSimpleName() + "-classes.jar");
    try (OutputStream os = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(os); Stream<Path> s = Files.walk(p)) {
      for (Path f : s.filter(Files::isRegularFile).sorted().toList()) {
        out.putNextEntry(new ZipEntry(p.relativize(f).toString().replace('\\', '/')));
        Files.copy(f, out);
        out.closeEntry();
      }
    }
    return jar;
  }

  static void install(String artifactId, Path pom, Path jar) throws IOException {
    Path dir = repo.resolve("dev/resnetc/" + artifactId + "/" + VERSION);
    Files.createDirectories(dir);
    Files.copy(pom, dir.resolve(artifactId + "-" + VERSION + ".pom"), StandardCopyOption.REPLACE_EXISTING);
    if (jar != null) Files.copy(jar, dir.resolve(artifactId + "-" + VERSION + ".jar"), StandardCopyOption.REPLACE_EXISTING);
  }

  static void copyTree(Path from, Path to) throws IOException {
    Files.walkFileTree(from, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
        if (dir.getFileName().toString().equals("target") && !dir.equals(from)) return FileVisitResult.SKIP_SUBTREE;
        Files.createDirectories(to.resolve(from.relativize(dir).toString()));
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.copy(file, to.resolve(from.relativize(file).toString()), StandardCopyOption.REPLACE_EXISTING);
        return FileVisitResult.CONTINUE;
      }
    });
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
    }
  }
}
