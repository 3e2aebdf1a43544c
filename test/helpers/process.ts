import path from 'node:path';

/** Node arguments that run a TypeScript entry point of this repository from any cwd. */
export function tsxArgs(script: string): string[] {
  return [
    '--import',
    import.meta.resolve('tsx'),
    path.resolve(import.meta.dirname, '../..', script),
  ];
}
