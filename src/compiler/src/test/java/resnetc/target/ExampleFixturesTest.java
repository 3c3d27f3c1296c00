package resnetc.target;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ExampleFixturesTest {
  /** The backends' numeric tests leave out exactly the examples that only repeat a smaller one's layers in more blocks. */
  @Test
  void distinctExamplesDropOnlyDeeperTwins() throws Exception {
    List<String> all = ExampleFixtures.examples().map(p -> p.getFileName().toString()).toList();
    List<String> distinct = ExampleFixtures.distinctExamples().map(Path::getFileName).map(Path::toString).toList();
    assertEquals(List.of("preact_resnet18.resnet", "resnet20.resnet", "wrn16_4.resnet", "resnet18.resnet", "resnet50.resnet",
        "resnet50_v1.resnet", "resnet50d.resnet", "resnext50_32x4d.resnet", "wide_resnet50_2.resnet"), distinct, "from " + all);
  }
}
