package resnetc.target.java;

import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.TypeName;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The shared parts of one generated class that the layer emitters add as they need them: kernel methods of the
 * outer class (dispatchers and scalar twins) and of its nested {@code Simd} class (Vector API bodies, loaded only
 * when {@code jdk.incubator.vector} is present), each added once.
 */
final class ClassParts {
  static final ClassName FV = ClassName.get("jdk.incubator.vector", "FloatVector");
  static final ClassName VM = ClassName.get("jdk.incubator.vector", "VectorMask");
  static final ClassName VS = ClassName.get("jdk.incubator.vector", "VectorShuffle");
  static final ClassName VOPS = ClassName.get("jdk.incubator.vector", "VectorOperators");
  static final ClassName TEAM = ClassName.get("resnetc.runtime", "ThreadTeam");
  static final TypeName FLOATS = TypeName.get(float[].class);

  final List<FieldSpec> fields = new ArrayList<>();
  final List<MethodSpec> methods = new ArrayList<>();
  final List<MethodSpec> simdMethods = new ArrayList<>();
  final List<FieldSpec> simdFields = new ArrayList<>();
  private final Set<String> added = new HashSet<>();
  /** Floats of the largest conv tile buffer, 0 when no conv needs one. */
  int tileBuffer;

  /** Runs {@code add} the first time {@code key} is asked for; returns the key, which names what was added. */
  String once(String key, Runnable add) {
    if (added.add(key)) add.run();
    return key;
  }

  <T> T once(String key, Supplier<T> add, T otherwise) {
    return added.add(key) ? add.get() : otherwise;
  }
}
