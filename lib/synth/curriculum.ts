/**
 * The synthetic curriculum: math word problems with exact answers at five levels (lib/synth/templates.ts
 * lists them), generated from a seed, split into a train and a test set that share no problem. It is
 * what `npm run evolve` trains on when no dataset can be downloaded, and what `rstar data synth` writes.
 *
 * Records: `{id, question, answer, level, skill, template, program}`, one per line, readable by
 * `loadProblems` (lib/data/problems.ts) and so by every command. `answer` is an integer ("42") or a
 * reduced fraction ("5/2"), the grader's plain forms; `program` is the reference solution in our step
 * style (`# Step k:` comments, `# Now print the final answer`, `print(...)`), whose printed output is
 * the answer (the tests run every program in the real sandbox and grade its output against `answer`).
 *
 * Mix and order: problem i of a split has level (i mod 5) + 1, so levels are balanced (they differ by at
 * most one); within a level a skill is drawn uniformly, then one of its templates, then the numbers, then
 * the words (names, objects). A split is a prefix-stable stream: `--test 20` gives the first 20 problems
 * of `--test 100` with the same seed.
 *
 * Disjointness. An *instance* is a template and its numbers, `(template id, numbers)`; the words are
 * not part of it. No instance occurs twice in the curriculum: not within a split and not across train
 * and test. Hence also no question text is shared (a question determines its instance), and a test
 * problem never reappears in train under other names or objects. The test split is drawn first, from
 * its own stream, so it depends only on the seed and its size; train then skips every test instance.
 * Not covered: instances that differ only by the order of commutative numbers (12 + 30 vs 30 + 12) or
 * by a template of the same skill count as different problems.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, assertInteger } from '../errors.js';
import { writeJsonAtomic, writeJsonlAtomic } from '../data/jsonl.js';
import { FINAL_PRINT_COMMENT } from '../steps/markers.js';
import { Rng } from './random.js';
import { LEVELS, LEVEL_DESCRIPTIONS, NAMES, OBJECTS, ITEMS, TEMPLATES, WORD_PLACEHOLDERS, formatRat, templatesOf, type Level, type Plan, type Template, type Values } from './templates.js';

/** One generated problem, as written to the JSONL files. */
export interface SynthProblem {
  /** `synth-<seed>-<split>-<ordinal>`, unique over both splits. */
  id: string;
  question: string;
  /** An integer or a reduced fraction `p/q`. */
  answer: string;
  level: Level;
  skill: string;
  /** The template id; with the numbers it is the instance that train and test never share. */
  template: string;
  /** The reference program; what it prints is the answer. */
  program: string;
}

export interface CurriculumOptions {
  /** Problems in the train split (default 400). */
  train?: number;
  /** Problems in the test split (default 100). */
  test?: number;
  /** Seed of every draw (default 0). */
  seed?: number;
}

export interface Curriculum {
  seed: number;
  train: SynthProblem[];
  test: SynthProblem[];
}

export const DEFAULT_TRAIN = 400;
export const DEFAULT_TEST = 100;
/** Most problems in one split: the templates hold far more instances, but drawing stays quick. */
export const MAX_SPLIT = 100_000;

/** The disjointness key of an instance: template id and numbers (see the file header). */
export function instanceKey(templateId: string, values: Values): string {
  return `${templateId}:${Object.keys(values)
    .sort()
    .map((k) => `${k}=${values[k]}`)
    .join(',')}`;
}

// ---- wording and parsing ------------------------------------------------------------------------------

const PLACEHOLDER = /\{(\w+)\}/g;
const isWord = (name: string): boolean => (WORD_PLACEHOLDERS as readonly string[]).includes(name);

function fillWords(rng: Rng): Record<string, string> {
  const name = rng.pick(NAMES);
  const friend = rng.pick(NAMES.filter((n) => n !== name));
  const items = rng.pick(ITEMS);
  return { name, friend, objs: rng.pick(OBJECTS), items, items2: rng.pick(ITEMS.filter((i) => i !== items)) };
}

/** The question of `template` with these numbers and words. */
export function renderQuestion(template: Template, values: Values, words: Record<string, string>): string {
  return template.text.replace(PLACEHOLDER, (whole, key: string) => {
    if (isWord(key)) return words[key] ?? whole;
    if (!(key in values)) throw new Error(`template ${template.id} has no value for {${key}}`);
    return String(values[key]);
  });
}

interface CompiledTemplate {
  template: Template;
  regex: RegExp;
  /** For each capture group, the placeholder it reads (words included). */
  groups: string[];
}

let compiled: CompiledTemplate[] | null = null;

