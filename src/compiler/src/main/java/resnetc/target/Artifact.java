package resnetc.target;

import java.util.Map;
import java.util.TreeMap;

/**
 * What a target makes of a schedule: the generated class (its source) and the resources it loads by path (the
 * weights blob, native libraries). The Maven plugin adds both to the user's build; the driver compiles the source
 * and loads it or packages it into a jar.
 */
public record Artifact(String qualifiedName, String source, Map<String, byte[]> resources) {
  public Artifact {
    resources = new TreeMap<>(resources);
  }

  /** The class files, compiled in memory. */
  public Map<String, byte[]> compile() {
    return InMemoryJavac.compile(qualifiedName, source);
  }

  /** A resource next to the class: {@code com/example/Model.weights} for {@code com.example.Model} and {@code Model.weights}. */
  public static String resourcePath(String qualifiedName, String file) {
    int dot = qualifiedName.lastIndexOf('.');
    return (dot < 0 ? "" : qualifiedName.substring(0, dot).replace('.', '/') + "/") + file;
  }

  /** Little-endian bytes of a weights blob, as {@code resnetc.runtime.Weights} reads them. */
  public static byte[] blobBytes(float[] weights) {
    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(weights.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(weights);
    return buf.array();
  }
}
