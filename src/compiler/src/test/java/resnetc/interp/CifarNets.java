package resnetc.interp;

import java.util.List;
import java.util.Random;
import resnetc.ir.Graph;
import resnetc.ir.Op;
import resnetc.ir.SampleGraphs;
import resnetc.ir.TensorType;

/** CIFAR ResNets (He et al. 2016, option-A shortcuts) with random weights, for tests. */
final class CifarNets {
  private CifarNets() {}

  /** ResNet-{@code depth} (depth = 6n+2) on f32[N,3,32,32] pixels 0..255, output f32[N,10] logits. */
  static Graph resnet(int depth, long seed) {
    int blocks = (depth - 2) / 6;
    Random r = new Random(seed);
    Graph.Builder b = Graph.builder("resnet" + depth);
    b.input("input", TensorType.batched(3, 32, 32));
    b.add("norm", new Op.Normalize(255f, new float[] {0.4914f, 0.4822f, 0.4465f}, new float[] {0.247f, 0.243f, 0.261f}), List.of("input"), "");
    String x = convBnRelu(b, r, "conv1", "norm", 3, 16, 1, true);
    int in = 16;
    for (int stage = 0; stage < 3; stage++) {
      int planes = 16 << stage;
      for (int i = 0; i < blocks; i++) {
        String name = "layer" + (stage + 1) + "." + i;
        int stride = stage > 0 && i == 0 ? 2 : 1;
        String h = convBnRelu(b, r, name + ".conv1", x, in, planes, stride, true);
        h = convBnRelu(b, r, name + ".conv2", h, planes, planes, 1, false);
        String shortcut = x;
        if (stride != 1 || in != planes) {
          shortcut = b.add(name + ".shortcut", new Op.SubsamplePad(2, planes / 4, planes / 4), List.of(x), "");
        }
        b.add(name + ".add", new Op.Add(), List.of(h, shortcut), "");
        x = b.add(name + ".relu", new Op.Relu(), List.of(name + ".add"), "");
        in = planes;
      }
    }
    b.add("pool", new Op.GlobalAvgPool(), List.of(x), "");
    b.constant("linear.weight", TensorType.of(10, 64), SampleGraphs.random(r, 640, 0.3f), "");
    b.constant("linear.bias", TensorType.of(10), SampleGraphs.random(r, 10, 0.1f), "");
    b.add("linear", new Op.Dense(), List.of("pool", "linear.weight", "linear.bias"), "");
    return b.build("linear");
  }

  private static String convBnRelu(Graph.Builder b, Random r, String name, String x, int in, int out, int stride, boolean relu) {
    int fanIn = in * 9;
    b.constant(name + ".weight", TensorType.of(out, in, 3, 3), SampleGraphs.random(r, out * fanIn, (float) Math.sqrt(6.0 / fanIn)), "");
    b.add(name, new Op.Conv2d(3, stride, 1, 1), List.of(x, name + ".weight"), "");
    String bn = name + ".bn";
    float[] gamma = SampleGraphs.random(r, out, 0.2f), var = SampleGraphs.random(r, out, 0.2f);
    for (int c = 0; c < out; c++) {
      gamma[c] += relu ? 1f : 0.3f; // residual branches start small, as trained nets' do
      var[c] += 1.5f;
    }
    b.constant(bn + ".gamma", TensorType.of(out), gamma, "");
    b.constant(bn + ".beta", TensorType.of(out), SampleGraphs.random(r, out, 0.1f), "");
    b.constant(bn + ".mean", TensorType.of(out), SampleGraphs.random(r, out, 0.1f), "");
    b.constant(bn + ".var", TensorType.of(out), var, "");
    b.add(bn, new Op.BatchNorm(1e-5f), List.of(name, bn + ".gamma", bn + ".beta", bn + ".mean", bn + ".var"), "");
    return relu ? b.add(name + ".relu", new Op.Relu(), List.of(bn), "") : bn;
  }
}
