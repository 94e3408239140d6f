import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, resolveSecrets } from '../src/config.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const JWT_SECRET = 'j'.repeat(40);
const ENCRYPTION_KEY = 'ab'.repeat(32);

const scratchDirs: string[] = [];
function scratchDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tijori-config-test-'));
  scratchDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** The problems parseConfig reports for `env`; fails the test when it does not throw a ConfigError. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(env)}`);
}

describe('parseConfig', () => {
  it('has sensible defaults', () => {
    const config = parseConfig({});
    expect(config.port).toBe(5000);
    expect(config.nodeEnv).toBe('development');
    expect(config.host).toBe('0.0.0.0');
    expect(config.logLevel).toBe('info');
    expect(config.dataDir).toBe(path.resolve('./.data'));
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.jwtSecret).toBeUndefined();
    expect(config.encryptionKey).toBeUndefined();
    expect(config.bodyLimitBytes).toBe(1_048_576);
    expect(config.rateLimitMaxRequests).toBe(600);
    expect(config.rateLimitWindowMs).toBe(60_000);
    expect(config.dbPoolMax).toBe(10);
    expect(config.corsOrigins.length).toBeGreaterThan(0);
    expect(config.metricsToken).toBeUndefined();
    expect(config.trustProxy).toBe(false);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('is quiet and allows no cross origin under NODE_ENV=test', () => {
    const config = parseConfig({ NODE_ENV: 'test' });
    expect(config.logLevel).toBe('silent');
    expect(config.corsOrigins).toEqual([]);
  });

  it('reads and trims given values', () => {
    const config = parseConfig({
      PORT: ' 8080 ',
      DATA_DIR: '/var/lib/tijori',
      DATABASE_URL: 'postgresql://u:p@db.internal:5432/tijori',
      CORS_ORIGINS: 'https://a.example, https://b.example ,',
      TRUST_PROXY: 'true',
      BODY_LIMIT_BYTES: '2048',
    });
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe('/var/lib/tijori');
    expect(config.databaseUrl).toBe('postgresql://u:p@db.internal:5432/tijori');
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.trustProxy).toBe(true);
    expect(config.bodyLimitBytes).toBe(2048);
    expect(parseConfig({ PORT: '0' }).port).toBe(0);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['NODE_ENV', 'staging'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['LOG_LEVEL', 'verbose'],
    ['TRUST_PROXY', 'maybe'],
    ['BODY_LIMIT_BYTES', '10'],
    ['METRICS_TOKEN', 'short'],
    ['ADMIN_EMAIL', 'not-an-email'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.startsWith(`${name}:`)).toBe(true);
  });

  it('reports every bad variable at once', () => {
    const problems = problemsOf({ PORT: 'abc', NODE_ENV: 'staging', DATABASE_URL: 'mysql://x' });
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'DATABASE_URL',
      'NODE_ENV',
      'PORT',
    ]);
  });

  it('requires JWT_SECRET and ENCRYPTION_KEY in production, naming both', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems.some((problem) => problem.startsWith('JWT_SECRET:'))).toBe(true);
    expect(problems.some((problem) => problem.startsWith('ENCRYPTION_KEY:'))).toBe(true);
    const config = parseConfig({ NODE_ENV: 'production', JWT_SECRET, ENCRYPTION_KEY });
    expect(config.jwtSecret).toBe(JWT_SECRET);
    expect(config.encryptionKey).toBe(ENCRYPTION_KEY);
    expect(config.corsOrigins).toEqual([]);
  });

  it('refuses weak secrets without echoing them', () => {
    const problems = problemsOf({ JWT_SECRET: 'too-short-secret', ENCRYPTION_KEY: 'zz'.repeat(32) });
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).not.toContain('too-short-secret');
    expect(problems.join('\n')).not.toContain('zz'.repeat(32));
  });

  it('never echoes a password or token it refuses', () => {
    const url = problemsOf({ DATABASE_URL: 'mysql://app:hunter2-secret@db.internal/x' });
    expect(url[0]).toMatch(/^DATABASE_URL:/);
    expect(url[0]).toContain('mysql:');
    expect(url[0]).not.toContain('hunter2-secret');
    const unparsable = problemsOf({ DATABASE_URL: 'app:hunter2-secret at db' });
    expect(unparsable[0]).toMatch(/^DATABASE_URL:/);
    expect(unparsable[0]).not.toContain('hunter2-secret');
    const admin = problemsOf({ ADMIN_EMAIL: 'root@example.test', ADMIN_PASSWORD: 'pw-123' });
    expect(admin.some((problem) => problem.startsWith('ADMIN_PASSWORD:'))).toBe(true);
    expect(admin.join('\n')).not.toContain('pw-123');
    const metrics = problemsOf({ METRICS_TOKEN: 'tok-secret' });
    expect(metrics[0]).toMatch(/^METRICS_TOKEN:/);
    expect(metrics[0]).not.toContain('tok-secret');
  });

  it('wants ADMIN_EMAIL and ADMIN_PASSWORD together', () => {
    const emailOnly = problemsOf({ ADMIN_EMAIL: 'root@example.test' });
    expect(emailOnly.join('\n')).toContain('ADMIN_PASSWORD');
    const passwordOnly = problemsOf({ ADMIN_PASSWORD: 'long-enough-password' });
    expect(passwordOnly.join('\n')).toContain('ADMIN_EMAIL');
    const both = parseConfig({ ADMIN_EMAIL: 'root@example.test', ADMIN_PASSWORD: 'long-enough-password' });
    expect(both.adminEmail).toBe('root@example.test');
  });
});

describe('resolveSecrets', () => {
  it('generates the secrets once in DATA_DIR and reads the same ones back', () => {
    const dataDir = path.join(scratchDir(), 'nested', 'data');
    const first = resolveSecrets(parseConfig({ DATA_DIR: dataDir }));
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(first.encryptionKey).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(dataDir, 'secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      jwtSecret: first.jwtSecret,
      encryptionKey: first.encryptionKey,
    });

    const second = resolveSecrets(parseConfig({ DATA_DIR: dataDir }));
    expect(second.jwtSecret).toBe(first.jwtSecret);
    expect(second.encryptionKey).toBe(first.encryptionKey);

    // Another directory gets secrets of its own.
    const elsewhere = resolveSecrets(parseConfig({ DATA_DIR: scratchDir() }));
    expect(elsewhere.jwtSecret).not.toBe(first.jwtSecret);
  });

  it('prefers secrets from the environment and writes nothing when both are given', () => {
    const dataDir = scratchDir();
    const config = resolveSecrets(parseConfig({ DATA_DIR: dataDir, JWT_SECRET, ENCRYPTION_KEY }));
    expect(config.jwtSecret).toBe(JWT_SECRET);
    expect(config.encryptionKey).toBe(ENCRYPTION_KEY);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('fills in only the missing secret', () => {
    const dataDir = scratchDir();
    const config = resolveSecrets(parseConfig({ DATA_DIR: dataDir, JWT_SECRET }));
    expect(config.jwtSecret).toBe(JWT_SECRET);
    expect(config.encryptionKey).toMatch(/^[0-9a-f]{64}$/);
    expect(resolveSecrets(parseConfig({ DATA_DIR: dataDir })).encryptionKey).toBe(config.encryptionKey);
  });

  it('keeps a stored secret when completing a partial file', () => {
    const dataDir = scratchDir();
    writeFileSync(path.join(dataDir, 'secrets.json'), JSON.stringify({ jwtSecret: JWT_SECRET }));
    const config = resolveSecrets(parseConfig({ DATA_DIR: dataDir }));
    expect(config.jwtSecret).toBe(JWT_SECRET);
    expect(config.encryptionKey).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')).jwtSecret).toBe(JWT_SECRET);
  });
});

describe('the server process with a bad configuration', () => {
  it('exits non-zero with one line on stderr naming the variable, touching nothing', async () => {
    const dataDir = scratchDir();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? os.homedir(),
        NODE_ENV: 'test',
        PORT: 'abc',
        DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`main.ts did not exit; stderr: ${stderr}`));
      }, 20_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code).not.toBe(0);
    expect(code).toBe(78);
    const lines = stderr.split('\n').filter((line) => line !== '');
    expect(lines, stderr).toHaveLength(1);
    expect(stderr.endsWith('\n')).toBe(true);
    expect(lines[0]).toContain('PORT');
    expect(lines[0]).toContain('abc');
    expect(lines[0]).not.toMatch(/\bat .+:\d+:\d+/);
    expect(stdout).toBe('');
    // It stopped before creating secrets or a database.
    expect(readdirSync(dataDir)).toEqual([]);
  }, 30_000);
});
