package resnetc.runtime.serve;

import resnetc.runtime.CompiledModel;

/**
 * Which backend generated a model class and which instruction set its kernels use on this machine, for
 * {@code GET /model} and the metrics, as the model says ({@link CompiledModel#backend()}, {@link CompiledModel#isa()}).
 *
 * @param backend {@code java}, {@code native} or {@code unknown}
 * @param isa e.g. {@code x86-64-v4} or {@code Vector API, 16 lanes (512-bit)}; null when not known
 */
record ModelInfo(String backend, String isa) {
  static ModelInfo of(CompiledModel m) {
    return new ModelInfo(m.backend().isEmpty() ? "unknown" : m.backend(), m.isa().isEmpty() ? null : m.isa());
  }
}
