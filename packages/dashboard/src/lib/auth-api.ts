import type { AuthInfo } from '@herald/protocol';

/**
 * The hub's sign-in routes. The session lives in an HttpOnly cookie the page cannot read: the browser
 * sends it with every same-origin fetch, SSE stream and the WebSocket upgrade, so nothing else here
 * ever holds a credential after `signIn` returns.
 */

/** A refusal from the hub, with its error code (`unauthorized`, `bad_request`…) and sentence. */
export class HubRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubRefusal';
  }
}

async function refusalOf(response: Response): Promise<HubRefusal> {
  const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
  return new HubRefusal(response.status, body?.error?.code ?? 'internal', body?.error?.message ?? `the hub answered HTTP ${response.status}`);
}

/** Who this page is signed in as. A hub older than access control has no such route: it is open. */
export async function whoAmI(): Promise<AuthInfo> {
  const response = await fetch('api/auth/me', { cache: 'no-store' });
  if (response.status === 404) return { mode: 'open' };
  if (!response.ok) throw await refusalOf(response);
  return (await response.json()) as AuthInfo;
}

/** Trades an API key or token for a session cookie; throws a HubRefusal with the hub's reason. */
export async function signIn(credential: string): Promise<AuthInfo> {
  const response = await fetch('api/auth/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ credential }),
  });
  if (!response.ok) throw await refusalOf(response);
  return (await response.json()) as AuthInfo;
}

/** Ends the session on the hub (the cookie stops working at once, not only in this browser). */
export async function signOut(): Promise<void> {
  const response = await fetch('api/auth/session', { method: 'DELETE' });
  if (!response.ok) throw await refusalOf(response);
}
