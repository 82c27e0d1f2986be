import test from 'ava';
import { execFileSync } from 'node:child_process';
import { resolveConfig, resolveConfigFrom, defaultConfig } from '../lib/config/index.js';
import { isEquivalent, extractBoxed } from '../lib/grade/index.js';
import { ALL_MARKERS, MARKERS, STEP_STOP_MARKERS } from '../lib/steps/markers.js';
import { classifyStep, parseStep } from '../lib/steps/parse.js';
import { codeOfStepText } from '../lib/exec/program.js';
import { outputBlock } from '../lib/steps/output.js';
import { defaultPromptTemplates, renderBootstrapPrompt, renderPolicyPrompt, renderPrompt } from '../lib/steps/prompts.js';

test('markers are spelled as in the reference and the SLM stops on the three step ends', (t) => {
  t.deepEqual([...ALL_MARKERS], [
    '<code>', '<end_of_step>', '<end_of_code>', '<output>', '<end_of_output>', '<answer>', '<end_of_answer>', '<|user|>', '<|assistant|>',
  ]);
  t.deepEqual([...STEP_STOP_MARKERS], ['<end_of_step>', '<end_of_code>', '<end_of_answer>']);
});

test('steps are classified by their end marker, answers without a marker by "boxed"', (t) => {
  t.is(classifyStep('<code>\n# Step 1: add\nx = 1 + 2\n<end_of_step>'), 'code');
  t.is(classifyStep('\n# Now print the final answer\nprint(x)\n<end_of_code>'), 'final_code');
  t.is(classifyStep('\nprint(x)\n<end_of_code>\n<output>', '<output>'), 'final_code');
  t.is(classifyStep('\n<answer>So \\boxed{3}.<end_of_answer>'), 'answer');
  t.is(classifyStep('\n<answer>So \\boxed{3}.', null), 'answer');
  t.is(classifyStep('\nx = 1\n# keep it boxed\n<end_of_step>'), 'code', 'a code step mentioning "boxed" stays a code step');
  t.is(classifyStep('\nx = 1\ny = ', null), 'unfinished');
  // the reported stop wins over the text
  t.is(classifyStep('\nx = 1\n', '<end_of_step>'), 'code');
});

test('parseStep splits comment, code and conclusion', (t) => {
  const step = parseStep('<code>\n# Step 1: Count the cookies\n# three per muffin\nmuffins = 42\n\ncookies = 3 * muffins\n<end_of_step>');
  t.is(step.kind, 'code');
  t.is(step.end, MARKERS.endOfStep);
  t.true(step.opensCode);
  t.is(step.comment, 'Step 1: Count the cookies\nthree per muffin');
  t.is(step.code, 'muffins = 42\n\ncookies = 3 * muffins');
  t.is(step.answerText, null);

  const last = parseStep('\n# Now print the final answer\nprint(total)\n<end_of_code>');
  t.is(last.kind, 'final_code');
  t.false(last.opensCode);
  t.is(last.comment, '', 'the final-print comment is not reasoning');
  t.is(last.code, 'print(total)');

  const answer = parseStep('\n<answer>The total is \\boxed{315}.<end_of_answer>');
  t.is(answer.kind, 'answer');
  t.is(answer.answerText, 'The total is \\boxed{315}.');
  t.is(answer.code, '');
  t.is(parseStep('The total is \\boxed{7}', null).answerText, 'The total is \\boxed{7}');
});

test('the output block follows the final code step, or completes a step that stopped at <output>', (t) => {
  t.is(outputBlock('42', false), '\n<output>42<end_of_output>');
  t.is(outputBlock('42', true), '42<end_of_output>');
});

test('policy prompt is the SFT prompt of the reference, with no stray newline before the assistant header', (t) => {
  t.is(
    renderPolicyPrompt(defaultPromptTemplates, 'What is 1+1?'),
    "<|user|>:\nWhat is 1+1?\n<|assistant|>: Let's think step by step and solve the problem with code.",
  );
  // `$&` and `{count}` in a question are literal text, not replacement patterns.
  t.true(renderPolicyPrompt(defaultPromptTemplates, 'Cost is $& or {count}?').includes('Cost is $& or {count}?'));
});

