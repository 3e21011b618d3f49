// The command through tsx, from the sources: what bin/sandfleet.js ran before the compiled
// build (the benchmarks' "before"; see sandfleetArgs).
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
