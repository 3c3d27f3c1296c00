package resnetc.target.llvm;

import java.lang.foreign.MemorySegment;
import java.util.List;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.Preprocessing;

/** A model over code the ORC JIT compiled in this process: closing it closes the model, then frees the code. */
final class JitModel implements CompiledModel {
  private final CompiledModel model;
  private final NativeJit jit;

  JitModel(CompiledModel model, NativeJit jit) {
    this.model = model;
    this.jit = jit;
  }

  @Override public String name() { return model.name(); }
  @Override public int channels() { return model.channels(); }
  @Override public int height() { return model.height(); }
  @Override public int width() { return model.width(); }
  @Override public int classes() { return model.classes(); }
  @Override public Preprocessing preprocessing() { return model.preprocessing(); }
  @Override public List<String> labels() { return model.labels(); }
  @Override public float[] predict(float[] nchw, int batch) { return model.predict(nchw, batch); }
  @Override public void predict(MemorySegment input, MemorySegment output, int batch) { model.predict(input, output, batch); }
  @Override public List<String> layers() { return model.layers(); }
  @Override public List<String> layerKinds() { return model.layerKinds(); }
  @Override public List<String> layerShapes() { return model.layerShapes(); }
  @Override public long[] layerFlops() { return model.layerFlops(); }
  @Override public long[] layerNanos() { return model.layerNanos(); }
  @Override public int threads() { return model.threads(); }
  @Override public String backend() { return model.backend(); }
  @Override public String isa() { return model.isa(); }
  @Override public int imagesPerPass() { return model.imagesPerPass(); }

  @Override
  public void close() {
    try {
      model.close();
    } finally {
      jit.close();
    }
  }
}
