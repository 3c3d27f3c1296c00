package resnetc.schedule;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The stable text form of a schedule: a header line, then one line per step, {@code %layer = kind key=value ...}.
 * {@code resnetc plan} prints it and FileCheck tests read it ("ResNet-20's 64-channel convs use tile 8x3x16",
 * "this conv is Winograd"). Offsets are floats per image; {@code @N} is an offset into the weights blob.
 */
public final class ScheduleText {
  private ScheduleText() {}

  public static String print(Schedule s) {
    StringBuilder sb = new StringBuilder();
    sb.append("schedule ").append(s.model()).append(" cpu=").append(s.cpu().name()).append(" lanes=").append(s.cpu().lanes())
        .append(" registers=").append(s.cpu().registers()).append(" winograd=").append(s.winograd());
    if (s.tuning() != null) {
      sb.append(" tuned=").append(s.tuning().choices().size()).append(" (threads=").append(s.tuning().threads()).append(" batch=")
          .append(s.tuning().batch()).append(" on \"").append(s.tuning().machine()).append("\")");
    }
    sb.append('\n');
    sb.append("  arena=").append(s.arenaPerImage()).append(" scratch=").append(s.scratchPerImage()).append(" weights=")
        .append(s.weightFloats()).append(" input=").append(s.inputOffset()).append(" output=").append(s.outputOffset()).append('\n');
    for (Step step : s.steps()) sb.append(line(step)).append('\n');
    return sb.toString();
  }

  public static String line(Step step) {
    String body = switch (step) {
      case Step.Stage t -> String.format("channels=%d in=%dx%d pad=%d stride=%d phases=%d plane=%dx%d per_image=%d", t.c(), t.h(), t.w(),
          t.pad(), t.s(), t.phases(), t.hq(), t.wq(), t.perImage());
      case Step.Conv c -> conv(c);
      case Step.WinogradInput t -> String.format("F(%dx%d,3x3) channels=%d tiles=%dx%d tp=%d to=%d lanes=%d", t.m(), t.m(), t.c(), t.th(), t.tw(),
          t.tp(), t.v(), t.lanes());
      case Step.WinogradOutput t -> String.format("F(%dx%d,3x3) channels=%d out=%dx%d from=%d bias=@%d%s%s", t.m(), t.m(), t.o(), t.oh(), t.ow(),
          t.products(), t.bias(),
          t.r() >= 0 ? " residual=add" : "", t.relu() ? " relu" : "");
      case Step.Dense d -> String.format("%d->%d weights=@%d bias=@%d", d.in(), d.out(), d.weights(), d.bias());
      case Step.Pool p -> String.format("%dx%d stride=%d pad=%d %dx%d->%dx%d%s", p.k(), p.k(), p.s(), p.pad(), p.h(), p.w(), p.oh(), p.ow(),
          p.max() || !p.countPad() ? "" : " count_pad");
      case Step.GlobalAvgPool p -> String.format("channels=%d plane=%d", p.c(), p.plane());
      case Step.BatchNorm b -> String.format("channels=%d plane=%d params=@%d", b.c(), b.plane(), b.params());
      case Step.Elementwise e -> String.format("size=%d", e.size());
      case Step.Softmax m -> String.format("len=%d", m.len());
      case Step.SubsamplePad p -> String.format("%d->%d stride=%d before=%d", p.c(), p.oc(), p.s(), p.before());
      case Step.Normalize z -> String.format("channels=%d plane=%d", z.c(), z.plane());
    };
    return String.format("%%%s = %s %s tasks=%d%s%s", step.layer(), step.kind(), body, step.tasksPerImage(),
        step.grain() > 1 ? " grain=" + (step.grain() == Integer.MAX_VALUE ? "all" : step.grain()) : "",
        step.imageMinor() ? " image_minor" : "");
  }

  private static String conv(Step.Conv c) {
    String geometry = c.yScratch() >= 0
        ? String.format("groups=%d %d->%d positions=%d channel_stride=%d", c.groups(), c.c() / c.groups(), c.o() / c.groups(), c.positions(),
            c.icStride())
        : String.format("%dx%d/%d %d->%d%s out=%dx%d%s", c.k(), c.k(), c.s(), c.c(), c.o(), c.groups() > 1 ? " groups=" + c.groups() : "",
            c.oh(), c.ow(), c.staged() ? " wq=" + c.wq() : " in_place");
    String taps = c.kk() > 1 ? " taps=[" + Arrays.stream(c.taps()).mapToObj(Integer::toString).collect(Collectors.joining(",")) + "]" : "";
    String epilogue = switch (c.residual()) {
      case NONE -> "";
      case ADD -> " residual=add";
      case SUBSAMPLE -> " residual=subsample(stride=" + c.resStride() + ",offset=" + c.resOffset() + ")";
    };
    return String.format("%s%s tile=%dx%dx%d channel_tiles=%d position_tiles=%d bands=%d weights=@%d/%d bias=@%d%s%s", geometry, taps,
        c.tile().r(), c.tile().v(), c.tile().lanes(), c.channelTiles(), c.positionTiles(), c.bands(), c.weights(), c.pack(), c.bias(), epilogue,
        c.relu() ? " relu" : "") + (c.tuned() ? " tuned" : "");
  }
}
