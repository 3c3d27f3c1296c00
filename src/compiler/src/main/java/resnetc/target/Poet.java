package resnetc.target;

import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.TypeName;
import java.util.List;
import javax.lang.model.element.Modifier;

/** JavaPoet pieces both backends' generated classes share (they implement the same CompiledModel API). */
public final class Poet {
  private Poet() {}

  /** {@code @Override public T name() { return field; }}; {@code type} is a Class or a TypeName. */
  public static MethodSpec getter(Object type, String name, String field) {
    TypeName tn = type instanceof TypeName t ? t : TypeName.get((Class<?>) type);
    return MethodSpec.methodBuilder(name).addAnnotation(Override.class).addModifiers(Modifier.PUBLIC).returns(tn).addStatement("return $L", field).build();
  }

  /** Java float literals, comma separated: {@code 0.485f, 0.456f}. */
  public static String floats(float[] v) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ", ").append(v[i]).append('f');
    return sb.toString();
  }

  /** Java string literals, comma separated. */
  public static String strings(List<String> v) {
    return String.join(", ", v.stream().map(s -> CodeBlock.of("$S", s).toString()).toList());
  }
}
