package resnetc.runtime.serve;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import resnetc.runtime.CompiledModel;

/**
 * Which backend generated a model class and which instruction set its kernels use, for {@code GET /model} and the
 * metrics, read from the constants resnetc generates: a native model names its shared library ({@code LIBRARY});
 * a Java one says whether its Vector API path is on ({@code VECTOR}) and uses 16-lane tiles ({@code WIDE}). Best
 * effort: a class without them (written by hand, or by another version) is {@code unknown}.
 *
 * @param backend {@code java}, {@code native} or {@code unknown}
 * @param isa e.g. {@code amd64, Vector API, 16-lane (512-bit) tiles} or {@code amd64, scalar}; null when not known
 *     (a native library's target CPU is chosen when the jar is built and not recorded in the class)
 */
record ModelInfo(String backend, String isa) {
  static ModelInfo of(CompiledModel m) {
    Class<?> c = m.getClass();
    if (constant(c, "LIBRARY") instanceof String) return new ModelInfo("native", null);
    Object vector = constant(c, "VECTOR"), wide = constant(c, "WIDE");
    if (!(vector instanceof Boolean v)) return new ModelInfo("unknown", null);
    String arch = System.getProperty("os.arch", "?") + ", ";
    if (!v) return new ModelInfo("java", arch + "scalar");
    return new ModelInfo("java", arch + "Vector API, " + (Boolean.TRUE.equals(wide) ? "16-lane (512-bit) tiles" : "8-lane tiles"));
  }

  /** A static final field's value, or null when there is none or it cannot be read. */
  private static Object constant(Class<?> c, String name) {
    try {
      Field f = c.getDeclaredField(name);
      if (!Modifier.isStatic(f.getModifiers()) || !Modifier.isFinal(f.getModifiers())) return null;
      f.setAccessible(true);
      return f.get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }
}
