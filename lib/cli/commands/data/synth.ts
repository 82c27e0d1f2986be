/**
 * `rstar data synth --out DIR [--train N] [--test N] [--seed S] [--json]`: writes the synthetic
 * curriculum (lib/synth/curriculum.ts) as DIR/train.jsonl and DIR/test.jsonl (plus curriculum.json),
 * ready for `rstar generate --problems DIR/train.jsonl`. The last stdout line with --json is
 * {dir, seed, train: {path, count, levels}, test: {...}}.
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { invalidArgument } from '../../../errors.js';
import { DEFAULT_TEST, DEFAULT_TRAIN, MAX_SPLIT, writeCurriculum, type WrittenCurriculum } from '../../../synth/curriculum.js';
import { LEVEL_DESCRIPTIONS, LEVELS } from '../../../synth/templates.js';
import { printJsonLine } from '../../output.js';

export interface SynthArgs {
  out: string;
  train: number;
  test: number;
  seed: number;
  json: boolean;
}

export async function runSynth(args: SynthArgs): Promise<WrittenCurriculum> {
  if (typeof args.out !== 'string' || args.out.trim() === '') throw invalidArgument('a directory', '--out', args.out);
  for (const [flag, value, min, max] of [['--train', args.train, 1, MAX_SPLIT], ['--test', args.test, 1, MAX_SPLIT], ['--seed', args.seed, 0, 2 ** 32 - 1]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalidArgument(`an integer between ${min} and ${max}`, flag, value);
  }
  const written = await writeCurriculum(args.out, { train: args.train, test: args.test, seed: args.seed });
  if (args.json) printJsonLine(written);
  else {
    const levels = (l: Record<string, number>): string => LEVELS.map((k) => `L${k} ${l[k]}`).join(', ');
    process.stdout.write(
      `${written.train.path}: ${written.train.count} problems (${levels(written.train.levels)})\n` +
        `${written.test.path}: ${written.test.count} problems (${levels(written.test.levels)})\n`,
    );
  }
  return written;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'write a synthetic curriculum of word problems with exact answers (train.jsonl, test.jsonl)',
  builder: (y) =>
    y
      .usage(
        '$0 data synth --out DIR [--train N] [--test N] [--seed S]\n\nLevels (balanced, problem i has level i mod 5 + 1):\n' +
          LEVELS.map((l) => `  ${l}  ${LEVEL_DESCRIPTIONS[l]}`).join('\n') +
          '\n\nTrain and test share no (template, numbers) instance, so no question either.',
      )
      .option('out', { type: 'string', demandOption: true, describe: 'output directory (created)' })
      .option('train', { type: 'number', default: DEFAULT_TRAIN, describe: 'problems in train.jsonl' })
      .option('test', { type: 'number', default: DEFAULT_TEST, describe: 'problems in test.jsonl' })
      .option('seed', { type: 'number', default: 0, describe: 'seed (the same seed gives the same files)' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object with the counts per level' })
      .example('$0 data synth --out data/synth', '400 train and 100 test problems')
      .example('$0 generate --problems data/synth/train.jsonl --out run1', 'search them'),
  handler: async (args: ArgumentsCamelCase<SynthArgs>) => {
    await runSynth(args);
  },
};
