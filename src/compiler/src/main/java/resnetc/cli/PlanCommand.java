package resnetc.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.schedule.ScheduleText;
import resnetc.target.Targets;

@Command(name = "plan", description = "Print the schedule a backend would compile: every step's staging, tiles, task split, Winograd choice and weight layout.")
final class PlanCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC") Path spec;

  @Option(names = "--backend", defaultValue = "java", description = "the backend to plan for: java or native (default ${DEFAULT-VALUE})")
  String backend;

  @Mixin OptOptions opt = new OptOptions();

  @Mixin CodegenMixin codegen = new CodegenMixin();

  @Override
  public Integer call() {
    Frontend.Loaded l = Frontend.load(spec);
    var target = Targets.get(backend);
    var c = Driver.compile(l, l.graph(), codegen.options(backend, null, null), opt.compiledPipeline(),
        opt.instruments(target.legalization(), cmd.commandLine().getErr()));
    for (var schedule : c.schedules()) cmd.commandLine().getOut().print(ScheduleText.print(schedule));
    return 0;
  }
}
