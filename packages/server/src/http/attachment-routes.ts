import { attachmentPath, type AttachmentInfo } from '@herald/protocol';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { normaliseContentType, servingHeaders } from '../attachments/content-types.js';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import { requireChannel } from '../events-in.js';
import type { Hub } from '../hub.js';
import type { PublishLimiter } from '../quota/publish-limiter.js';
import { addressKey } from '../quota/rate-limited.js';
import { firstFilePart, type MultipartFile } from './multipart-file.js';

export interface AttachmentRoutesContext {
  hub: Hub;
  config: HeraldConfig;
  limiter: PublishLimiter;
  /** The content types uploads may have (essences). */
  allowedTypes: ReadonlySet<string>;
  isShuttingDown(): boolean;
}

/** Room for a multipart body's boundaries, part headers and small fields on top of the file's cap. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** How long, and how much more, a refused upload is read (and thrown away) before its socket is closed. */
const LINGER_MS = 2000;
const LINGER_BYTES = 4 * 1024 * 1024;

const channelParams = { type: 'object', properties: { channel: { type: 'string' } }, required: ['channel'] } as const;

/**
 * `POST /api/channels/{channel}/attachments` takes a file as the raw body with its own Content-Type, or
 * as the file part of a `multipart/form-data` body (a browser form, `curl -F`) with the part's type (the
 * one exception to JSON-only bodies, in a scope of its own); `GET …/attachments/{id}` serves it
 * so that nothing in it can run in the hub's origin. Both go through the hub: upload is publishing,
 * reading is subscribing.
 */
export function registerAttachmentRoutes(app: FastifyInstance, context: AttachmentRoutesContext): void {
  const { hub, config, limiter, allowedTypes, isShuttingDown } = context;
  void app.register(async (scope) => {
    // The body stays a stream: the store reads it as it arrives, and stops at the cap.
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.post('/api/channels/:channel/attachments', { schema: { params: channelParams } }, async (request, reply) => {
      if (isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down; upload again after it restarts');
      const channel = requireChannel((request.params as { channel: string }).channel);
      // Refusals before the body is read close the connection, so that its unread bytes are not taken.
      const refuseUnread = (error: HeraldError) => {
        lingerThenClose(request.raw);
        reply.header('connection', 'close');
        return error;
      };
      // Who may upload is decided first: a caller who may not learns nothing about types or caps.
      try {
        hub.authorize(request.principal, { kind: 'publish', channel });
      } catch (error) {
        throw refuseUnread(error as HeraldError);
      }
      const outer = normaliseContentType(request.headers['content-type']);
      const multipart = outer?.essence === 'multipart/form-data';
      const declared = Number(request.headers['content-length']);
      const room = config.maxAttachmentBytes + (multipart ? MULTIPART_OVERHEAD_BYTES : 0);
      if (Number.isFinite(declared) && declared > room) {
        throw refuseUnread(new HeraldError('attachment_too_large', `the ${multipart ? 'upload' : 'attachment'} is ${declared} bytes; the cap is ${config.maxAttachmentBytes} (--max-attachment-bytes)`));
      }
      // An upload costs what one published event does against the rate limits.
      limiter.admit(limiter.socketBucket(request.raw.socket), addressKey(request.ip), 1);
      let part: MultipartFile | undefined;
      if (multipart) {
        try {
          part = await firstFilePart(request.raw, config.maxAttachmentBytes, room);
        } catch (error) {
          throw refuseUnread(error as HeraldError);
        }
      }
      const type = part ? normaliseContentType(part.contentType) : outer;
      if (!type || !allowedTypes.has(type.essence)) {
        part?.abandon();
        const what = type ? `"${type.essence}"` : 'an upload without a Content-Type';
        throw refuseUnread(new HeraldError('attachment_type_not_allowed', `${what} is not an attachment type this hub takes (allowed: ${[...allowedTypes].join(', ')}; --attachment-types)${multipart ? ' — in a multipart upload the file part\'s own Content-Type counts' : ''}`));
      }
      const body = part ? part.stream : request.raw;
      let record;
      try {
        record = await hub.upload(request.principal, channel, { contentType: type.stored, body: body.iterator({ destroyOnReturn: false }) });
      } catch (error) {
        // Stopped mid-body (over the cap, or refused): the rest is not read.
        if (!body.readableEnded || part) {
          part?.abandon();
          throw refuseUnread(error as HeraldError);
        }
        throw error;
      }
      reply.code(201);
      const info: AttachmentInfo = { id: record.id, url: attachmentPath(channel, record.id), size: record.size, contentType: record.contentType, sha256: record.id };
      if (part?.filename) info.name = part.filename.slice(0, 255);
      return info;
    });
  });
  app.get(
    '/api/channels/:channel/attachments/:id',
    {
      schema: {
        params: { type: 'object', properties: { channel: { type: 'string' }, id: { type: 'string' } }, required: ['channel', 'id'] },
        querystring: { type: 'object', properties: { name: { type: 'string', maxLength: 255 } }, additionalProperties: false },
      },
    },
    async (request, reply) => {
      const { channel: name, id } = request.params as { channel: string; id: string };
      const channel = requireChannel(name);
      const found = await hub.attachment(request.principal, channel, id);
      if (!found) throw new HeraldError('not_found', `no attachment ${id} in "${channel}" (deleted with the channel's history, or never uploaded)`);
      const etag = `"${id}"`;
      const headers = { ...servingHeaders(found.record.contentType, (request.query as { name?: string }).name), etag, 'cache-control': 'private, max-age=3600', 'content-length': String(found.record.size) };
      if (request.headers['if-none-match'] === etag) {
        found.body.destroy();
        return reply.code(304).headers({ etag, 'cache-control': headers['cache-control'] }).send();
      }
      return reply.headers(headers).send(found.body);
    },
  );
}

/**
 * A client that is refused mid-upload may still be sending. Closing at once would make the TCP stack
 * answer its bytes with a reset, which can destroy the 413 before the client reads it; reading on and
 * throwing away a bounded amount for a bounded time first lets the answer arrive (a lingering close).
 */
function lingerThenClose(request: IncomingMessage): void {
  const socket = request.socket;
  let discarded = 0;
  const stop = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) stop();
  });
  request.on('end', () => clearTimeout(timer));
  socket.on('close', () => clearTimeout(timer));
  request.resume();
}
