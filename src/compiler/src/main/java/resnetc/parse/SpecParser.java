package resnetc.parse;

import resnetc.diag.Pos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.antlr.v4.runtime.BaseErrorListener;
import org.antlr.v4.runtime.CharStreams;
import org.antlr.v4.runtime.CommonTokenStream;
import org.antlr.v4.runtime.ParserRuleContext;
import org.antlr.v4.runtime.RecognitionException;
import org.antlr.v4.runtime.Recognizer;
import org.antlr.v4.runtime.Token;
import org.antlr.v4.runtime.tree.TerminalNode;
import resnetc.diag.Diagnostic;
import resnetc.diag.SpecException;
import resnetc.parse.ResnetParser.*;

/** Text to {@link Ast.Spec}; syntax errors are collected (all of them) and thrown as one {@link SpecException}. */
public final class SpecParser {
  private SpecParser() {}

  public static Ast.Spec parse(Path path) {
    String source;
    try {
      source = Files.readString(path, StandardCharsets.UTF_8);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new SpecException(List.of(new Diagnostic(path.toString(), new Pos(1, 1), "cannot read spec: no such file")), null);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new SpecException(List.of(new Diagnostic(path.toString(), new Pos(1, 1), "cannot read spec: not UTF-8 text")), null);
    } catch (IOException e) {
      String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      throw new SpecException(List.of(new Diagnostic(path.toString(), new Pos(1, 1), "cannot read spec: " + why)), null);
    }
    return parse(path.toString(), source);
  }

  public static Ast.Spec parse(String file, String source) {
    List<Diagnostic> errors = new ArrayList<>();
    SpecContext tree = parser(file, source, errors).spec();
    if (!errors.isEmpty()) throw new SpecException(errors, source);
    return new Builder(file, source).spec(tree);
  }

  /**
   * A preprocess section on its own, as the CLI's {@code --preprocess "scale 1/255 mean [..] std [..]"} gives it
   * for models without a spec: parsed as the spec item {@code preprocess { BODY }}, which the diagnostics show.
   */
  public static Ast.Preprocess parsePreprocess(String origin, String body) {
    String source = preprocessSource(body);
    List<Diagnostic> errors = new ArrayList<>();
    ResnetParser parser = parser(origin, source, errors);
    ItemContext item = parser.item();
    if (errors.isEmpty() && parser.getCurrentToken().getType() != Token.EOF) {
      Token t = parser.getCurrentToken();
      errors.add(new Diagnostic(origin, new Pos(t.getLine(), t.getCharPositionInLine() + 1), "unexpected '" + t.getText() + "' after the preprocess section"));
    }
    if (errors.isEmpty() && !(item instanceof PreprocessItemContext)) errors.add(new Diagnostic(origin, new Pos(1, 1), "not a preprocess section"));
    if (!errors.isEmpty()) throw new SpecException(errors, source);
    return (Ast.Preprocess) new Builder(origin, source).item(item);
  }

  /** The text {@link #parsePreprocess} parses, for diagnostics against it. */
  public static String preprocessSource(String body) {
    return "preprocess { " + body.replace('\n', ' ').replace('\r', ' ') + " }";
  }

  private static ResnetParser parser(String file, String source, List<Diagnostic> errors) {
    BaseErrorListener listener = new BaseErrorListener() {
      @Override
      public void syntaxError(Recognizer<?, ?> r, Object offending, int line, int col, String msg, RecognitionException e) {
        errors.add(new Diagnostic(file, new Pos(line, col + 1), friendly(offending, msg)));
      }
    };
    ResnetLexer lexer = new ResnetLexer(CharStreams.fromString(source, file));
    lexer.removeErrorListeners();
    lexer.addErrorListener(listener);
    ResnetParser parser = new ResnetParser(new CommonTokenStream(lexer));
    parser.removeErrorListeners();
    parser.addErrorListener(listener);
    return parser;
  }

  /**
   * ANTLR's messages in the user's terms: no long expected-token sets, token names spelled out ({@code INT} is
   * "integer"), EOF as "end of file", and "no viable alternative" (which quotes the whole input since the
   * item started, without its spaces) as the token that could not be parsed.
   */
  static String friendly(Object offending, String msg) {
    Token t = offending instanceof Token tok ? tok : null;
    // Escaped like ANTLR's own messages: a string token may span lines, a message may not.
    String what = t == null ? null : t.getType() == Token.EOF ? "end of file"
        : "'" + t.getText().replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + "'";
    if (t != null && t.getType() == ResnetLexer.ERRCHAR) return "unexpected character " + what;
    if (msg.startsWith("no viable alternative") && what != null) return "unexpected " + what;
    String m = msg.replace("'<EOF>'", "end of file").replace("<EOF>", "end of file");
    int expecting = m.lastIndexOf(" expecting ");
    if (expecting >= 0) {
      String head = m.substring(0, expecting), set = m.substring(expecting + " expecting ".length());
      if (set.split(",").length > 6 && what != null) return "unexpected " + what;
      m = head + ", expecting " + (set.startsWith("{") ? "one of " + set.substring(1, set.length() - 1) : set);
      m = m.substring(0, expecting) + tokenNames(m.substring(expecting));
    }
    if (m.startsWith("missing ")) {
      int at = m.indexOf(" at ");
      if (at > 0) {
        String missing = m.substring("missing ".length(), at);
        if (missing.startsWith("{")) missing = "one of " + missing.substring(1, missing.length() - 1);
        m = "missing " + tokenNames(missing) + " before " + m.substring(at + 4);
      }
    }
    return m.replace("mismatched input", "unexpected").replace("extraneous input", "unexpected");
  }

