/**
 * The Redis a queue run talks to: `--queue redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (`rediss://`
 * for TLS). A password can also come from `RSTAR_REDIS_PASSWORD` (kept out of `ps` and shell
 * history); it is never printed or recorded: `describe` masks it.
 *
 * `checkRedis` is the preflight every queue command runs once: it connects with a short timeout and
 * no retries, so a wrong address or password is one clear error instead of ioredis retrying forever,
 * and it warns when the server may evict keys (BullMQ's jobs must never be evicted). After it, BullMQ's
 * own connections reconnect on their own when Redis restarts.
 */
import { Redis } from 'ioredis';
import { RstarError, invalidArgument } from '../errors.js';

/** A parsed `--queue` URL. */
export interface QueueAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * Reads `--queue`: the URL, with `RSTAR_REDIS_PASSWORD` when the URL has no password.
 *
 * @example parseQueueUrl('redis://:pw@10.0.0.5:6380/2'); // { host: '10.0.0.5', port: 6380, db: 2, password: 'pw', tls: false }
 */
export function parseQueueUrl(url: string, env: NodeJS.ProcessEnv = process.env): QueueAddress {
  const expected = 'redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (or rediss:// for TLS)';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidArgument(expected, '--queue', url);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw invalidArgument(expected, '--queue', url);
  if (u.hostname === '') throw invalidArgument(`${expected} with a host`, '--queue', url);
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw invalidArgument(`${expected}; DB is a database number`, '--queue', url);
  if (u.search !== '' || u.hash !== '') throw invalidArgument(`${expected} without ?query or #fragment`, '--queue', describeUrl(url));
  const password = u.password !== '' ? decodeURIComponent(u.password) : env.RSTAR_REDIS_PASSWORD || undefined;
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: dbText === '' ? 0 : Number(dbText),
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(password !== undefined ? { password } : {}),
    tls: u.protocol === 'rediss:',
  };
}

/**
 * The address in words, password masked.
 *
 * @example describeAddress(parseQueueUrl('redis://:pw@10.0.0.5')); // 'redis://:***@10.0.0.5:6379/0'
 */
export function describeAddress(a: QueueAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  const auth = a.password !== undefined ? `${a.username ?? ''}:***@` : a.username !== undefined ? `${a.username}@` : '';
  return `${a.tls ? 'rediss' : 'redis'}://${auth}${host}:${a.port}/${a.db}`;
}

function describeUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : auth}@`);
}

/** Connection settings of the address (ioredis options; BullMQ's `connection`). */
export interface RedisSettings {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

/** The connection settings for the address. */
export function redisOptions(a: QueueAddress): RedisSettings {
  return {
    host: a.host,
    port: a.port,
    db: a.db,
    ...(a.username !== undefined ? { username: a.username } : {}),
    ...(a.password !== undefined ? { password: a.password } : {}),
    ...(a.tls ? { tls: {} } : {}),
  };
}

/** What the preflight found. */
export interface RedisInfo {
  version: string;
  /** `maxmemory-policy`, or null when the server does not say (CONFIG disabled). */
  maxmemoryPolicy: string | null;
}

/**
 * Connects once, quickly, and reports the server's version and eviction policy; a failure is an
 * RstarError that says what to check.
 *
 * @example
 * const info = await checkRedis(parseQueueUrl('redis://127.0.0.1:6379/0'));
 */
export async function checkRedis(a: QueueAddress, timeoutMs = 5_000): Promise<RedisInfo> {
  const client = new Redis({ ...redisOptions(a), lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: Error | null = null; // the socket's or server's error: connect() itself only says the connection closed
  client.on('error', (err: Error) => (cause ??= err));
  const where = describeAddress(a);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const message = (cause ?? (err as Error)).message;
    if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(message)) {
      throw new RstarError('IO', `Redis at ${where} refused the credentials (${message}): give the password in the URL (redis://:PASSWORD@HOST:PORT/DB) or in RSTAR_REDIS_PASSWORD`);
    }
    throw new RstarError('IO', `Cannot reach Redis at ${where} (${message}): is redis-server running there, bound to an interface this machine reaches (its "bind" setting), with the port open?`);
  }
  try {
    const info = await client.info('server');
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
    let maxmemoryPolicy: string | null = null;
    try {
      const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
      maxmemoryPolicy = reply[1] ?? null;
    } catch {
      // CONFIG renamed or disabled on managed servers: the policy is the operator's to check
    }
    return { version, maxmemoryPolicy };
  } finally {
    client.disconnect();
  }
}

/** A warning line when the server may evict queue keys, else null. */
export function evictionWarning(info: RedisInfo, where: string): string | null {
  if (info.maxmemoryPolicy === null || info.maxmemoryPolicy === 'noeviction') return null;
  return `warning: Redis at ${where} has maxmemory-policy ${info.maxmemoryPolicy}; under memory pressure it may delete jobs and results. Set "maxmemory-policy noeviction" (redis.conf or CONFIG SET).`;
}
