import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body as JSON (error answers and upload answers are JSON). */
  json(): any;
}

/** One request on a fresh connection with a binary body (uploads) and a binary answer (downloads). */
export function rawRequest(method: string, url: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes, json: () => JSON.parse(bytes.toString()) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Uploads `body` as an attachment of `channel`. */
export function upload(base: string, channel: string, body: Buffer | string, contentType: string | undefined, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return rawRequest('POST', `${base}/api/channels/${encodeURIComponent(channel)}/attachments`, body, { ...(contentType ? { 'content-type': contentType } : {}), ...headers });
}

/**
 * POSTs `chunk` over and over as a chunked body (at most `maxBytes`) until the hub answers: a client
 * that keeps sending past a cap. Returns the answer and how many bytes had been written by then.
 */
export function streamUntilAnswered(url: string, headers: Record<string, string>, chunk: Buffer, maxBytes: number): Promise<{ status: number; body: string; sent: number }> {
  let sent = 0;
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent: false, headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, sent }));
    });
    req.on('error', reject);
    let stopped = false;
    req.on('response', () => (stopped = true));
    const pump = () => {
      while (!stopped && sent < maxBytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!stopped) req.end();
    };
    pump();
  });
}
