package resnetc.runtime.serve;

/**
 * A request the server answers with an error status and a one-line message, as the JSON body
 * {@code {"error": "...", "status": N}}; never a stack trace. {@code retryAfterSeconds} > 0 adds a
 * {@code Retry-After} header (503: the server is busy, not broken).
 */
final class HttpError extends RuntimeException {
  final int status;
  final int retryAfterSeconds;

  HttpError(int status, String message) {
    this(status, message, 0);
  }

  HttpError(int status, String message, int retryAfterSeconds) {
    super(message, null, false, false); // a response, not a failure: no stack trace to fill in
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static HttpError badRequest(String message) {
    return new HttpError(400, message);
  }

  static HttpError tooLarge(String message) {
    return new HttpError(413, message);
  }

  static HttpError busy(String message) {
    return new HttpError(503, message, 1);
  }
}
