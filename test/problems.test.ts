/**
 * lib/data/problems.ts on the four real benchmark files, read exactly as published, and on small
 * temporary files for the plain format, JSON arrays and every error message.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { BENCHMARKS, benchmarkPath, loadProblems, resolveProblemFile } from '../lib/data/problems.js';
import { DataError, RstarError } from '../lib/errors.js';
import { isEquivalent } from '../lib/grade/index.js';
import { benchmarkDataDir, packageRoot } from '../lib/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'rstar-problems-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

function tempFile(name: string, content: string): string {
  const path = join(tmp, name);
  writeFileSync(path, content);
  return path;
}

function rawLines(file: string): Record<string, string>[] {
  return readFileSync(join(benchmarkDataDir, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, string>);
}

test('GSM8K: 1319 problems, gold after "####" without thousands commas, rationale kept', async (t) => {
  const problems = await loadProblems(join(benchmarkDataDir, 'gsm8k_test.jsonl'));
  t.is(problems.length, 1319);
  const raw = rawLines('gsm8k_test.jsonl');
  for (let i = 0; i < problems.length; i++) {
    const p = problems[i];
    t.is(p.source, 'gsm8k');
    t.is(p.id, `gsm8k-${i + 1}`);
    t.is(p.question, raw[i].question);
    t.regex(p.answer, /^-?\d+$/, `${p.id}: ${p.answer}`);
    t.is(p.meta.rawAnswer, raw[i].answer);
    t.is(typeof p.meta.rationale, 'string');
    t.false((p.meta.rationale as string).includes('####'));
  }
  t.is(problems[0].answer, '18');
  t.true(problems[0].question.startsWith('Janet\u2019s ducks'));
  const withCommas = problems.filter((p) => /#### -?\d{1,3}(,\d{3})+$/.test(p.meta.rawAnswer as string));
  t.true(withCommas.length >= 10, 'the file has comma-grouped answers such as "#### 1,600"');
  for (const p of withCommas) t.is(p.answer, (p.meta.rawAnswer as string).split('####')[1].trim().replace(/,/g, ''));
});

test('MATH500: 500 problems, LaTeX answers verbatim, unique_id as id, the rest in meta', async (t) => {
  const problems = await loadProblems(join(benchmarkDataDir, 'math500_test.jsonl'));
  t.is(problems.length, 500);
  const raw = rawLines('math500_test.jsonl');
  for (let i = 0; i < problems.length; i++) {
    const p = problems[i];
    t.is(p.id, raw[i].unique_id);
    t.is(p.question, raw[i].problem);
    t.is(p.answer, raw[i].answer, 'LaTeX answers are kept as published');
    t.is(p.source, 'math500');
    t.deepEqual(Object.keys(p.meta).sort(), ['level', 'solution', 'subject']);
    t.regex(p.meta.level as string, /^Level [1-5]$/);
  }
  t.is(problems[0].id, 'test/precalculus/807.json');
  t.is(problems[0].answer, '\\left( 3, \\frac{\\pi}{2} \\right)');
});

test('AIME 2024: 30 problems, zero-padded answers become plain integers', async (t) => {
  const problems = await loadProblems(join(benchmarkDataDir, 'aime24_test.jsonl'));
  t.is(problems.length, 30);
  const raw = rawLines('aime24_test.jsonl');
  for (let i = 0; i < problems.length; i++) {
    const p = problems[i];
    t.is(p.id, String(raw[i].id));
    t.is(p.answer, String(Number(raw[i].answer)));
    t.true(isEquivalent(p.answer, raw[i].answer as string));
    t.is(p.source, 'aime24');
    t.is(p.meta.url, raw[i].url);
    t.is(p.meta.question, undefined, 'the duplicate `question` field equals `problem` and is not repeated');
  }
  const padded = problems.find((p) => p.meta.rawAnswer === '025');
  t.truthy(padded);
  t.is(padded?.answer, '25');
  t.is(problems.filter((p) => p.meta.rawAnswer !== undefined).length, problems.filter((p) => /^0/.test(String(raw[problems.indexOf(p)].answer))).length);
});

test('AMC 2023: 40 problems, float answers such as 27.0 become "27"', async (t) => {
  const problems = await loadProblems(join(benchmarkDataDir, 'amc23_test.jsonl'));
  t.is(problems.length, 40);
  for (const p of problems) {
    t.regex(p.answer, /^-?\d+$/);
    t.is(typeof p.meta.rawAnswer, 'number');
    t.is(p.source, 'amc23');
  }
  t.is(problems[0].answer, '27');
  t.is(problems[0].id, '0');
  t.true(problems.some((p) => p.answer === '-1'));
});

test('limit reads only the first problems', async (t) => {
  const problems = await loadProblems(join(benchmarkDataDir, 'gsm8k_test.jsonl'), { limit: 5 });
  t.is(problems.length, 5);
  t.is(problems[4].id, 'gsm8k-5');
  t.deepEqual(await loadProblems(join(benchmarkDataDir, 'aime24_test.jsonl'), { limit: 0 }), []);
  await t.throwsAsync(loadProblems(join(benchmarkDataDir, 'aime24_test.jsonl'), { limit: -1 }), { message: /Expected an integer between 0 and .* for options.limit but received -1/ });
});

test('plain {question, answer} records, JSON arrays, CRLF, BOM and a source override', async (t) => {
  const jsonl = tempFile('mine_test.jsonl', '\ufeff{"question": "1+1?", "answer": "2"}\r\n\r\n{"question": "half?", "answer": "\\\\frac{1}{2}", "id": "h"}\r\n');
  const a = await loadProblems(jsonl);
  t.deepEqual(a, [
    { id: 'mine-1', question: '1+1?', answer: '2', source: 'mine', meta: {} },
    { id: 'h', question: 'half?', answer: '\\frac{1}{2}', source: 'mine', meta: {} },
  ]);
  const array = tempFile('set.json', JSON.stringify([{ problem: 'p1', answer: 3.5 }, { question: 'p2', answer: '#### 1,000', level: 2 }]));
  const b = await loadProblems(array, { source: 'custom' });
  t.is(b.length, 2);
  t.is(b[0].answer, '3.5');
  t.is(b[1].answer, '1000');
  t.is(b[1].meta.level, 2);
  t.is(b[0].source, 'custom');
  t.is(b[1].id, 'custom-2');
});

test('bad files and lines fail with file:line and what was expected', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['badjson.jsonl', '{"question": "a", "answer": "1"}\n{"question": "b", "answer": \n', /badjson\.jsonl:2 is not valid JSON .*one problem object per line/],
    ['noq.jsonl', '{"answer": "1", "text": "x"}\n', /noq\.jsonl:1: expected a non-empty "problem" or "question" string but the record has the fields answer, text/],
    ['noa.jsonl', '\n\n{"question": "q"}\n', /noa\.jsonl:3: expected an "answer" string or number but found no "answer" field/],
    ['obj.jsonl', '{"question": "q", "answer": {"v": 1}}\n', /obj\.jsonl:1: expected an "answer" string or number but found \{"v":1\}/],
    ['arr.jsonl', '[1, 2]\n', /arr\.jsonl starts with "\[" but is not a valid JSON array|arr\.jsonl: record 1: expected a JSON object/],
    ['notobj.jsonl', '"just a string"\n', /notobj\.jsonl:1: expected a JSON object with a question and an answer but found "just a string"/],
    ['hash.jsonl', '{"question": "q", "answer": "work\\n#### "}\n', /hash\.jsonl:1: the "answer" has "####" but no final answer after it/],
    ['dup.jsonl', '{"id": 1, "question": "q", "answer": "1"}\n{"id": 1, "question": "r", "answer": "2"}\n', /dup\.jsonl:2 repeats the id "1" of .*dup\.jsonl:1/],
    ['empty.jsonl', '\n\n', /empty\.jsonl holds no problems/],
    ['badarray.json', '[{"question": "q", "answer": "1"},', /badarray\.json starts with "\[" but is not a valid JSON array/],
    ['arrayitem.json', '[{"question": "q", "answer": "1"}, 7]', /arrayitem\.json: record 2: expected a JSON object with a question and an answer but found 7/],
  ];
  for (const [name, content, message] of cases) {
    const error = await t.throwsAsync(loadProblems(tempFile(name, content)), { instanceOf: DataError }, name);
    t.regex(error?.message ?? '', message, name);
    t.is(error?.code, 'DATA');
  }
  const missing = await t.throwsAsync(loadProblems(join(tmp, 'missing.jsonl')), { instanceOf: RstarError });
  t.is(missing?.code, 'IO');
  t.regex(missing?.message ?? '', /Cannot read the problem file .*missing\.jsonl: ENOENT/);
});

test('benchmarks are found by name inside the package, and other names must be existing files', async (t) => {
  for (const name of BENCHMARKS) {
    const path = resolveProblemFile(name);
    t.true(path.startsWith(packageRoot), `${name} resolves inside the package: ${path}`);
    t.false(path.includes(`${sep}shared${sep}`), path);
    t.true((await loadProblems(path, { limit: 1 })).length === 1);
  }
  t.is(resolveProblemFile(benchmarkPath('amc23')), benchmarkPath('amc23'));
  t.throws(() => resolveProblemFile('gsm8k_test'), { message: /problem file or one of the benchmark names gsm8k, math500, aime24, amc23.*--problems/ });
});
