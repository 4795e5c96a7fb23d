/** The hub the client commands talk to: `--url`, else `HERALD_URL`, else the default local hub. */
export function hubUrl(flag: string | undefined): string {
  return (flag ?? process.env.HERALD_URL ?? 'http://127.0.0.1:7070').replace(/\/+$/, '');
}

/** The credential the client commands send: `--api-key`, else `HERALD_API_KEY` (a key or a token). */
export function apiKey(flag: string | undefined): string | undefined {
  return flag ?? (process.env.HERALD_API_KEY || undefined);
}

/** `--url` and `--api-key`, shared by every client command. */
export const URL_OPTION = { url: { type: 'string' as const }, 'api-key': { type: 'string' as const } };
