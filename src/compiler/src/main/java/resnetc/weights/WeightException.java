package resnetc.weights;

/** An unreadable or mismatched weights file; the message starts with the file path and is meant for users as is. */
public class WeightException extends RuntimeException {
  public WeightException(String message) {
    super(message);
  }
}
