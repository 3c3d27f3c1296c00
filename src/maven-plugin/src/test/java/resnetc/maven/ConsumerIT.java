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
    // and so is a tuning record found beside the specs (here in a directory of its own): its tile is the class's
    Path records = it.resolve("tuning");
    Files.createDirectories(records);
    Files.writeString(records.resolve("resnet20.tuning"), """
        tuning model=resnet20 target=java cpu=jvm lanes=16 threads=1 batch=1 machine="test"
          %layer3.1.conv1 = direct tile=8x2 bands=1
        """);
    String tuned = mvn("tuned", "generate-sources", "-Dresnetc.tuningDirectory=" + records);
    assertTrue(tuned.contains("resnetc: resnet20.resnet tuned by " + records.resolve("resnet20.tuning")), tuned);
    assertTrue(tuned.contains("resnetc: generated 1 model(s)"), tuned);
    assertTrue(Files.readString(source).contains("tile 8 oc x 2 vector(s) of 16, 8 channel tile(s) x 1 band(s) per image"), "the tuned tile");
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

  /**
   * README's Maven snippet, as a new user pastes it: a fresh project whose pom is the snippet taken from README.md
   * (plus a JUnit dependency for its test), the shipped ResNet-20 spec and weights, an application class that
   * classifies the shipped sample through the generated class, and a test. The build must pass, and the application
   * and the model jar must both print the pretrained accuracy on the sample.
   */
  @Test
  @Order(8)
  void readmeSnippetBuildsAFreshProject() throws Exception {
    Path project = it.resolve("readme-app");
    Files.createDirectories(project.resolve("models"));
    Files.copy(root.resolve("examples/cifar/resnet20.safetensors"), project.resolve("models/resnet20.safetensors"));
    Path specs = Files.createDirectories(project.resolve("src/main/resnet"));
    Files.copy(root.resolve("examples/cifar/resnet20.resnet"), specs.resolve("resnet20.resnet"));
    Files.copy(root.resolve("examples/cifar/cifar10.labels"), specs.resolve("cifar10.labels"));
    String snippet = readmeSnippet();
    assertTrue(snippet.contains("<version>3.14.0</version>"), "maven-compiler-plugin is pinned:\n" + snippet);
    String withJunit = snippet.replace("</dependencies>", """
          <dependency>
            <groupId>org.junit.jupiter</groupId>
            <artifactId>junit-jupiter</artifactId>
            <version>6.1.3</version>
            <scope>test</scope>
          </dependency>
        </dependencies>""");
    Files.writeString(project.resolve("pom.xml"), """
        <?xml version="1.0" encoding="UTF-8"?>
        <project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                 xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
          <modelVersion>4.0.0</modelVersion>
          <groupId>com.example</groupId>
          <artifactId>readme-app</artifactId>
          <version>1.0</version>
        %s
        </project>
        """.formatted(withJunit));
    Path app = Files.createDirectories(project.resolve("src/main/java/com/example")).resolve("App.java");
    Files.writeString(app, """
        package com.example;

        import com.example.models.Resnet20;
        import java.nio.file.Path;
        import resnetc.runtime.Cifar;
        import resnetc.runtime.CompiledModel;
        import resnetc.runtime.F32;

        public class App {
          public static void main(String[] args) throws Exception {
            Cifar data = Cifar.read(Path.of(args[0]), 0);
            try (CompiledModel model = new Resnet20(2)) {
              float[] logits = model.predict(model.preprocessing().apply(data.pixels(), 3, 32 * 32), data.count());
              int correct = 0;
              for (int i = 0; i < data.count(); i++) if (F32.argmax(logits, i * 10, 10) == data.labels()[i]) correct++;
              System.out.printf(java.util.Locale.ROOT, "app accuracy: %.4f%n", correct / (double) data.count());
            }
          }
        }
        """);
    Path test = Files.createDirectories(project.resolve("src/test/java/com/example")).resolve("AppTest.java");
    Files.writeString(test, """
        package com.example;

        import static org.junit.jupiter.api.Assertions.assertEquals;
        import static org.junit.jupiter.api.Assertions.assertTrue;

        import com.example.models.Resnet20;
        import org.junit.jupiter.api.Test;

        class AppTest {
          @Test
          void generatedClassRunsWithTheVectorApi() {
            assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(), "surefire's argLine");
            try (Resnet20 model = new Resnet20(1)) {
              assertEquals("cat", model.labels().get(3));
              assertEquals(10, model.predict(new float[3 * 32 * 32], 1).length);
            }
          }
        }
        """);

    String log = mvn("readme-app", project, "verify");
    assertTrue(log.contains("BUILD SUCCESS"), log);
    assertTrue(log.contains("Tests run: 1, Failures: 0, Errors: 0"), log);
    assertTrue(log.contains("resnetc: resnet20.resnet -> com.example.models.Resnet20"), log);
    Path modelJar = project.resolve("target/readme-app-1.0-resnet20.jar");
    assertTrue(Files.isRegularFile(modelJar), "the model jar");

    String sample = root.resolve("examples/cifar/cifar10-test-300.bin").toString();
    String javaExe = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path runtime = repo.resolve("dev/resnetc/resnetc-runtime/" + VERSION + "/resnetc-runtime-" + VERSION + ".jar");
    String appOut = run(javaExe, "--add-modules", "jdk.incubator.vector", "-cp", project.resolve("target/classes") + java.io.File.pathSeparator + runtime,
        "com.example.App", sample);
    assertTrue(appOut.contains("app accuracy: 0.7900"), appOut);
    String jarOut = run(javaExe, "-jar", modelJar.toString(), "--input-cifar", sample);
    assertTrue(jarOut.contains("accuracy: 0.7900"), jarOut);
  }

  /** The first {@code ```xml} block of README.md's "Maven plugin" section. */
  static String readmeSnippet() throws IOException {
    String readme = Files.readString(root.resolve("README.md"));
    int section = readme.indexOf("\n## Maven plugin\n");
    assertTrue(section >= 0, "README.md has a Maven plugin section");
    int start = readme.indexOf("```xml\n", section), end = readme.indexOf("\n```", start + 7);
    assertTrue(start > section && end > start, "the section has an xml block");
    return readme.substring(start + "```xml\n".length(), end);
  }

  /** Runs a command, returns its output (stdout and stderr), asserting exit 0. */
  static String run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(p.waitFor(2, TimeUnit.MINUTES), String.join(" ", command));
    assertEquals(0, p.exitValue(), String.join(" ", command) + "\n" + out);
    return out;
  }

  /** The shared checkpoint when ../shared is present next to the repository, else "". */
  static String pretrainedWeights() {
    Path w = root.resolve("../shared/models/cifar10/resnet20.safetensors").normalize();
    return Files.isRegularFile(w) ? w.toString() : "";
  }

  /** Runs Maven on the consumer copy; returns its log (also kept as target/it/NAME.log), asserting nothing. */
  static String mvn(String name, String... args) throws Exception {
    return mvn(name, consumer, args);
  }

  /** Runs Maven on the project in {@code dir}, as {@link #mvn(String, String...)}. */
  static String mvn(String name, Path dir, String... args) throws Exception {
    String home = System.getProperty("maven.home");
    Path exe = home == null || home.isBlank() ? Path.of("mvn") : Path.of(home, "bin", "mvn");
    List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-B", "-s", settings.toString(), "-Dmaven.repo.local=" + repo,
        "-Dresnetc.root=" + root));
    String weights = pretrainedWeights();
    if (!weights.isEmpty() && Stream.of(args).noneMatch(a -> a.startsWith("-Dmodel.weights="))) cmd.add("-Dmodel.weights=" + weights);
    cmd.addAll(List.of(args));
    Path log = it.resolve(name + ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
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
