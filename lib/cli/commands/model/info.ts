/** `rstar model info FILE [--json]`: what a GGUF holds, read from its header. */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { inspectModel, type ModelFileInfo } from '../../../engine/model-files.js';
import { printJsonLine } from '../../output.js';

interface InfoArgs {
  file: string;
  json: boolean;
  metadata: boolean;
}

export async function runInfo(args: InfoArgs): Promise<ModelFileInfo> {
  const info = await inspectModel(args.file);
  if (args.json) {
    const { metadata, ...rest } = info;
    printJsonLine(args.metadata ? info : { ...rest, metadataKeys: Object.keys(metadata).length });
    return info;
  }
  const lines = [
    `file          ${info.path} (${(info.fileBytes / 1048576).toFixed(1)} MiB, GGUF v${info.ggufVersion})`,
    `architecture  ${info.architecture}${info.name ? ` (${info.name})` : ''}${info.randomWeights ? ' — random weights: for speed, never accuracy' : ''}`,
    `shape         ${info.layers} layers, embd ${info.embd}, heads ${info.heads}/${info.kvHeads}, ff ${info.ff}, ctx ${info.contextLength}`,
    `vocabulary    ${info.vocabSize} tokens`,
    `tensors       ${info.tensorCount}: ${Object.entries(info.tensorTypes).map(([t, n]) => `${n} ${t}`).join(', ')}`,
    `value head    ${info.hasValueHead ? `yes (a PPM; transform ${String(info.metadata['rstar.value_head.transform'] ?? 'tanh_div5')})` : 'no'}`,
  ];
  if (args.metadata) for (const [k, v] of Object.entries(info.metadata)) lines.push(`  ${k} = ${typeof v === 'object' ? `${v.type}[${v.length}]` : String(v).slice(0, 120)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return info;
}

export const infoCommand: CommandModule<object, InfoArgs> = {
  command: 'info <file>',
  describe: 'show a GGUF file\'s architecture, shape, tensor types and whether it carries a PPM value head',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'GGUF file' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .option('metadata', { type: 'boolean', default: false, describe: 'include every metadata key' }),
  handler: async (args: ArgumentsCamelCase<InfoArgs>) => {
    await runInfo(args);
  },
};
