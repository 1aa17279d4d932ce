// npm run gen:types: rewrite src/client/openapi.d.ts from the API's current OpenAPI document.
import { writeFileSync } from 'node:fs';
import { generateTypes, typesFile } from './openapi.mjs';

writeFileSync(typesFile, await generateTypes());
console.log(`wrote ${typesFile}`);
