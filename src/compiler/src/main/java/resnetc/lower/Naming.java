package resnetc.lower;

import resnetc.check.Model;

/**
 * Names of layers as the checkpoint convention writes them. Layers with parameters are named exactly as their
 * tensors' prefix in the checkpoint, so the IR reads like the state dict it binds to.
 */
record Naming(Model.Convention convention) {
  /** The k-th conv (1-based) of the stem: {@code conv1}, then {@code conv2}, ... */
  String stemConv(int k) {
    return "conv" + k;
  }

  String stemBn(int k) {
    return "bn" + k;
  }

  /** Prefix of block {@code b} (0-based) of stage {@code s} (1-based). */
  String block(int s, int b) {
    return "layer" + s + "." + b;
  }

  /** Projection shortcut module; with {@code pooled} (option D) slot 0 holds the parameter-free avg pool. */
  String shortcutConv(String block, boolean pooled) {
    return block + "." + container() + "." + (pooled ? 1 : 0);
  }

  String shortcutBn(String block, boolean pooled) {
    return block + "." + container() + "." + (pooled ? 2 : 1);
  }

  String shortcutPool(String block) {
    return block + "." + container() + ".0";
  }

  /** The batch norm before the pool in pre-activation models. */
  String headBn() {
    return "bn";
  }

  String fc() {
    return convention == Model.Convention.CIFAR ? "linear" : "fc";
  }

  private String container() {
    return convention == Model.Convention.CIFAR ? "shortcut" : "downsample";
  }
}
