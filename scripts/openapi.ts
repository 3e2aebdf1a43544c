import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openApiYaml } from './openapi-document.js';

const target = path.resolve(import.meta.dirname, '..', 'openapi.yaml');
writeFileSync(target, await openApiYaml());
console.log(`wrote ${target}`);
