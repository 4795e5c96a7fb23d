import { ErrorCodes, type ErrorCode } from '@herald/protocol';

/** A failure with a code from the shared table; HTTP answers with the code's status, WebSocket with an error reply. */
export class HeraldError extends Error {
  override name = 'HeraldError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }
}
