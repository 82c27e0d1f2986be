#!/usr/bin/env node
/**
 * The `rstar` command line. yargs in strict mode, one command per file under ./commands, each
 * exporting its handler so scripts and tests call the same function the CLI does.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands.js';
import { reportFatal } from './output.js';

export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('rstar')
    .usage('$0 <command> [options]\n\nrStar-Math on a local llama.cpp engine: MCTS over code-augmented reasoning steps, a process preference model, self-evolution.')
    .strict()
    .demandCommand(1, 'Name a command (see the list above).')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .help()
    .alias('help', 'h')
    .version()
    .fail((msg, err, y) => {
      if (err) throw err;
      process.stderr.write(`${y.help() && ''}error: ${msg}\nRun with --help for usage.\n`);
      process.exit(2);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch(reportFatal);
