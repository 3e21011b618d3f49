// Logs 200 MB through the daemon's logger to a stdout nobody reads, then reports its heap on
// stderr and waits to be killed (a flush on exit would block on the full pipe).
import { createLogger } from '../../src/daemon/logger.js';

const log = createLogger('info', { cluster: 'flood' });
const filler = 'x'.repeat(1000);
for (let i = 0; i < 200_000; i++) log.info({ i, filler }, 'flood');
globalThis.gc?.();
process.stderr.write(`heap ${process.memoryUsage().heapUsed}\n`);
setInterval(() => {}, 1000);
