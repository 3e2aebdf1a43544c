import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { OPENAPI_TYPES_FILE, openApiTypes, openApiYaml } from './openapi-document.js';

const target = path.resolve(import.meta.dirname, '..', 'openapi.yaml');
const yaml = await openApiYaml();
writeFileSync(target, yaml);
console.log(`wrote ${target}`);
writeFileSync(OPENAPI_TYPES_FILE, await openApiTypes(yaml));
console.log(`wrote ${OPENAPI_TYPES_FILE}`);
