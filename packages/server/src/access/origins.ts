import { isIP } from 'node:net';

export interface OriginOptions {
  /** The address the hub binds. */
  host: string;
  /** The URL people use to reach the hub (behind a proxy, or a name): its host and origin are the hub's own. */
  publicUrl: string;
  /** Extra browser origins allowed to call the hub (`https://app.example.com`). */
  corsOrigins: readonly string[];
  /** Extra names the `Host` header may carry. */
  allowedHosts: readonly string[];
}

/** `own`: the hub's own pages; `cross`: an allowed other origin (gets CORS headers); `false`: refused. */
export type OriginVerdict = 'own' | 'cross' | false;

/**
 * Which browsers may talk to the hub, decided the same way for HTTP, SSE and the WebSocket upgrade.
 * A page on another origin is refused unless it is loopback or listed: binding to 127.0.0.1 does not
 * stop a page the user opens from calling the hub, but its `Origin` header gives it away. The `Host`
 * check stops DNS rebinding: a name the attacker controls, resolving to 127.0.0.1, is not one of ours.
 */
export class OriginRules {
  private readonly hostNames: Set<string>;
  private readonly origins: Set<string>;
  private readonly publicOrigin: string | undefined;

  constructor(options: OriginOptions) {
    const publicUrl = options.publicUrl ? new URL(options.publicUrl) : undefined;
    this.publicOrigin = publicUrl?.origin;
    this.hostNames = new Set([options.host, publicUrl?.hostname ?? '', ...options.allowedHosts].map((h) => unbracket(h.toLowerCase())).filter(Boolean));
    this.origins = new Set(options.corsOrigins.map((o) => new URL(o).origin));
  }

  /** Whether a `Host` header names this hub: an IP address, localhost, the bound name or a listed one. */
  hostAllowed(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined || hostHeader === '') return true;
    const name = hostnameOf(hostHeader);
    if (name === undefined) return false;
    return isIP(name) !== 0 || isLocalhostName(name) || this.hostNames.has(name);
  }

  originAllowed(origin: string, hostHeader: string | undefined): OriginVerdict {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file://) and garbage
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    if ((hostHeader !== undefined && url.host === hostHeader.toLowerCase()) || url.origin === this.publicOrigin) return 'own';
    if (isLoopback(unbracket(url.hostname)) || this.origins.has(url.origin)) return 'cross';
    return false;
  }
}

export function isLoopback(host: string): boolean {
  const name = unbracket(host.toLowerCase());
  return isLocalhostName(name) || name === '::1' || (isIP(name) === 4 && name.startsWith('127.'));
}

function isLocalhostName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function hostnameOf(hostHeader: string): string | undefined {
  try {
    return unbracket(new URL(`http://${hostHeader}`).hostname.toLowerCase());
  } catch {
    return undefined;
  }
}
