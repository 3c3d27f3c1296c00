package resnetc.runtime.serve;

/** The little JSON the server writes: a StringBuilder with escaping and exact number forms. No parsing. */
final class Json {
  private final StringBuilder sb = new StringBuilder(256);
  private boolean first = true; // no comma before the next member or element

  Json begin() {
    return open('{');
  }

  Json end() {
    return close('}');
  }

  Json beginArray(String key) {
    key(key);
    return open('[');
  }

  Json endArray() {
    return close(']');
  }

  Json beginObject() {
    comma();
    return open('{');
  }

  Json beginObject(String key) {
    key(key);
    return open('{');
  }

  Json field(String key, String value) {
    key(key);
    if (value == null) sb.append("null");
    else string(value);
    return this;
  }

  Json field(String key, long value) {
    key(key);
    sb.append(value);
    return this;
  }

  /** A float as Java's shortest form that reads back to the same float (Float.parseFloat), or null when not finite. */
  Json field(String key, float value) {
    key(key);
    number(value);
    return this;
  }

  Json value(float value) {
    comma();
    number(value);
    return this;
  }

  Json value(long value) {
    comma();
    sb.append(value);
    return this;
  }

  Json value(String value) {
    comma();
    string(value);
    return this;
  }

  @Override
  public String toString() {
    return sb.toString();
  }

  private Json open(char c) {
    sb.append(c);
    first = true;
    return this;
  }

  private Json close(char c) {
    sb.append(c);
    first = false;
    return this;
  }

  private void comma() {
    if (!first) sb.append(',');
    first = false;
  }

  private void key(String key) {
    comma();
    string(key);
    sb.append(':');
  }

  private void number(float v) {
    if (Float.isFinite(v)) sb.append(v); // e.g. 1.25, -3.5E-4: valid JSON numbers
    else sb.append("null");
  }

  private void string(String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    sb.append('"');
  }
}
