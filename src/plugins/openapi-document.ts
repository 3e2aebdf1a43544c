import { z } from 'zod';
import type { RequestHeaderDefinition, ResponseHeaderDefinition } from '../schemas/headers.js';

/**
 * Passes over the generated OpenAPI document (plugins/swagger.ts runs them in its
 * transformObject): each makes one promise of the document hold for every route at once,
 * so a new route keeps it without repeating anything.
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Calls `visit` on every object in the document, depth first. */
export function walk(value: unknown, visit: (node: Json) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
  } else if (isObject(value)) {
    visit(value);
    for (const child of Object.values(value)) walk(child, visit);
  }
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

/**
 * Every integer says how wide it is: `int32` when both bounds fit, `int64` otherwise (a
 * count, a chain position). The bounds themselves come from the zod schemas, which give each
 * integer its real range (a test refuses zod's default ±2^53-1, which Swagger UI showed as
 * the example of every `status`).
 */
export function integerFormats(document: unknown): void {
  walk(document, (node) => {
    const types = [node.type].flat();
    if (!types.includes('integer') || node.format !== undefined) return;
    const { minimum, maximum } = node;
    const fits =
      typeof minimum === 'number' &&
      typeof maximum === 'number' &&
      minimum >= INT32.min &&
      maximum <= INT32.max;
    node.format = fits ? 'int32' : 'int64';
  });
}

const SCHEMA_REF = '#/components/schemas/';

function schemaRefs(value: unknown): Set<string> {
  const names = new Set<string>();
  walk(value, (node) => {
    if (typeof node.$ref === 'string' && node.$ref.startsWith(SCHEMA_REF)) {
      names.add(node.$ref.slice(SCHEMA_REF.length));
    }
  });
  return names;
}

function renameRefs(value: unknown, renames: ReadonlyMap<string, string>): void {
  walk(value, (node) => {
    if (typeof node.$ref !== 'string' || !node.$ref.startsWith(SCHEMA_REF)) return;
    const to = renames.get(node.$ref.slice(SCHEMA_REF.length));
    if (to !== undefined) node.$ref = `${SCHEMA_REF}${to}`;
  });
}

/** The components reachable from the operations, following `$ref`s transitively. */
function reachableSchemas(document: Json, schemas: Json): Set<string> {
  const components = isObject(document.components) ? document.components : {};
  const others = Object.entries(components).filter(([kind]) => kind !== 'schemas');
  const reached = new Set<string>();
  const pending = [...schemaRefs(document.paths), ...schemaRefs(others)];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (reached.has(name)) continue;
    reached.add(name);
    pending.push(...schemaRefs(schemas[name]));
  }
  return reached;
}

/**
 * fastify-type-provider-zod emits every registered schema twice, `X` (as a response shows
 * it) and `XInput` (as a request sends it), whether a route uses it or not: 27 components
 * were never referenced, and `ClientCreate` typed `phone` as `unknown` (the output of a
 * transform) while the body really was `ClientCreateInput`. Each schema keeps one name here,
 * the one its id gives it: the variant the routes use is kept under the id, the other
 * dropped, and so is every component nothing reaches. A schema used both ways must read the
 * same both ways, or the document refuses to build (give the request its own id).
 */
export function oneNamePerSchema(document: Json): void {
  const components = isObject(document.components) ? document.components : {};
  const schemas = isObject(components.schemas) ? components.schemas : {};
  const used = reachableSchemas(document, schemas);
  const pairs = Object.keys(schemas).filter((name) => `${name}Input` in schemas);
  const renames = new Map(pairs.map((name) => [`${name}Input`, name]));
  for (const name of pairs) {
    const input = `${name}Input`;
    if (used.has(name) && used.has(input)) {
      const normalised = (schema: unknown) => {
        const copy = structuredClone(schema);
        renameRefs(copy, renames);
        return JSON.stringify(copy);
      };
      if (normalised(schemas[input]) !== normalised(schemas[name])) {
        throw new Error(
          `OpenAPI: schema ${name} reads differently in requests and responses; give each its own id`,
        );
      }
    }
    if (used.has(input) && !used.has(name)) schemas[name] = schemas[input];
    delete schemas[input];
    if (used.has(input)) used.add(name);
  }
  renameRefs(document, renames);
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
}

/** The headers of one operation, by name: what it reads, and what each status sends. */
export interface OperationHeaders {
  request: readonly string[];
  response: Readonly<Record<string, readonly string[]>>;
}

/** Where the per-route transform leaves an operation's headers for `documentHeaders`. */
export const HEADERS_KEY = 'x-operation-headers';

