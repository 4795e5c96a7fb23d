import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseGrant, type Grant } from '@herald/protocol';
import Database from 'better-sqlite3';

/** What every key starts with, so that a key is recognisable in a config file or a leak scanner. */
export const KEY_PREFIX = 'hk_';
const KEY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const KEYS_FILE = 'keys.db';

export interface KeyRecord {
  readonly id: string;
  readonly name: string;
  /** The first characters of the key, to recognise it in a list; the key itself is never stored. */
  readonly prefix: string;
  grant: Grant;
  readonly createdAt: number;
  /** Set when the key is revoked while the hub holds it: connections that used it are closed. */
  revoked: boolean;
}

export class KeyError extends Error {
  override name = 'KeyError';
}

/**
 * Where API keys are kept: `<data>/keys.db` for a hub on its own (`KeyStore`), Redis for hubs that share
 * one (`RedisKeyStore`), so that a key created or revoked once counts on every hub. `lookup` answers from
 * memory (it runs on every connection); `watch` keeps that memory in step with what other processes
 * (`herald keys`, other hubs) changed, and reports the keys that went away.
 */
export interface KeyBook {
  /** Keys held now. */
  readonly size: number;
  /** Where the keys are, for messages: "in /var/lib/herald", "in Redis 127.0.0.1:6379 (prefix herald)". */
  readonly where: string;
  /** The record of a presented key, or undefined (unknown or revoked). */
  lookup(key: string): KeyRecord | undefined;
  /** The record of a key by its id (a pass names the key it was issued for), or undefined. */
  byId(id: string): KeyRecord | undefined;
  list(): Promise<KeyRecord[]>;
  /** Creates a key and returns it: the only time it is ever shown. */
  create(name: string, grant: Grant): Promise<{ key: string; record: KeyRecord }>;
  /** Deletes a key by name; returns whether there was one. */
  revoke(name: string): Promise<boolean>;
  watch(intervalMs: number, onRevoked: (records: KeyRecord[]) => void): void;
  close(): Promise<void>;
}

/** Checks a new key's name and grant and makes the key; the caller stores `row`. */
export function newKey(name: string, grant: Grant): { key: string; hash: string; record: KeyRecord } {
  if (!KEY_NAME.test(name)) throw new KeyError(`key name "${name}" must be 1-64 characters of [A-Za-z0-9_.-]`);
  const checked = parseGrant(grant);
  if (typeof checked === 'string') throw new KeyError(checked);
  if (!checked.admin && checked.subscribe.length === 0 && checked.publish.length === 0) {
    throw new KeyError('a key needs at least one permission: --allow subscribe:<pattern>, --allow publish:<pattern> or --allow admin');
  }
  const key = KEY_PREFIX + randomBytes(24).toString('base64url');
  return { key, hash: hashKey(key), record: { id: randomBytes(8).toString('hex'), name, prefix: key.slice(0, 8), grant: checked, createdAt: Date.now(), revoked: false } };
}

export function duplicateName(name: string): KeyError {
  return new KeyError(`a key named "${name}" exists already: revoke it first or pick another name`);
}

/** A key as a store reads it back: its hash, and the record's fields (grant not yet checked). */
export interface KeyRow {
  hash: string;
  id: string;
  name: string;
  prefix: string;
  grant: unknown;
  createdAt: number;
}

/**
 * What both key stores share: the keys last read, in memory (`lookup` runs on every connection), and
 * what a fresh read means — records kept for the keys still there (open connections hold them), the
 * ones gone marked revoked and reported to the watcher.
 */
export abstract class CachedKeys {
  private byHash = new Map<string, KeyRecord>();
  private byIdMap = new Map<string, KeyRecord>();
  protected onRevoked: ((records: KeyRecord[]) => void) | undefined;

  get size(): number {
    return this.byIdMap.size;
  }

  byId(id: string): KeyRecord | undefined {
    return this.byIdMap.get(id);
  }

  lookup(key: string): KeyRecord | undefined {
    if (!key.startsWith(KEY_PREFIX)) return undefined;
    return this.byHash.get(hashKey(key));
  }

