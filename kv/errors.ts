/**
 * The errors a `KvService` throws for conditions its callers (the REST API) map to statuses.
 * `createApp`'s single `onError` turns each into `{"error": {"code", "message"}}` with the status
 * named on the class. Anything else becomes a 500.
 */

/** 503 + `Retry-After`: no leader is known; the request was not proposed and will never apply. */
export class NoLeaderError extends Error {
  override name = "NoLeaderError";
  /** Seconds a client should wait before retrying. */
  readonly retryAfterSeconds: number;
  constructor(
    message = "No leader is known; retry shortly",
    options?: { retryAfterSeconds?: number },
  ) {
    super(message);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

/** 503 + `Retry-After`: the node cannot serve yet (starting, removed, stopping, catching up). */
export class NotReadyError extends Error {
  override name = "NotReadyError";
  readonly retryAfterSeconds: number;
  constructor(
    message = "The node is not ready to serve",
    options?: { retryAfterSeconds?: number },
  ) {
    super(message);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

/** 504: the request was proposed but not applied in time; its outcome is unknown. */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
  constructor(
    message = "The request was proposed but timed out waiting for commit; it may still apply",
  ) {
    super(message);
  }
}

/** 412: an `If-Match` / `If-None-Match` condition failed. `currentRevision` is 0 for an absent key. */
export class PreconditionFailedError extends Error {
  override name = "PreconditionFailedError";
  readonly currentRevision: number;
  constructor(currentRevision: number, message?: string) {
    super(
      message ??
        (currentRevision === 0
          ? "Precondition failed: the key does not exist"
          : `Precondition failed: the key's current revision is ${currentRevision}`),
    );
    this.currentRevision = currentRevision;
  }
}

/** 404: no such key or member. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
  constructor(message = "Not found") {
    super(message);
  }
}

/** 400: a malformed request (bad key, bad JSON, bad query, bad member id...). */
export class BadRequestError extends Error {
  override name = "BadRequestError";
  constructor(message: string) {
    super(message);
  }
}

/** 413: the request body is larger than allowed. */
export class PayloadTooLargeError extends Error {
  override name = "PayloadTooLargeError";
  readonly limitBytes: number;
  constructor(limitBytes: number, message?: string) {
    super(message ?? `Request body is larger than ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

/** 409: the request conflicts with the cluster's state (e.g. adding a member id that exists). */
export class ConflictError extends Error {
  override name = "ConflictError";
  constructor(message: string) {
    super(message);
  }
}