function headerSchema(definition: { schema: z.ZodType }): Json {
  const schema: Json = z.toJSONSchema(definition.schema, { target: 'draft-2020-12', io: 'input' });
  delete schema.$schema;
  return schema;
}

/**
 * Turns each operation's header names (left under HEADERS_KEY by the per-route transform)
 * into `$ref`s to one definition each, and defines only the headers some operation uses.
 */
export function documentHeaders(
  document: Json,
  definitions: {
    request: Record<string, RequestHeaderDefinition>;
    response: Record<string, ResponseHeaderDefinition>;
  },
): void {
  const parameters: Json = {};
  const headers: Json = {};
  const paths = isObject(document.paths) ? document.paths : {};
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(isObject(operations) ? operations : {})) {
      if (!isObject(operation)) continue;
      const declared = operation[HEADERS_KEY] as OperationHeaders | undefined;
      delete operation[HEADERS_KEY];
      if (!declared) continue;
      const refs = declared.request.map((name) => {
        const definition = definitions.request[name];
        if (!definition) throw new Error(`OpenAPI: no request header ${name} is defined`);
        parameters[name] = {
          name,
          in: 'header',
          required: false,
          description: definition.description,
          schema: headerSchema(definition),
        };
        return { $ref: `#/components/parameters/${name}` };
      });
      if (refs.length > 0) {
        operation.parameters = [
          ...((operation.parameters as unknown[] | undefined) ?? []),
          ...refs,
        ];
      }
      const responses = isObject(operation.responses) ? operation.responses : {};
      for (const [status, names] of Object.entries(declared.response)) {
        const response = responses[status];
        if (!isObject(response))
          throw new Error(`OpenAPI: headers for undeclared status ${status}`);
        response.headers = Object.fromEntries(
          names.map((name) => {
            const definition = definitions.response[name];
            if (!definition) throw new Error(`OpenAPI: no response header ${name} is defined`);
            headers[name] = {
              description: definition.description,
              required: definition.required ?? true,
              schema: headerSchema(definition),
              example: definition.example,
            };
            return [name, { $ref: `#/components/headers/${name}` }];
          }),
        );
      }
    }
  }
  const components = isObject(document.components) ? document.components : {};
  document.components = { ...components, parameters, headers };
}

/**
 * Swagger UI's "Try it out" sends a request body's example as shown. A request schema names
 * its example with `.meta({ requestExample })` (zod drops `examples` from the input side of a
 * schema with a transform, assuming they are outputs): it becomes the component's `examples`
 * and the example of every request body using it.
 */
export function requestExamples(document: Json): void {
  walk(document, (node) => {
    if (!('requestExample' in node)) return;
    node.examples = [node.requestExample];
    delete node.requestExample;
  });
  const components = isObject(document.components) ? document.components : {};
  const schemas = isObject(components.schemas) ? components.schemas : {};
  walk(document.paths, (node) => {
    const body = node.requestBody;
    if (!isObject(body) || !isObject(body.content)) return;
    for (const media of Object.values(body.content)) {
      if (!isObject(media) || media.example !== undefined || !isObject(media.schema)) continue;
      const ref = media.schema.$ref;
      const schema =
        typeof ref === 'string' && ref.startsWith(SCHEMA_REF)
          ? schemas[ref.slice(SCHEMA_REF.length)]
          : media.schema;
      const examples = isObject(schema) ? schema.examples : undefined;
      if (Array.isArray(examples) && examples.length > 0) media.example = examples[0];
    }
  });
}

/** Media types whose body is a sequence of JSON texts, one per line. */
const SEQUENTIAL_JSON = new Set(['application/x-ndjson', 'application/jsonl']);

/**
 * A streamed NDJSON body is not one JSON value, so a client, a mock server or a validating
 * proxy reads it as text: its schema says `string`, and carries the lines' schema as
 * `contentSchema` (JSON Schema's description of a string's content: here, as the Media Type
 * Registry reads sequential JSON for OpenAPI 3.1, the lines as if they were an array). A
 * route declares the array (`z.array(item)`); this pass turns it into that string.
 */
export function sequentialBodies(document: Json): void {
  walk(document.paths, (node) => {
    if (!isObject(node.responses)) return;
    for (const response of Object.values(node.responses)) {
      if (!isObject(response) || !isObject(response.content)) continue;
      for (const [mediaType, media] of Object.entries(response.content)) {
        if (!SEQUENTIAL_JSON.has(mediaType) || !isObject(media) || !isObject(media.schema))
          continue;
        const { description, ...lines } = media.schema;
        if (lines.type !== 'array') continue;
        media.schema = {
          type: 'string',
          ...(description !== undefined && { description }),
          contentMediaType: mediaType,
          contentSchema: lines,
        };
      }
    }
  });
}
