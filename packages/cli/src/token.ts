import { parseArgs } from 'node:util';
import { parseGrant } from '@herald/protocol';
import { mintToken, parseDuration, TokenError } from '@herald/server';

export const tokenUsage = `Usage: herald token --sub <subject> [--subscribe <pattern>…] [--publish <pattern>…] [--admin] [--ttl 1h]

  Mints a development JWT (HS256) signed with the hub's secret, for browsers and apps to test with.
  In production your own auth service issues the tokens (see docs/security.md).
  --jwt-secret  the hub's secret (default $HERALD_JWT_SECRET)
  --audience    aud claim (default $HERALD_JWT_AUDIENCE)
  --issuer      iss claim (default $HERALD_JWT_ISSUER)
  --ttl         lifetime: 30s, 15m, 1h, 7d (default 1h)`;

/** `herald token`: a development token from the configured secret. */
export async function token(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sub: { type: 'string' },
      subscribe: { type: 'string', multiple: true },
      publish: { type: 'string', multiple: true },
      admin: { type: 'boolean' },
      ttl: { type: 'string' },
      'jwt-secret': { type: 'string' },
      audience: { type: 'string' },
      issuer: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(tokenUsage), 0;
  const fail = (message: string) => (console.error(`herald token: ${message}`), 2);
  const secret = values['jwt-secret'] ?? process.env.HERALD_JWT_SECRET;
  if (!secret) return fail('no secret: pass --jwt-secret or set HERALD_JWT_SECRET (the hub must use the same one)');
  if (!values.sub) return fail('--sub is required (who the token is for)');
  const ttlMs = parseDuration(values.ttl ?? '1h');
  if (ttlMs === undefined || ttlMs < 1000) return fail(`--ttl "${values.ttl}" is not a duration of at least 1s (30s, 15m, 1h, 7d)`);
  // Checked as the hub will read the claim, so that a token it would refuse is never minted.
  const grant = parseGrant({ subscribe: values.subscribe ?? [], publish: values.publish ?? [], admin: values.admin === true });
  if (typeof grant === 'string') return fail(grant);
  try {
    const jwt = await mintToken(secret, {
      subject: values.sub,
      grant,
      ttlSeconds: Math.round(ttlMs / 1000),
      audience: values.audience ?? (process.env.HERALD_JWT_AUDIENCE || undefined),
      issuer: values.issuer ?? (process.env.HERALD_JWT_ISSUER || undefined),
    });
    console.log(jwt);
    return 0;
  } catch (error) {
    if (error instanceof TokenError) return fail(error.message);
    throw error;
  }
}