  /** The keys held, oldest first. */
  protected sorted(): KeyRecord[] {
    return [...this.byIdMap.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Holds `rows` from now on (a row whose grant no longer parses is left out); reports the keys gone. */
  protected replace(rows: Iterable<KeyRow>): void {
    const byHash = new Map<string, KeyRecord>();
    const byId = new Map<string, KeyRecord>();
    for (const row of rows) {
      const grant = parseGrant(row.grant);
      if (typeof grant === 'string' || typeof row.id !== 'string') continue;
      const record = this.byIdMap.get(row.id) ?? { id: row.id, name: row.name, prefix: row.prefix, grant, createdAt: row.createdAt, revoked: false };
      record.grant = grant;
      byHash.set(row.hash, record);
      byId.set(row.id, record);
    }
    const revoked = [...this.byIdMap.values()].filter((r) => !byId.has(r.id));
    for (const record of revoked) record.revoked = true;
    this.byHash = byHash;
    this.byIdMap = byId;
    if (revoked.length > 0) this.onRevoked?.(revoked);
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  grant_json TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`;

interface Row {
  id: string;
  name: string;
  hash: string;
  prefix: string;
  grant_json: string;
  created_at: number;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * API keys in `<dataDir>/keys.db`, stored as SHA-256 hashes (a key is 192 random bits, so a plain hash
 * cannot be reversed by guessing). `herald keys` writes the file while the hub runs; the hub notices
 * through SQLite's `data_version` and drops revoked keys at once, also from connections already open.
 */
export class KeyStore extends CachedKeys implements KeyBook {
  readonly where: string;
  private readonly db: Database.Database | undefined;
  private dataVersion = -1;
  private watcher: NodeJS.Timeout | undefined;

  /** `create: false` opens the file only if it exists (a hub on the memory store leaves no file behind). */
  constructor(dataDir: string, create = true) {
    super();
    this.where = `in ${dataDir}`;
    const file = join(dataDir, KEYS_FILE);
    if (!create && !existsSync(file)) return;
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.reload();
  }

  async list(): Promise<KeyRecord[]> {
    this.reload();
    return this.sorted();
  }

  async create(name: string, grant: Grant): Promise<{ key: string; record: KeyRecord }> {
    const db = this.requireDb();
    const { key, hash, record } = newKey(name, grant);
    const row: Row = { id: record.id, name, hash, prefix: record.prefix, grant_json: JSON.stringify(record.grant), created_at: record.createdAt };
    try {
      db.prepare('INSERT INTO keys (id, name, hash, prefix, grant_json, created_at) VALUES (@id, @name, @hash, @prefix, @grant_json, @created_at)').run(row);
    } catch (error) {
      if (String(error).includes('UNIQUE')) throw duplicateName(name);
      throw error;
    }
    this.reload(true);
    return { key, record: this.byId(row.id)! };
  }

  async revoke(name: string): Promise<boolean> {
    const changes = this.requireDb().prepare('DELETE FROM keys WHERE name = ?').run(name).changes;
    this.reload(true);
    return changes > 0;
  }

  /**
   * Polls for changes made by other processes (`herald keys revoke`); `onRevoked` hears of every key
   * that disappeared. Checking `data_version` costs one pragma; the table is read only when it moved.
   */
  watch(intervalMs: number, onRevoked: (records: KeyRecord[]) => void): void {
    this.onRevoked = onRevoked;
    if (!this.db) return;
    this.watcher = setInterval(() => this.reload(), intervalMs);
    this.watcher.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.watcher);
    if (this.db?.open) this.db.close();
  }

  /** Re-reads the table if another connection changed it. */
  private reload(force = false): void {
    if (!this.db) return;
    // data_version moves only with other connections' commits: this connection's own writes force a read.
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion && !force) return;
    this.dataVersion = version;
    const rows = this.db.prepare<[], Row>('SELECT * FROM keys').all();
    this.replace(rows.map((r) => ({ hash: r.hash, id: r.id, name: r.name, prefix: r.prefix, grant: JSON.parse(r.grant_json), createdAt: r.created_at })));
  }

  private requireDb(): Database.Database {
    if (!this.db) throw new KeyError('no key file in this data folder');
    return this.db;
  }
}
