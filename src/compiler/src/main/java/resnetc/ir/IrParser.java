package resnetc.ir;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the text form written by {@link Printer#print}: {@code print(parse(print(g)))} equals {@code print(g)}.
 * Origins are not read back: {@code // ...} comments run to the end of the line and are ignored, as are blank
 * lines. The types are taken as written, not inferred, and nothing is verified (run {@link Verifier} for that),
 * so malformed graphs can be written down in tests. Errors are {@link IrException}s starting {@code line L:}.
 */
public final class IrParser {
  private static final Pattern HEADER = Pattern.compile("graph\\s+(\\S+)\\s*\\{");
  private static final Pattern RETURN = Pattern.compile("return\\s+%(\\S+)");
  private static final Pattern TYPE = Pattern.compile("f32\\[([^\\]]*)\\]");

  private IrParser() {}

  public static Graph parse(String text) {
    String[] lines = text.split("\n", -1);
    String name = null, output = null;
    boolean closed = false;
    List<Node> nodes = new ArrayList<>();
    for (int i = 0; i < lines.length; i++) {
      int lineNo = i + 1;
      String line = stripComment(lines[i]).strip();
      if (line.isEmpty()) continue;
      if (closed) throw error(lineNo, "text after the closing '}'");
      if (name == null) {
        Matcher m = HEADER.matcher(line);
        if (!m.matches()) throw error(lineNo, "expected 'graph NAME {', got '" + line + "'");
        name = m.group(1);
      } else if (line.equals("}")) {
        if (output == null) throw error(lineNo, "graph ends without 'return %VALUE'");
        closed = true;
      } else if (output != null) {
        throw error(lineNo, "expected '}' after the return, got '" + line + "'");
      } else if (line.startsWith("return")) {
        Matcher m = RETURN.matcher(line);
        if (!m.matches()) throw error(lineNo, "expected 'return %VALUE', got '" + line + "'");
        output = m.group(1);
      } else {
        nodes.add(new LineParser(line, lineNo).node());
      }
    }
    if (!closed) {
      throw error(lines.length, "unexpected end of text, expected " + (name == null ? "'graph NAME {'" : output == null ? "'return %VALUE'" : "'}'"));
    }
    return new Graph(name, nodes, output, Map.of());
  }

  /** Parses a type such as {@code f32[N,16,32,32]}; N is allowed as the first dimension only. */
  public static TensorType parseType(String text) {
    Matcher m = TYPE.matcher(text);
    if (!m.matches()) throw new IrException("expected a type like f32[N,16,32,32], got '" + text + "'");
    String body = m.group(1).strip();
    if (body.isEmpty()) return TensorType.of();
    String[] parts = body.split(",", -1);
    int[] dims = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i].strip();
      if (p.equals("N") && i == 0) dims[i] = TensorType.BATCH;
      else if (p.equals("N")) throw new IrException("N is only allowed as the first dimension in '" + text + "'");
      else if ((dims[i] = parseInt(p, "dimension")) < 0) throw new IrException("negative dimension in '" + text + "'");
    }
    return TensorType.of(dims);
  }

  /** A comment starts at {@code //} at the beginning of the line or after whitespace, so names may contain '/'. */
  private static String stripComment(String line) {
    for (int i = line.indexOf("//"); i >= 0; i = line.indexOf("//", i + 1)) {
      if (i == 0 || Character.isWhitespace(line.charAt(i - 1))) return line.substring(0, i);
    }
    return line;
  }

  private static IrException error(int lineNo, String message) {
    return new IrException("line " + lineNo + ": " + message);
  }

  private static int parseInt(String s, String what) {
    try {
      return Integer.parseInt(s);
    } catch (NumberFormatException e) {
      throw new IrException("bad " + what + " '" + s + "'");
    }
  }

  private static float parseFloat(String s, String what) {
    try {
      return Float.parseFloat(s);
    } catch (NumberFormatException e) {
      throw new IrException("bad " + what + " '" + s + "'");
    }
  }

  /** One node line: {@code %name = op %a, %b key=value ... : type}. */
  private static final class LineParser {
    private final String s;
    private final int lineNo;
    private int pos;

    LineParser(String s, int lineNo) {
      this.s = s;
      this.lineNo = lineNo;
    }

    Node node() {
      try {
        String name = value();
        skipSpace();
        expect('=');
        skipSpace();
        String mnemonic = word();
        if (mnemonic.isEmpty()) throw new IrException("expected an op name");
        List<String> operands = new ArrayList<>();
        skipSpace();
        while (peek() == '%') {
          operands.add(value());
          skipSpace();
          if (peek() != ',') break;
          pos++;
          skipSpace();
          if (peek() != '%') throw new IrException("expected an operand after ','");
        }
        Map<String, String> attrs = new LinkedHashMap<>();
        while (pos < s.length() && peek() != ':') {
          String key = word();
          if (key.isEmpty()) throw new IrException("unexpected '" + s.substring(pos) + "'");
          expect('=');
          int start = pos;
          while (pos < s.length() && !Character.isWhitespace(s.charAt(pos))) pos++;
          if (attrs.put(key, s.substring(start, pos)) != null) throw new IrException("attribute " + key + " given twice");
          skipSpace();
        }
        expect(':');
        TensorType type = parseType(s.substring(pos).strip());
        return new Node(name, op(mnemonic, new Attrs(mnemonic, attrs)), operands, type);
      } catch (IrException | IllegalArgumentException e) {
        throw error(lineNo, e.getMessage());
      }
    }

    /** {@code %name}: a name runs to whitespace, ',' or '='. */
    private String value() {
      expect('%');
      int start = pos;
      while (pos < s.length() && !Character.isWhitespace(s.charAt(pos)) && s.charAt(pos) != ',' && s.charAt(pos) != '=') pos++;
      if (pos == start) throw new IrException("expected a value name after '%'");
      return s.substring(start, pos);
    }

    private String word() {
      int start = pos;
      while (pos < s.length() && (Character.isLetterOrDigit(s.charAt(pos)) || s.charAt(pos) == '_')) pos++;
      return s.substring(start, pos);
    }

    private char peek() {
      return pos < s.length() ? s.charAt(pos) : '\0';
    }

    private void skipSpace() {
      while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) pos++;
    }

    private void expect(char c) {
      if (peek() != c) throw new IrException("expected '" + c + "' at column " + (pos + 1) + (pos < s.length() ? ", got '" + s.charAt(pos) + "'" : ""));
      pos++;
    }
  }

  private static Op op(String mnemonic, Attrs a) {
    Op op = switch (mnemonic) {
      case "input" -> new Op.Input();
      case "const" -> new Op.Const();
      case "normalize" -> new Op.Normalize(a.floatAttr("div"), a.floats("mean"), a.floats("std"));
      case "conv2d" -> new Op.Conv2d(a.kernel(), a.intAttr("stride"), a.intAttr("pad"), a.intAttr("groups"));
      case "fused_conv" -> new Op.FusedConv(a.kernel(), a.intAttr("stride"), a.intAttr("pad"), a.intAttr("groups"), a.bool("relu"),
          residual(a.get("residual")), a.intAttr("res_stride"), a.intAttr("res_offset"));
      case "batchnorm" -> new Op.BatchNorm(a.floatAttr("eps"));
      case "relu" -> new Op.Relu();
      case "add" -> new Op.Add();
      case "maxpool" -> new Op.MaxPool(a.kernel(), a.intAttr("stride"), a.intAttr("pad"));
      case "avgpool" -> new Op.AvgPool(a.kernel(), a.intAttr("stride"), a.intAttr("pad"), a.bool("ceil"), a.bool("count_pad"));
      case "global_avgpool" -> new Op.GlobalAvgPool();
      case "dense" -> new Op.Dense();
      case "softmax" -> new Op.Softmax();
      case "subsample_pad" -> new Op.SubsamplePad(a.intAttr("stride"), a.intAttr("before"), a.intAttr("after"));
      default -> throw new IrException("unknown op '" + mnemonic + "'");
    };
    a.requireAllUsed();
    return op;
  }

  private static Op.FusedConv.Residual residual(String v) {
    for (Op.FusedConv.Residual r : Op.FusedConv.Residual.values()) {
      if (r.name().equalsIgnoreCase(v)) return r;
    }
    throw new IrException("bad residual '" + v + "', expected none, add or subsample");
  }

  /** The {@code key=value} attributes of one node; each must be used exactly once by the op. */
  private record Attrs(String op, Map<String, String> values, Set<String> used) {
    Attrs(String op, Map<String, String> values) {
      this(op, values, new HashSet<>());
    }

    String get(String key) {
      String v = values.get(key);
      if (v == null) throw new IrException(op + " needs attribute " + key);
      used.add(key);
      return v;
    }

    int intAttr(String key) {
      return parseInt(get(key), key);
    }

    float floatAttr(String key) {
      return parseFloat(get(key), key);
    }

    boolean bool(String key) {
      return switch (get(key)) {
        case "true" -> true;
        case "false" -> false;
        default -> throw new IrException("bad " + key + " '" + values.get(key) + "', expected true or false");
      };
    }

    /** {@code [0.485,0.456,0.406]}. */
    float[] floats(String key) {
      String v = get(key);
      if (!v.startsWith("[") || !v.endsWith("]")) throw new IrException("bad " + key + " '" + v + "', expected [a,b,...]");
      String body = v.substring(1, v.length() - 1).strip();
      if (body.isEmpty()) return new float[0];
      String[] parts = body.split(",", -1);
      float[] fs = new float[parts.length];
      for (int i = 0; i < parts.length; i++) fs[i] = parseFloat(parts[i].strip(), key);
      return fs;
    }

    /** Square kernels only: {@code kernel=3x3}. */
    int kernel() {
      String v = get("kernel");
      String[] kk = v.split("x", -1);
      if (kk.length != 2) throw new IrException("bad kernel '" + v + "', expected KxK");
      int k = parseInt(kk[0], "kernel");
      if (k != parseInt(kk[1], "kernel")) throw new IrException("kernel " + v + " is not square");
      return k;
    }

    void requireAllUsed() {
      for (String key : values.keySet()) {
        if (!used.contains(key)) throw new IrException(op + " has no attribute " + key);
      }
    }
  }
}