  /** Grammar token names as a user would say them. */
  private static String tokenNames(String s) {
    return s.replaceAll("\\bINT\\b", "integer").replaceAll("\\bFLOAT\\b", "number")
        .replaceAll("\\bKERNEL\\b", "kernel size (like 3x3)").replaceAll("\\bID\\b", "name")
        .replaceAll("\\bSTRING\\b", "string");
  }

  /** Walks the (error-free) parse tree into the AST. */
  private static final class Builder {
    private final String file;
    private final String source;

    Builder(String file, String source) {
      this.file = file;
      this.source = source;
    }

    Ast.Spec spec(SpecContext ctx) {
      ModelContext m = ctx.model();
      List<Ast.Item> items = new ArrayList<>();
      for (ItemContext item : m.item()) items.add(item(item));
      return new Ast.Spec(file, source, m.name.getText(), pos(m.name), items);
    }

    Ast.Item item(ItemContext ctx) {
      Pos p = pos(ctx);
      return switch (ctx) {
        case InputItemContext c -> new Ast.Input(c.dtype.getText(), c.layout == null ? null : at(c.layout),
            c.dims.stream().map(t -> new Ast.At<>(integer(t), pos(t))).toList(), p);
        case PreprocessItemContext c -> new Ast.Preprocess(c.preOpt().stream().map(this::preOpt).toList(), p);
        case ClassesItemContext c -> new Ast.Classes(integer(c.INT().getSymbol()), p);
        case LabelsItemContext c -> new Ast.Labels(string(c.STRING()), p);
        case EpsItemContext c -> new Ast.Eps(number(c.number()), p);
        case BnItemContext c -> new Ast.BnMode(at(c.how), p);
        case StemItemContext c -> new Ast.Stem(c.layer().stream().map(this::layer).toList(), p);
        case HeadItemContext c -> new Ast.Head(c.layer().stream().map(this::layer).toList(), p);
        case BlockItemContext c -> new Ast.BlockItem(block(c.blockSpec()));
        case ShortcutItemContext c -> new Ast.ShortcutItem(shortcut(c.shortcutSpec()));
        case StageItemContext c -> stage(p, c.name, new Ast.At<>(integer(c.count), pos(c.count)),
            new Ast.At<>(integer(c.width), pos(c.width)), c.stride, c.stageOpt());
        case StageShortItemContext c -> {
          String[] parts = c.size.getText().split("x");
          Pos sp = pos(c.size);
          yield stage(p, c.name, new Ast.At<>(parseInt(parts[0]), sp), new Ast.At<>(parseInt(parts[1]), sp), c.stride, c.stageOpt());
        }
        case WeightsItemContext c -> new Ast.Weights(at(c.convention), c.weightOpt().stream().map(this::weightOpt).toList(), p);
        default -> throw new IllegalStateException("unhandled item " + ctx.getClass().getSimpleName());
      };
    }

    Ast.Stage stage(Pos p, Token name, Ast.At<Integer> count, Ast.At<Integer> width, Token stride, List<StageOptContext> opts) {
      List<Ast.Block> blocks = new ArrayList<>();
      List<Ast.Shortcut> shortcuts = new ArrayList<>();
      List<Ast.BlockOpt> tweaks = new ArrayList<>();
      for (StageOptContext o : opts) {
        switch (o) {
          case StageBlockOptContext b -> blocks.add(block(b.blockSpec()));
          case StageShortcutOptContext s -> shortcuts.add(shortcut(s.shortcutSpec()));
          case StageTweakOptContext t -> tweaks.add(blockOpt(t.blockOpt()));
          default -> throw new IllegalStateException();
        }
      }
      return new Ast.Stage(name == null ? null : at(name), count, width,
          stride == null ? null : new Ast.At<>(integer(stride), pos(stride)), blocks, shortcuts, tweaks, p);
    }

    Ast.PreOpt preOpt(PreOptContext ctx) {
      Pos p = pos(ctx);
      return switch (ctx) {
        case ScaleOptContext c -> new Ast.Scale(c.den == null ? number(c.num) : number(c.num) / number(c.den), p);
        case MeanOptContext c -> new Ast.Mean(list(c.list()), p);
        case StdOptContext c -> new Ast.Std(list(c.list()), p);
        case ResizeOptContext c -> new Ast.Resize(integer(c.INT().getSymbol()), p);
        case CropOptContext c -> new Ast.Crop(integer(c.INT().getSymbol()), p);
        default -> throw new IllegalStateException();
      };
    }

