import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.js';

/** Node arguments that run a TypeScript entry point of this repository from any cwd. */
export function tsxArgs(script: string): string[] {
  return [
    '--import',
    import.meta.resolve('tsx'),
    path.resolve(import.meta.dirname, '../..', script),
  ];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `npm run cli -- <command> ...` as a real process (in an empty working directory, so it
 * never touches ./.data), resolving with its exit code and output.
 */
export async function runCli(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [...tsxArgs('src/cli.ts'), command, ...args],
      {
        cwd: tempDir('journal-cli-'),
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'test',
          JWT_SECRET: randomBytes(48).toString('base64url'),
          ...env,
        },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/**
 * `node <args>` as a real process with exactly `env` (plus PATH), optionally writing `input`
 * to its standard input; resolves with its exit code and output. For compiled entry points
 * (`node dist/cli.js …`), where tsx must not be involved.
 */
export async function runNode(
  args: string[],
  options: { cwd: string; env: Record<string, string>; input?: string; timeoutMs?: number },
): Promise<CliResult> {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signal) => resolve(exitCode ?? (signal ? -1 : 0)));
  });
  return { code, stdout, stderr };
}
