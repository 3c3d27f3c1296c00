package resnetc.target;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import resnetc.target.java.JavaTarget;
import resnetc.target.llvm.LlvmTarget;

/** The registered targets by name: a new target is one line here. */
public final class Targets {
  private static final Map<String, Supplier<Target>> REGISTRY = registry();

  private Targets() {}

  private static Map<String, Supplier<Target>> registry() {
    Map<String, Supplier<Target>> m = new LinkedHashMap<>();
    m.put("java", JavaTarget::new);
    m.put("native", LlvmTarget::new);
    return m;
  }

  public static List<String> names() {
    return List.copyOf(REGISTRY.keySet());
  }

  /** The target named {@code name}; an unknown name is an IllegalArgumentException listing the registered ones. */
  public static Target get(String name) {
    Supplier<Target> t = REGISTRY.get(name);
    if (t == null) throw new IllegalArgumentException("unknown backend '" + name + "' (registered: " + String.join(", ", names()) + ")");
    return t.get();
  }
}
