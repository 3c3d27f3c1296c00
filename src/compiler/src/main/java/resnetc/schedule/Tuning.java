package resnetc.schedule;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tuning record: per conv layer, the schedule {@code resnetc tune} measured fastest on one CPU, in place of the
 * scheduler's rules. One section per compiled CPU (a native jar carries an AVX-512 and an AVX2 library, each tuned
 * on its own); the scheduler takes the section whose target, CPU name and vector width match what it plans for, and
 * plans the layers the section does not name by its rules. Text form (stable, hand-editable):
 *
 * <pre>
 * tuning model=resnet20 target=native cpu=x86-64-v4 lanes=16 threads=2 batch=1 machine="AMD EPYC 9R14"
 *   %conv1 = direct tile=8x3 bands=4
 *   %layer1.0.conv1 = winograd tile=8x2 bands=8
 * </pre>
 *
 * {@code machine} (the CPU's model name where it was measured), {@code threads} and {@code batch} say what was
 * measured; a record compiled on another machine still applies, as a schedule choice like any other.
 */
public record Tuning(List<Section> sections) {
  /** Largest record text read, in characters: a ResNet-152 record is about 10 KB. */
  public static final int MAX_CHARS = 1 << 20;

  public Tuning {
    sections = List.copyOf(sections);
  }

  /**
   * One conv's choice: direct or Winograd, the register tile (R channels x V vectors) and the position bands per
   * channel tile (the task split: {@code tasks = channel tiles x bands} per image).
   */
  public record Choice(boolean winograd, int r, int v, int bands) {
    public Choice {
      if (r < 1 || v < 1 || bands < 1) throw new IllegalArgumentException("tile and bands must be positive, got tile=" + r + "x" + v + " bands=" + bands);
    }

    public String text() {
      return (winograd ? "winograd" : "direct") + " tile=" + r + "x" + v + " bands=" + bands;
    }
  }

  /** The choices for one compiled CPU, by conv layer name, in the order they were measured. */
  public record Section(String model, String target, String cpu, int lanes, int threads, int batch, String machine, Map<String, Choice> choices) {
    public Section {
      choices = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(choices));
      if (machine.contains("\"") || machine.contains("\n")) throw new IllegalArgumentException("machine name with a quote or line break: " + machine);
    }

    /** Whether this section is for {@code cpu} on {@code target}. */
    public boolean matches(String target, CpuModel cpu) {
      return key().equals(key(target, cpu.name(), cpu.lanes()));
    }

    /** What a record holds one section of at most: target, CPU name and vector width. */
    public String key() {
      return key(target, cpu, lanes);
    }

    static String key(String target, String cpu, int lanes) {
      return target + " " + cpu + " lanes=" + lanes;
    }

    public String header() {
      return "tuning model=" + model + " target=" + target + " cpu=" + cpu + " lanes=" + lanes + " threads=" + threads + " batch=" + batch
          + " machine=\"" + machine + "\"";
    }
  }

  public static Tuning none() {
    return new Tuning(List.of());
  }

  public boolean isEmpty() {
    return sections.isEmpty();
  }

  /** The section for {@code cpu} on {@code target}, if the record has one. */
  public Optional<Section> section(String target, CpuModel cpu) {
    return sections.stream().filter(s -> s.matches(target, cpu)).findFirst();
  }

  /** This record with {@code s} in place of its section for the same target and CPU (or added). */
  public Tuning with(Section s) {
    List<Section> out = new ArrayList<>();
    boolean replaced = false;
    for (Section old : sections) {
      if (old.key().equals(s.key())) {
        out.add(s);
        replaced = true;
      } else {
        out.add(old);
      }
    }
    if (!replaced) out.add(s);
    return new Tuning(out);
  }

  public String text() {
    StringBuilder sb = new StringBuilder("# resnetc tuning record: per conv, the schedule measured fastest (resnetc tune); see README \"Tuning\"\n");
    for (Section s : sections) {
      sb.append(s.header()).append('\n');
      s.choices.forEach((layer, c) -> sb.append("  %").append(layer).append(" = ").append(c.text()).append('\n'));
    }
    return sb.toString();
  }

  private static final Pattern HEADER = Pattern.compile(
      "tuning model=(\\S+) target=(\\S+) cpu=(\\S+) lanes=(8|16) threads=(\\d{1,4}) batch=(\\d{1,6}) machine=\"([^\"]*)\"");
  private static final Pattern CHOICE = Pattern.compile("%(\\S+) = (direct|winograd) tile=(\\d{1,2})x(\\d{1,2}) bands=(\\d{1,6})");

  /**
   * Reads a record's text; {@code source} names it in errors, which are one line: {@code source:line: what}.
   *
   * @throws IllegalArgumentException on anything but the form above (blank lines and {@code #} comments aside)
   */
  public static Tuning parse(String text, String source) {
    if (text.length() > MAX_CHARS) throw new IllegalArgumentException(source + ": a tuning record is at most " + MAX_CHARS + " characters");
    List<Section> sections = new ArrayList<>();
    String[] header = null;
    Map<String, Choice> choices = new LinkedHashMap<>();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i <= lines.length; i++) {
      String line = i < lines.length ? lines[i].strip() : null;
      if (line != null && (line.isEmpty() || line.startsWith("#"))) continue;
      Matcher h = line == null ? null : HEADER.matcher(line);
      if (line == null || h.matches()) {
        if (header != null) sections.add(section(header, choices));
        if (line == null) break;
        header = new String[] {h.group(1), h.group(2), h.group(3), h.group(4), h.group(5), h.group(6), h.group(7)};
        choices = new LinkedHashMap<>();
        String key = Section.key(header[1], header[2], Integer.parseInt(header[3]));
        if (sections.stream().anyMatch(s -> s.key().equals(key))) throw new IllegalArgumentException(where(source, i) + "a second section for " + key);
        continue;
      }
      Matcher c = CHOICE.matcher(line);
      if (!c.matches()) {
        throw new IllegalArgumentException(where(source, i) + (header == null
            ? "expected 'tuning model=... target=... cpu=... lanes=... threads=... batch=... machine=\"...\"'"
            : "expected '%layer = direct|winograd tile=RxV bands=N'") + ", got '" + abbreviate(line) + "'");
      }
      if (header == null) throw new IllegalArgumentException(where(source, i) + "a choice before any 'tuning' header");
      if (choices.containsKey(c.group(1))) throw new IllegalArgumentException(where(source, i) + "%" + c.group(1) + " is chosen twice");
      try {
        choices.put(c.group(1), new Choice(c.group(2).equals("winograd"), Integer.parseInt(c.group(3)), Integer.parseInt(c.group(4)),
            Integer.parseInt(c.group(5))));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where(source, i) + e.getMessage());
      }
    }
    if (sections.isEmpty()) throw new IllegalArgumentException(source + ": not a tuning record (no 'tuning model=...' line)");
    return new Tuning(sections);
  }

  /**
   * A record's file, its size checked before it is read.
   *
   * @throws IllegalArgumentException naming the file and what is wrong with it, in one line
   */
  public static Tuning read(java.nio.file.Path file) {
    try {
      if (!java.nio.file.Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such tuning record (a file written by resnetc tune)");
      if (java.nio.file.Files.size(file) > MAX_CHARS) throw new IllegalArgumentException(file + ": a tuning record is at most " + MAX_CHARS + " bytes");
      return parse(java.nio.file.Files.readString(file), file.toString());
    } catch (java.nio.charset.MalformedInputException e) {
      throw new IllegalArgumentException(file + ": not a tuning record (not UTF-8 text)");
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
    }
  }

  private static Section section(String[] h, Map<String, Choice> choices) {
    return new Section(h[0], h[1], h[2], Integer.parseInt(h[3]), Integer.parseInt(h[4]), Integer.parseInt(h[5]), h[6], choices);
  }

  private static String where(String source, int line) {
    return source + ":" + (line + 1) + ": ";
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }
}
