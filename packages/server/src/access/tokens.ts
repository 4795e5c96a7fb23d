import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseGrant, type Grant } from '@herald/protocol';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';

/** The smallest HS256 secret accepted: shorter ones can be brute-forced offline from one token. */
export const MIN_SECRET_LENGTH = 32;

export interface TokenOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** A PEM public key (the text, or a path to a file holding it): RS256 for RSA keys, ES256 for P-256. */
  publicKey?: string;
  /** A path to a JWKS file (`{"keys":[…]}`): RS256 and ES256 keys, picked by `kid`. */
  jwksFile?: string;
  audience?: string;
  issuer?: string;
}

export interface VerifiedToken {
  subject: string;
  grant: Grant;
  /** Milliseconds since the epoch (`exp` is required). */
  expiresAt: number;
}

export class TokenError extends Error {
  override name = 'TokenError';
}

const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'] as const;

/**
 * Verifies JWTs with `jose` against an algorithm allow-list built from what is configured: HS256 only
 * with a secret, RS256/ES256 only with a public key or JWKS. A token whose header names any other
 * algorithm (`none`, or HS256 signed with the public key as the secret) is refused before any key is
 * used. `exp` is required; `aud` and `iss` are checked when configured.
 */
export class TokenVerifier {
  private readonly secret: Uint8Array | undefined;
  private readonly publicKey: KeyObject | undefined;
  private readonly publicAlgorithm: string | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;
  private readonly algorithms: string[];

  constructor(private readonly options: TokenOptions) {
    if (options.secret !== undefined) {
      if (options.secret.length < MIN_SECRET_LENGTH) throw new TokenError(`the JWT secret must be at least ${MIN_SECRET_LENGTH} characters (openssl rand -base64 48 makes one)`);
      this.secret = new TextEncoder().encode(options.secret);
    }
    if (options.publicKey !== undefined) {
      const pem = options.publicKey.includes('-----BEGIN') ? options.publicKey : readText(options.publicKey, 'JWT public key');
      try {
        this.publicKey = createPublicKey(pem);
      } catch (error) {
        throw new TokenError(`the JWT public key is not a PEM public key: ${(error as Error).message}`);
      }
      const type = this.publicKey.asymmetricKeyType;
      this.publicAlgorithm = type === 'rsa' ? 'RS256' : type === 'ec' ? 'ES256' : undefined;
      if (!this.publicAlgorithm) throw new TokenError(`the JWT public key is ${type ?? 'of an unknown type'}; RSA (RS256) and EC P-256 (ES256) keys are supported`);
    }
    if (options.jwksFile !== undefined) {
      let set: unknown;
      try {
        set = JSON.parse(readText(options.jwksFile, 'JWKS file'));
      } catch (error) {
        if (error instanceof TokenError) throw error;
        throw new TokenError(`the JWKS file ${options.jwksFile} is not JSON`);
      }
      this.jwks = createLocalJWKSet(set as Parameters<typeof createLocalJWKSet>[0]);
    }
    this.algorithms = [
      ...(this.secret ? ['HS256'] : []),
      ...(this.publicAlgorithm ? [this.publicAlgorithm] : []),
      ...(this.jwks ? ASYMMETRIC_ALGORITHMS : []),
    ].filter((a, i, all) => all.indexOf(a) === i);
  }

  get configured(): boolean {
    return this.algorithms.length > 0;
  }

  /** Verifies a token; throws TokenError with a sentence fit for a 401 (never the token itself). */
  async verify(token: string): Promise<VerifiedToken> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, (header, input) => this.keyFor(header.alg, header, input), {
        algorithms: this.algorithms,
        audience: this.options.audience,
        issuer: this.options.issuer,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw new TokenError(describe(error));
    }
    const grant = parseGrant(payload.herald);
    if (typeof grant === 'string') throw new TokenError(`token refused: ${grant}`);
    return { subject: typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : 'token', grant, expiresAt: payload.exp! * 1000 };
  }

  private keyFor(alg: string | undefined, ...rest: Parameters<JWTVerifyGetKey>): ReturnType<JWTVerifyGetKey> {
    if (alg === 'HS256' && this.secret) return this.secret;
    if (alg === this.publicAlgorithm && this.publicKey) return this.publicKey;
    if (this.jwks && alg !== 'HS256') return this.jwks(...rest);
    throw new TokenError(`token refused: algorithm ${String(alg)} is not allowed`);
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new TokenError(`cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** A reason a user can act on, from jose's error classes; never echoes the token. */
function describe(error: unknown): string {
  if (error instanceof TokenError) return error.message;
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'token not valid yet (nbf)';
    if (error.claim === 'exp') return 'token refused: exp is required';
    return `token refused: claim ${error.claim} ${error.reason === 'check_failed' ? 'does not match' : 'is missing or invalid'}`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token refused: algorithm not allowed';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token refused: bad signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'token refused: no matching key in the JWKS';
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid) return 'token refused: malformed';
  return 'token refused';
}

export interface MintOptions {
  subject: string;
  grant: Grant;
  ttlSeconds: number;
  audience?: string;
  issuer?: string;
}

/** Signs an HS256 token with the hub's secret (`herald token`, tests). */
export async function mintToken(secret: string, options: MintOptions): Promise<string> {
  if (secret.length < MIN_SECRET_LENGTH) throw new TokenError(`the JWT secret must be at least ${MIN_SECRET_LENGTH} characters`);
  const jwt = new SignJWT({ herald: options.grant })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSeconds);
  if (options.audience) jwt.setAudience(options.audience);
  if (options.issuer) jwt.setIssuer(options.issuer);
  return jwt.sign(new TextEncoder().encode(secret));
}
