import busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { HeraldError } from '../errors.js';

/** The one file of a `multipart/form-data` upload, as it arrives. */
export interface MultipartFile {
  stream: Readable;
  /** The part's own Content-Type (what a browser's form or `curl -F` sends for the file). */
  contentType: string;
  /** The file name the part carried, if any (shown by the dashboard, never used as a path). */
  filename: string | undefined;
  /** Stops reading the body (a refused or over-the-cap upload): the parser lets go of the request. */
  abandon(): void;
}

/**
 * What the parser is allowed for the parts around the file: a form may carry a few small text fields
 * (ignored), but a body of thousands of parts or huge headers costs no more than these.
 */
const FORM_LIMITS = { files: 1, fields: 16, fieldSize: 4096, parts: 32, headerPairs: 32 } as const;

/**
 * The first file part of a multipart body (busboy parses it as a stream; nothing is buffered). Resolves
 * once the file's part headers are read, or rejects with `bad_request` when the body is malformed or
 * ends without a file. `maxBytes` is the attachment cap: the parser stops one byte past it, so that the
 * store sees the upload is too large and refuses it; the whole body, parts around the file included, is
 * read no further than `maxBodyBytes` (a chunked body of endless ignored parts is refused as too large).
 */
export function firstFilePart(request: IncomingMessage, maxBytes: number, maxBodyBytes: number): Promise<MultipartFile> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: request.headers, limits: { ...FORM_LIMITS, fileSize: maxBytes + 1 } });
    } catch (error) {
      reject(new HeraldError('bad_request', `the multipart body cannot be read: ${(error as Error).message}`));
      return;
    }
    let found: Readable | undefined;
    let read = 0;
    const countBytes = (chunk: Buffer) => {
      read += chunk.length;
      if (read <= maxBodyBytes) return;
      const tooLarge = new HeraldError('attachment_too_large', `the upload passed ${maxBodyBytes} bytes; the cap is ${maxBytes} for the file (--max-attachment-bytes)`);
      abandon();
      if (found) found.destroy(tooLarge);
      else reject(tooLarge);
    };
    const abandon = () => {
      request.off('data', countBytes);
      request.unpipe(parser);
      parser.removeAllListeners('file');
      parser.destroy();
    };
    request.on('data', countBytes);
    parser.on('file', (_field, stream, info) => {
      if (found) {
        stream.resume();
        return;
      }
      found = stream;
      resolve({ stream, contentType: info.mimeType, filename: info.filename || undefined, abandon });
    });
    parser.on('error', (error: Error) => {
      if (!found) reject(new HeraldError('bad_request', `the multipart body cannot be read: ${error.message}`));
    });
    parser.on('close', () => {
      request.off('data', countBytes);
      if (!found) reject(new HeraldError('bad_request', 'the multipart body has no file part: send the file as a form field with a filename (curl -F "file=@shot.png")'));
    });
    request.pipe(parser);
  });
}
