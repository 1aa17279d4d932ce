// Stale-type detection: the committed src/client/openapi.d.ts must be exactly what
// `npm run gen:types` produces from the API as it is now.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpOpenApi, generateTypes, typesFile } from '../scripts/openapi.mjs';

describe('generated API types', () => {
  let document: { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
  beforeAll(() => {
    document = dumpOpenApi(); // imports the Python app: seconds on a loaded machine
  }, 180_000);

  it('match the OpenAPI document of the current API (else run `npm run gen:types`)', async () => {
    const fresh = await generateTypes(structuredClone(document));
    const committed = readFileSync(typesFile, 'utf8');
    expect(committed === fresh, 'src/client/openapi.d.ts is stale: run `npm run gen:types` in web/').toBe(true);
  });

  it('would notice a change of the API', async () => {
    const changed = structuredClone(document);
    changed.components.schemas.BuscarOSQueued!.properties.via = { const: 'nova_fila', type: 'string' };
    expect(await generateTypes(changed)).not.toBe(readFileSync(typesFile, 'utf8'));
  });
});
