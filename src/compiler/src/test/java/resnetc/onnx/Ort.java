package resnetc.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Map;

/** ONNX Runtime (CPU) on exported models, and the comparison with the reference interpreter. */
final class Ort implements AutoCloseable {
  /** Outputs must agree with the interpreter's to {@code |ort - ref| <= TOLERANCE * max(1, |ref|)}, element by element. */
  static final double TOLERANCE = 1e-4;

  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  private final OrtSession session;

  Ort(byte[] model) throws OrtException {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      session = ENV.createSession(model, options);
    }
  }

  OrtSession session() {
    return session;
  }

  /** Runs the model on {@code batch} items of shape {@code item} (NCHW without N). */
  float[] run(float[] x, int batch, int... item) throws OrtException {
    long[] shape = new long[item.length + 1];
    shape[0] = batch;
    for (int i = 0; i < item.length; i++) shape[i + 1] = item[i];
    String input = session.getInputNames().iterator().next();
    try (OnnxTensor t = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(x), shape);
         OrtSession.Result r = session.run(Map.of(input, t))) {
      OnnxTensor y = (OnnxTensor) r.get(0);
      long[] yShape = y.getInfo().getShape();
      if (yShape[0] != batch) throw new AssertionError("output batch " + yShape[0] + " for input batch " + batch);
      FloatBuffer fb = y.getFloatBuffer();
      float[] out = new float[fb.remaining()];
      fb.get(out);
      return out;
    }
  }

  @Override
  public void close() throws OrtException {
    session.close();
  }

  /** Largest {@code |got - ref|} and largest {@code |got - ref| / max(1, |ref|)}. */
  record Error(double maxAbs, double maxRel) {
    static Error of(float[] got, float[] ref) {
      if (got.length != ref.length) throw new AssertionError(got.length + " outputs, expected " + ref.length);
      double abs = 0, rel = 0;
      for (int i = 0; i < ref.length; i++) {
        double d = Math.abs((double) got[i] - ref[i]);
        if (Double.isNaN(d)) d = Double.POSITIVE_INFINITY;
        abs = Math.max(abs, d);
        rel = Math.max(rel, d / Math.max(1, Math.abs(ref[i])));
      }
      return new Error(abs, rel);
    }

    Error max(Error o) {
      return new Error(Math.max(maxAbs, o.maxAbs), Math.max(maxRel, o.maxRel));
    }

    boolean ok() {
      return maxRel <= TOLERANCE;
    }
  }
}
