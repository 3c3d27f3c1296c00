package resnetc.onnx;

/**
 * An ONNX model resnetc does not import: unreadable, malformed, hostile, or using an op, attribute, type or shape
 * it does not support. The message names the file, the node (or tensor) and the reason, on one line.
 */
public final class OnnxImportException extends IllegalArgumentException {
  public OnnxImportException(String message) {
    super(message);
  }
}
