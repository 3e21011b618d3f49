// `sandfleet completion bash|zsh|fish`: the shell's completion script, generated from this
// program's own commands and options.
import type { Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import { emit } from '../output.js';
import { oneOf } from './arguments.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print the shell completion script (bash: source <(sandfleet completion bash); fish: sandfleet completion fish | source)')
    .argument('<shell>', SHELLS.join('|'), oneOf(SHELLS))
    .option('--json', 'print JSON ({ shell, script })')
    .action((shell: Shell, o: { json?: boolean }) => {
      const script = completionScript(program, shell);
      emit(o, { shell, script }, () => process.stdout.write(script));
    });
}
