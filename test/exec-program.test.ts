/**
 * The step program builder and the observation format (lib/exec/program.ts). The observation format
 * is checked against the real Python interpreter: its float(), round() and repr() decide.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { buildStepProgram, codeOfStepText, formatObservation, observationOf } from '../lib/exec/program.js';
import { checkPython, pythonCommand } from '../lib/exec/interpreter.js';

test('a step program is the code of its block ancestors followed by the step, markers removed', (t) => {
  const ancestors = [
    '<code>\n# Step 1: define\nfrom sympy import symbols\nx = symbols("x")\n<end_of_step>',
    '\n# Step 2: expand\ne = (x + 1)**2\n<end_of_step>',
  ];
  const step = '\n# Step 3: print\nprint(e.expand())\n<end_of_code>';
  const program = buildStepProgram(ancestors, step);
  t.is(program, '# Step 1: define\nfrom sympy import symbols\nx = symbols("x")\n\n\n\n# Step 2: expand\ne = (x + 1)**2\n\n\n\n# Step 3: print\nprint(e.expand())');
  t.false(/<[a-z_]+>/.test(program));
});

test('the walk up stops at the ancestor that closed the previous block, and skips timed-out ancestors', (t) => {
  const ancestors = [
    '<code>\nold = 1\n<end_of_step>',
    '\nprint(old)\n<end_of_code>\n<output>1<end_of_output>',
    '<code>\na = 2\n<end_of_step>',
    { text: '\nwhile True: pass\n<end_of_step>', timedOut: true },
    '\nb = a + 1\n<end_of_step>',
  ];
  t.is(buildStepProgram(ancestors, '\nprint(b)\n<end_of_step>'), 'a = 2\n\n\n\nb = a + 1\n\n\n\nprint(b)');
});

test('the first step of a block, fences and text around the block', (t) => {
  t.is(buildStepProgram([], 'Let me compute.\n<code>\n```python\nprint(1)\n```\n<end_of_step>'), 'print(1)');
  t.is(codeOfStepText('no code markers\n<end_of_step>'), 'no code markers');
  t.is(codeOfStepText('<code>\na = 1\n<end_of_code>\n<output>x<end_of_output>\n<code>\nb = 2\n<end_of_code>'), 'a = 1\n# ========\nb = 2');
});

test('observations follow the reference: stripped, floats rounded when shorter, long outputs cut', (t) => {
  t.is(formatObservation('8.94427190999916\n'), '8.9443');
  t.is(formatObservation('  42\n'), '42');
  t.is(formatObservation('0.5'), '0.5');
  t.is(formatObservation('[1, 2]\n'), '[1, 2]');
  const long = `${'a'.repeat(600)}${'b'.repeat(600)}`;
  t.is(formatObservation(long), `${'a'.repeat(512)}...${'b'.repeat(512)}`);
  t.is(formatObservation('x'.repeat(1024)), 'x'.repeat(1024));
  t.is(observationOf({ ok: false, stdout: 'partial', error: "NameError: name 'y' is not defined" }), "NameError: name 'y' is not defined");
  t.is(observationOf({ ok: true, stdout: '3.14159265\n', error: null }), '3.1416');
});

/** What Python itself makes of each output, by the reference's rule. */
function pythonObservations(outputs: string[], python: string): string[] {
  const script = [
    'import json, sys',
    'def observe(output):',
    '    output = output.strip()',
    '    try:',
    '        r = str(round(float(output), 4))',
    '        if len(r) < len(output):',
    '            output = r',
    '    except (ValueError, OverflowError):',
    '        pass',
    '    if len(output) > 1024:',
    '        output = output[:512] + "..." + output[-512:]',
    '    return output',
    'print(json.dumps([observe(o) for o in json.load(sys.stdin)]))',
  ].join('\n');
  return JSON.parse(execFileSync(python, ['-c', script], { input: JSON.stringify(outputs), maxBuffer: 64 << 20 }).toString()) as string[];
}

test('float formatting agrees with Python on edge cases and thousands of random numbers', async (t) => {
  const { executable } = await checkPython(pythonCommand());
  const outputs = [
    '0.03125', '-0.03125', '0.00015', '1.00005', '2.5e-05', '1e-05', '0.0001', '123456789012345678', '1e16', '1e22',
    '1_000.123456', '1__0', '_1', '.5', '5.', '-0', '-0.00001', 'inf', '-Infinity', 'nan', 'NaN', '+1.5e+3', '1e400',
    '0x10', '', ' \n ', '3.000000000001', '9.99999', '99999.99995', '1234567.891011', '12\u00a0', '\u00a01.23456789',
    '1e-7', '5e-324', '1.7976931348623157e308', '4.35', '0.125', '2.675', 'abc', '12,5',
  ];
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 3000; i++) {
    const magnitude = 10 ** Math.floor(random() * 30 - 12);
    const x = (random() - 0.3) * magnitude;
    const digits = 1 + Math.floor(random() * 17);
    outputs.push(i % 3 === 0 ? String(x) : x.toPrecision(digits));
    if (i % 10 === 0) outputs.push(String(Math.floor(random() * 2 ** 20) / 32)); // exact ties at 4 decimals
  }
  const expected = pythonObservations(outputs, executable);
  const mismatches = outputs.map((o, i) => [o, formatObservation(o), expected[i]]).filter(([, ours, py]) => ours !== py);
  t.deepEqual(mismatches.slice(0, 10), []);
});