test('bootstrap prompt: instruction, two demonstrations, then the turn', (t) => {
  const prompt = renderBootstrapPrompt(defaultPromptTemplates, 'What is 2+3?');
  t.true(prompt.startsWith(defaultPromptTemplates.bootstrapInstruction));
  t.true(prompt.includes('\nThe following are 2 demonstration examples.\nQuestion: A bakery'));
  t.true(prompt.includes('from sympy import'));
  t.true(prompt.endsWith("<end_of_answer>\n\nNow! It's your turn.\nQuestion: What is 2+3?\n"));
  t.is(renderPrompt(defaultPromptTemplates, 'bootstrap', 'q'), renderBootstrapPrompt(defaultPromptTemplates, 'q'));
  const custom = { ...defaultPromptTemplates, bootstrapDemos: [] };
  t.false(renderBootstrapPrompt(custom, 'q').includes('demonstration'));
});

test('each demonstration is a valid trajectory: its program prints its <output>, and its box matches it', (t) => {
  for (const demo of defaultPromptTemplates.bootstrapDemos) {
    const program = codeOfStepText(demo.slice(demo.indexOf('<code>')));
    const stdout = execFileSync('python3', ['-c', program], { encoding: 'utf8', timeout: 60_000 }).trim();
    const shown = demo.slice(demo.indexOf('<output>') + '<output>'.length, demo.indexOf('<end_of_output>'));
    t.is(stdout, shown);
    const boxed = extractBoxed(demo.slice(demo.indexOf('<answer>')));
    t.not(boxed, null);
    t.true(isEquivalent(shown, boxed as string), `${shown} vs ${boxed}`);
    // Every step of the demonstration parses as the kind its marker says.
    const steps = demo.slice(demo.indexOf('<code>')).split(/(?<=<end_of_step>|<end_of_code>)/);
    t.deepEqual(steps.slice(0, -2).map((s) => parseStep(s).kind), ['code', 'code', 'code']);
    t.is(parseStep(steps[steps.length - 2]).kind, 'final_code');
  }
});

test('config: defaults follow the spec, overrides merge, bad keys and values are refused', (t) => {
  const c = resolveConfig();
  t.is(c.search.rollouts, 16);
  t.is(c.search.candidates, 8);
  t.is(c.search.maxDepth, 16);
  t.is(c.search.explorationConstant, 2);
  t.is(c.search.unvisitedScore, 'zero');
  t.is(c.search.invalidSteps, 'keep');
  t.is(c.search.ppmTransform, 'model', "the PPM file's transform unless the config overrides it");
  t.is(c.extract.minStepMargin, 0.5);
  t.is(c.extract.minEditDistance, 20);

  const o = resolveConfig({ search: { rollouts: 4, stopMarkers: ['<end_of_step>'] } }, { search: { candidates: 3 }, prompts: { policy: 'Q: {question}\nA:' } });
  t.is(o.search.rollouts, 4);
  t.is(o.search.candidates, 3);
  t.deepEqual(o.search.stopMarkers, ['<end_of_step>']);
  t.is(o.prompts.policy, 'Q: {question}\nA:');
  t.is(o.search.maxDepth, 16);
  t.is(defaultConfig.search.rollouts, 16, 'defaults are never mutated');

  t.throws(() => resolveConfig({ search: { rolouts: 4 } } as never), { code: 'INVALID_ARGUMENT', message: /rolouts/ });
  t.throws(() => resolveConfig({ serch: {} } as never), { code: 'INVALID_ARGUMENT', message: /serch/ });
  t.throws(() => resolveConfig({ search: { rollouts: '4' } } as never), { code: 'INVALID_ARGUMENT', message: /search\.rollouts/ });
  t.throws(() => resolveConfig({ search: { rollouts: 0 } }), { code: 'INVALID_ARGUMENT', message: /search\.rollouts/ });
  t.throws(() => resolveConfig({ search: { unvisitedScore: 'inf' as never } }), { code: 'INVALID_ARGUMENT', message: /unvisitedScore/ });
  t.throws(() => resolveConfig({ search: { stopMarkers: [1] as never } }), { code: 'INVALID_ARGUMENT', message: /stopMarkers\[0\]/ });
  t.is(resolveConfigFrom(resolveConfig({ search: { mode: 'test' } }), { search: { rollouts: 2 } }).search.mode, 'test');
});