function compileTemplates(): CompiledTemplate[] {
  if (compiled) return compiled;
  compiled = TEMPLATES.map((template) => {
    const groups: string[] = [];
    let source = '';
    let last = 0;
    for (const m of template.text.matchAll(PLACEHOLDER)) {
      source += escapeRegex(template.text.slice(last, m.index));
      source += isWord(m[1]) ? '(.+?)' : '(\\d+)';
      groups.push(m[1]);
      last = m.index + m[0].length;
    }
    source += escapeRegex(template.text.slice(last));
    return { template, regex: new RegExp(`^${source}$`), groups };
  });
  return compiled;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A question recognised as the wording of one template. */
export interface ParsedQuestion {
  template: Template;
  values: Values;
}

/**
 * Recognises a curriculum question: the template whose wording it follows and its numbers. Null for any
 * other text. Only the question is read (this is how the bootstrap policy "understands" a problem).
 *
 * @example parseCurriculumQuestion('A farm had 40 sheep and the farmer sold 12 of them. How many sheep are on the farm now?')
 * // { template: <sub.farm>, values: { a: 40, b: 12 } }
 */
export function parseCurriculumQuestion(question: string): ParsedQuestion | null {
  const text = question.trim();
  for (const c of compileTemplates()) {
    const m = c.regex.exec(text);
    if (!m) continue;
    const values: Record<string, number> = {};
    c.groups.forEach((name, i) => {
      if (!isWord(name)) values[name] = Number(m[i + 1]);
    });
    return { template: c.template, values };
  }
  return null;
}

// ---- programs -----------------------------------------------------------------------------------------

/** The reference program of a plan: `# Step k:` comments, the code, then the final print. */
export function renderProgram(plan: Plan): string {
  const parts = plan.steps.map((s, i) => `# Step ${i + 1}: ${s.comment}\n${s.lines.join('\n')}`);
  parts.push(`${FINAL_PRINT_COMMENT}\nprint(${plan.answerVar})`);
  return `${parts.join('\n\n')}\n`;
}

// ---- generation ---------------------------------------------------------------------------------------

function drawProblem(rng: Rng, level: Level): { template: Template; values: Values; words: Record<string, string> } {
  const templates = templatesOf(level);
  const skills = [...new Set(templates.map((t) => t.skill))];
  const skill = rng.pick(skills);
  const template = rng.pick(templates.filter((t) => t.skill === skill));
  const values = template.draw(rng);
  return { template, values, words: fillWords(rng) };
}

function drawSplit(split: 'train' | 'test', count: number, seed: number, taken: Set<string>): SynthProblem[] {
  const rng = new Rng('rstar-synth', seed, split);
  const out: SynthProblem[] = [];
  const width = Math.max(4, String(count).length);
  for (let i = 0; i < count; i++) {
    const level = LEVELS[i % LEVELS.length];
    for (let attempt = 0; ; attempt++) {
      if (attempt >= 10_000) throw new DataError(`the level-${level} templates ran out of new instances after ${out.length} ${split} problems; ask for fewer problems`);
      const { template, values, words } = drawProblem(rng, level);
      const key = instanceKey(template.id, values);
      if (taken.has(key)) continue;
      taken.add(key);
      out.push({
        id: `synth-${seed}-${split}-${String(i + 1).padStart(width, '0')}`,
        question: renderQuestion(template, values, words),
        answer: formatRat(template.answer(values)),
        level,
        skill: template.skill,
        template: template.id,
        program: renderProgram(template.plan(values)),
      });
      break;
    }
  }
  return out;
}

/**
 * Generates a curriculum: the test split first (so it depends only on the seed and its size), then a
 * train split that shares no instance with it. Deterministic: the same options give the same problems.
 *
 * @example
 * const { train, test } = generateCurriculum({ train: 400, test: 100, seed: 1 });
 * train[0]; // { id: 'synth-1-train-0001', question: '…', answer: '…', level: 1, skill: 'add', template: 'add.walk', program: '…' }
 */
export function generateCurriculum(options: CurriculumOptions = {}): Curriculum {
  const train = assertInteger(options.train ?? DEFAULT_TRAIN, 'train', 1, MAX_SPLIT);
  const test = assertInteger(options.test ?? DEFAULT_TEST, 'test', 1, MAX_SPLIT);
  const seed = assertInteger(options.seed ?? 0, 'seed', 0, 2 ** 32 - 1);
  const taken = new Set<string>();
  const testSet = drawSplit('test', test, seed, taken);
  const trainSet = drawSplit('train', train, seed, taken);
  return { seed, train: trainSet, test: testSet };
}

/** Problems per level, keyed "1" … "5". */
export function countLevels(problems: readonly { level: number }[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(LEVELS.map((l) => [String(l), 0]));
  for (const p of problems) counts[String(p.level)] = (counts[String(p.level)] ?? 0) + 1;
  return counts;
}

export interface WrittenSplit {
  path: string;
  count: number;
  levels: Record<string, number>;
}

export interface WrittenCurriculum {
  dir: string;
  seed: number;
  train: WrittenSplit;
  test: WrittenSplit;
}

/**
 * Writes `train.jsonl`, `test.jsonl` and `curriculum.json` (the options, counts and level descriptions)
 * into `dir`, creating it; each file is written atomically.
 *
 * @example await writeCurriculum('data/synth', { train: 400, test: 100, seed: 0 });
 */
export async function writeCurriculum(dir: string, options: CurriculumOptions = {}): Promise<WrittenCurriculum> {
  const curriculum = generateCurriculum(options);
  await mkdir(dir, { recursive: true });
  const write = async (split: 'train' | 'test'): Promise<WrittenSplit> => {
    const path = join(dir, `${split}.jsonl`);
    const problems = curriculum[split];
    await writeJsonlAtomic(path, problems);
    return { path, count: problems.length, levels: countLevels(problems) };
  };
  const train = await write('train');
  const test = await write('test');
  await writeJsonAtomic(join(dir, 'curriculum.json'), {
    generator: 'rstar data synth',
    seed: curriculum.seed,
    disjointness: 'no (template, numbers) instance occurs twice over train and test',
    levels: Object.fromEntries(LEVELS.map((l) => [l, { description: LEVEL_DESCRIPTIONS[l], templates: templatesOf(l).map((t) => t.id) }])),
    train: { count: train.count, levels: train.levels },
    test: { count: test.count, levels: test.levels },
  });
  return { dir, seed: curriculum.seed, train, test };
}
