/** The hub the client commands talk to: `--url`, else `HERALD_URL`, else the default local hub. */
export function hubUrl(flag: string | undefined): string {
  return (flag ?? process.env.HERALD_URL ?? 'http://127.0.0.1:7070').replace(/\/+$/, '');
}

export const URL_OPTION = { url: { type: 'string' as const } };