    Ast.Layer layer(LayerContext ctx) {
      Pos p = pos(ctx);
      return switch (ctx) {
        case ConvLayerContext c -> {
          Integer stride = null, pad = null;
          boolean bias = false;
          for (ConvOptContext o : c.convOpt()) {
            String kw = o.getStart().getText();
            if (kw.equals("stride")) stride = integer(o.INT().getSymbol());
            else if (kw.equals("pad")) pad = integer(o.INT().getSymbol());
            else bias = true;
          }
          yield new Ast.Conv(at(c.KERNEL().getSymbol()), integer(c.out), stride, pad, bias, p);
        }
        case BnLayerContext c -> new Ast.Bn(p);
        case ReluLayerContext c -> new Ast.Relu(p);
        case MaxpoolLayerContext c -> {
          Integer[] sp = poolOpts(c.poolOpt());
          yield new Ast.MaxPool(at(c.KERNEL().getSymbol()), sp[0], sp[1], p);
        }
        case AvgpoolLayerContext c -> {
          Integer[] sp = poolOpts(c.poolOpt());
          yield new Ast.AvgPool(c.KERNEL() == null ? null : at(c.KERNEL().getSymbol()), sp[0], sp[1], p);
        }
        case FcLayerContext c -> new Ast.Fc(c.out == null ? null : integer(c.out), c.getChildCount() == 1 || !c.getStop().getText().equals("nobias"), p);
        case SoftmaxLayerContext c -> new Ast.Softmax(p);
        default -> throw new IllegalStateException();
      };
    }

    Integer[] poolOpts(List<PoolOptContext> opts) {
      Integer[] sp = new Integer[2];
      for (PoolOptContext o : opts) sp[o.getStart().getText().equals("stride") ? 0 : 1] = integer(o.INT().getSymbol());
      return sp;
    }

    Ast.Block block(BlockSpecContext ctx) {
      // At the 'block' keyword (the parent item or stage option starts with it), like every other item.
      return new Ast.Block(at(ctx.kind), ctx.blockOpt().stream().map(this::blockOpt).toList(), pos(ctx.getParent()));
    }

    Ast.BlockOpt blockOpt(BlockOptContext ctx) {
      Pos p = pos(ctx);
      return switch (ctx) {
        case ExpansionOptContext c -> new Ast.Expansion(integer(c.INT().getSymbol()), p);
        case StrideOnOptContext c -> new Ast.StrideOn(c.KERNEL().getText(), pos(c.KERNEL().getSymbol()));
        case GroupsOptContext c -> new Ast.Groups(integer(c.INT().getSymbol()), p);
        case WidthPerGroupOptContext c -> new Ast.WidthPerGroup(integer(c.INT().getSymbol()), p);
        case WidenOptContext c -> new Ast.Widen(integer(c.INT().getSymbol()), p);
        case PreactOptContext c -> new Ast.Preact(p);
        default -> throw new IllegalStateException();
      };
    }

    Ast.Shortcut shortcut(ShortcutSpecContext ctx) {
      return new Ast.Shortcut(at(ctx.kind), ctx.placement == null ? null : at(ctx.placement), pos(ctx.getParent()));
    }

    Ast.WeightOpt weightOpt(WeightOptContext ctx) {
      Pos p = pos(ctx);
      return switch (ctx) {
        case PrefixOptContext c -> new Ast.Prefix(string(c.STRING()), p);
        case RenameOptContext c -> new Ast.Rename(unquote(c.from.getText()), unquote(c.to.getText()), p);
        case FileOptContext c -> new Ast.File(string(c.STRING()), p);
        default -> throw new IllegalStateException();
      };
    }

    List<Double> list(ListContext ctx) {
      return ctx.number().stream().map(this::number).toList();
    }

    double number(NumberContext ctx) {
      double v = Double.parseDouble(ctx.getStop().getText());
      return ctx.getStart().getText().equals("-") ? -v : v;
    }

    static int integer(Token t) {
      return parseInt(t.getText());
    }

    /** Integers too large for an int saturate; the checker rejects them as out of range. */
    static int parseInt(String s) {
      try {
        return Integer.parseInt(s);
      } catch (NumberFormatException e) {
        return Integer.MAX_VALUE;
      }
    }

    static String string(TerminalNode n) {
      return unquote(n.getText());
    }

    static String unquote(String quoted) {
      return quoted.substring(1, quoted.length() - 1).replaceAll("\\\\(.)", "$1");
    }

    Ast.At<String> at(Token t) {
      return new Ast.At<>(t.getText(), pos(t));
    }

    static Pos pos(Token t) {
      return new Pos(t.getLine(), t.getCharPositionInLine() + 1);
    }

    static Pos pos(ParserRuleContext ctx) {
      return pos(ctx.getStart());
    }
  }
}
