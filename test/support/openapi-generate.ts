// `npm run openapi:generate`: writes the typed client's types from the API's OpenAPI document.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { clientTypes, GENERATED_CLIENT } from './openapi-client.js';
import { documentWithoutDatabase } from './openapi-document.js';

const types = await clientTypes(await documentWithoutDatabase());
writeFileSync(GENERATED_CLIENT, types);
console.log(`wrote ${path.relative(process.cwd(), GENERATED_CLIENT)} (${types.length} characters)`);
