package resnetc.ir;

/** A malformed IR graph or IR text; the message says where and what. */
public class IrException extends RuntimeException {
  public IrException(String message) {
    super(message);
  }
}
