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
