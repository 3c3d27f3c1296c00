package resnetc.target;

import java.util.List;
import java.util.Locale;
import resnetc.schedule.Tuning;
import resnetc.schedule.Winograd;

/**
 * Every choice code generation depends on, in one value: the CLI, the Maven plugin and the benchmarks build one
 * and pass it to the driver, and the plugin hashes its {@link #text()} so a change of any option regenerates.
 *
 * @param target the registered target's name ({@code java}, {@code native}; see {@link Targets})
 * @param cpus the CPUs to compile for, as LLVM names them ({@code x86-64-v3}, {@code native} = this machine); empty
 *     for the target's default
 * @param packageName the generated class's package
 * @param className the generated class's simple name, or null for the model's name capitalized
 * @param winograd which 3x3 convs take Winograd; {@code AUTO} means where it pays on this target
 * @param tuning measured schedule choices ({@code resnetc tune}); a CPU without a section in it is planned by the rules
 */
public record CodegenOptions(String target, List<String> cpus, String packageName, String className, Winograd.Mode winograd,
                             Tuning tuning) {
  public static final String DEFAULT_PACKAGE = "resnetc.models";

  public CodegenOptions {
    cpus = List.copyOf(cpus);
    if (packageName == null) packageName = DEFAULT_PACKAGE;
    if (winograd == null) winograd = Winograd.Mode.AUTO;
    if (tuning == null) tuning = Tuning.none();
  }

  public CodegenOptions(String target, List<String> cpus, String packageName, String className, Winograd.Mode winograd) {
    this(target, cpus, packageName, className, winograd, Tuning.none());
  }

  /** The Java target with its defaults. */
  public static CodegenOptions defaults() {
    return new CodegenOptions("java", List.of(), DEFAULT_PACKAGE, null, Winograd.Mode.AUTO);
  }

  public CodegenOptions withTarget(String t) {
    return new CodegenOptions(t, cpus, packageName, className, winograd, tuning);
  }

  public CodegenOptions withCpus(List<String> c) {
    return new CodegenOptions(target, c, packageName, className, winograd, tuning);
  }

  public CodegenOptions withNames(String pkg, String cls) {
    return new CodegenOptions(target, cpus, pkg, cls, winograd, tuning);
  }

  public CodegenOptions withWinograd(Winograd.Mode w) {
    return new CodegenOptions(target, cpus, packageName, className, w, tuning);
  }

  public CodegenOptions withTuning(Tuning t) {
    return new CodegenOptions(target, cpus, packageName, className, winograd, t);
  }

  /** The generated class's simple name for a model: {@code resnet20} to {@code Resnet20}, unless one was given. */
  public String className(String modelName) {
    if (className != null) return className;
    String s = modelName.replaceAll("[^A-Za-z0-9_]", "_");
    if (s.isEmpty() || !Character.isJavaIdentifierStart(s.charAt(0))) s = "M" + s;
    return Character.toUpperCase(s.charAt(0)) + s.substring(1);
  }

  public String qualifiedName(String modelName) {
    return packageName.isEmpty() ? className(modelName) : packageName + "." + className(modelName);
  }

  /**
   * A stable one-line form of every option, e.g. for hashing: {@code target=java cpu= winograd=auto package=...
   * class=... tuning=none} (a tuning record by the SHA-256 of its text).
   */
  public String text() {
    return String.format(Locale.ROOT, "target=%s cpu=%s winograd=%s package=%s class=%s tuning=%s", target, String.join(",", cpus), winograd,
        packageName, className == null ? "" : className, tuning.isEmpty() ? "none" : sha256(tuning.text()));
  }

  private static String sha256(String s) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
