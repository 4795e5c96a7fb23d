import { INLINE_IMAGE_TYPES } from '@herald/protocol';

/**
 * What uploads may be, unless `--attachment-types` says otherwise: what test runs and jobs produce
 * (screenshots, logs, reports, traces, recordings, archives). HTML and SVG are on it because test
 * reports are made of them; they are served so that they cannot run script (see `servingHeaders`).
 */
export const DEFAULT_ATTACHMENT_TYPES: readonly string[] = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/svg+xml',
  'text/plain',
  'text/csv',
  'text/markdown',
  'text/html',
  'application/json',
  'application/pdf',
  'application/zip',
  'application/gzip',
  'application/octet-stream',
  'video/mp4',
  'video/webm',
];

const ESSENCE = /^\s*([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)\s*(?:;(.*))?$/;
const CHARSET = /(?:^|;)\s*charset\s*=\s*"?([A-Za-z0-9_.:-]{1,40})"?\s*(?:;|$)/i;

/**
 * The content type an upload is stored with: the lowercased essence, plus `charset` for text (any
 * other parameter is dropped, so what is served back is only what the hub checked). Undefined when the
 * header is not a content type.
 */
export function normaliseContentType(header: string | undefined): { essence: string; stored: string } | undefined {
  if (header === undefined || header.length > 256) return undefined;
  const match = ESSENCE.exec(header);
  if (!match) return undefined;
  const essence = match[1]!.toLowerCase();
  const charset = essence.startsWith('text/') && match[2] ? CHARSET.exec(match[2])?.[1]?.toLowerCase() : undefined;
  return { essence, stored: charset ? `${essence}; charset=${charset}` : essence };
}

/**
 * The policy every attachment is served with, whatever its type: the browser must never run anything
 * an uploader wrote in the hub's origin (where the dashboard's session cookie lives).
 * - `nosniff`: the browser takes the type the hub says, never guesses HTML from the bytes.
 * - `Content-Security-Policy: default-src 'none'; …; sandbox`: opened directly, even an HTML or SVG
 *   document runs no script, loads nothing, and is put in an opaque origin (no cookies, no storage, no
 *   same-origin requests to the hub).
 * - Raster images are `inline` (they render in `<img>` and in a tab); everything else is `attachment`,
 *   downloaded rather than shown — HTML and SVG always, as they are the types that can carry script.
 * - `Cross-Origin-Resource-Policy: same-origin`: pages on other origins cannot embed them.
 */
export function servingHeaders(contentType: string, name: string | undefined): Record<string, string> {
  const essence = contentType.split(';')[0]!.trim();
  const inline = INLINE_IMAGE_TYPES.includes(essence);
  const file = name ? safeFileName(name) : undefined;
  const disposition = `${inline ? 'inline' : 'attachment'}${file ? `; filename="${file.ascii}"; filename*=UTF-8''${file.encoded}` : ''}`;
  return {
    'content-type': contentType,
    'content-disposition': disposition,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    'cross-origin-resource-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
  };
}

/** A download name that cannot break out of the header: ASCII with unsafe characters replaced, and the RFC 5987 form. */
function safeFileName(name: string): { ascii: string; encoded: string } | undefined {
  const trimmed = name.slice(0, 255).replace(/[\\/]/g, '_');
  if (!trimmed) return undefined;
  const ascii = trimmed.replace(/[^A-Za-z0-9._ -]/g, '_');
  const encoded = encodeURIComponent(trimmed).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return { ascii, encoded };
}
