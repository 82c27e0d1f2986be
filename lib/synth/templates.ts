/**
 * The problem templates of the synthetic curriculum: wording, number ranges, exact answers and the
 * reference solution plan of every template, at five levels of difficulty.
 *
 * Levels (each template belongs to exactly one):
 *   1  one-step arithmetic in a sentence: a + b, a − b, a × b, exact a ÷ b;
 *   2  two operations (buy k items at p each and pay with m: the change; share what is left);
 *   3  several quantities, three or four operations (two purchases and a bill, wages less spending);
 *   4  fractions and unit conversions; answers are integers or reduced fractions such as `5/2`;
 *   5  problems best solved with sympy: a linear equation, or a system of two, in words ("a number
 *      such that …", tickets, ages); answers are integers or reduced fractions.
 *
 * A template is its wording (a string with `{placeholders}`), a draw of its numbers, the exact answer
 * and a plan: the steps of the reference program, each a reasoning comment and a few Python lines, in
 * the style of our step format (lib/steps/prompts.ts demos). Number placeholders are exactly the keys
 * that `draw` returns, so a question parses back into its numbers (the bootstrap policy does that);
 * word placeholders (`{name}`, `{objs}`, …) only vary the wording and never change the answer.
 * Plans write binary operators with one space on each side and exact integer division as `//`: the
 * bootstrap policy's mistakes (lib/synth/bootstrap.ts) rewrite those expressions.
 */
import type { Rng } from './random.js';

export type Level = 1 | 2 | 3 | 4 | 5;
export const LEVELS: readonly Level[] = [1, 2, 3, 4, 5];

/** What each level holds, in words (the README and `rstar data synth --help` repeat it). */
export const LEVEL_DESCRIPTIONS: Readonly<Record<Level, string>> = {
  1: 'one-step arithmetic in a sentence (a + b, a - b, a x b, exact a / b)',
  2: 'two operations (buy k items at p each, pay with m, the change; share what is left)',
  3: 'several quantities, three or four operations',
  4: 'fractions and unit conversions (answers: integers or reduced fractions)',
  5: 'a linear equation or a system of two, best solved with sympy (integers or fractions)',
};

/** The numbers of one instance, by placeholder name. */
export type Values = Readonly<Record<string, number>>;

/** One step of a plan: a reasoning comment and its Python lines. */
export interface PlanStep {
  comment: string;
  lines: string[];
  /** The step converts a unit (a factor like `* 100`); the policy's "unit not converted" mistake drops it. */
  unit?: boolean;
}

/** A solution plan: code steps, then `print(answerVar)` under the final-print comment. */
export interface Plan {
  steps: PlanStep[];
  answerVar: string;
}

/** An exact rational, always reduced, denominator positive. */
export interface Rat {
  n: number;
  d: number;
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

export function rat(n: number, d = 1): Rat {
  if (d === 0) throw new RangeError('zero denominator');
  const g = gcd(n, d) || 1;
  const s = d < 0 ? -1 : 1;
  return { n: (s * n) / g, d: (s * d) / g };
}

/** "7", "-3" or "5/2": what Python prints for an int, a Fraction or a sympy Rational of that value. */
export function formatRat(q: Rat): string {
  return q.d === 1 ? String(q.n) : `${q.n}/${q.d}`;
}

export interface Template {
  /** Unique, stable: `<skill>.<variant>`; part of the disjointness key. */
  id: string;
  skill: string;
  level: Level;
  /** Wording; `{x}` for a number drawn by `draw`, `{name}` `{friend}` `{objs}` `{items}` `{items2}` for words. */
  text: string;
  draw(rng: Rng): Values;
  answer(v: Values): Rat;
  /** The reference solution (its printed output is the answer). */
  plan(v: Values): Plan;
  /**
   * Level 5 only: plausible arithmetic shortcuts that skip the algebra and are wrong, the plans the
   * bootstrap policy falls into when it does not reach for sympy.
   */
  naive?: (v: Values) => Plan[];
}

/** Placeholders filled with words; every other placeholder is a number. */
export const WORD_PLACEHOLDERS = ['name', 'friend', 'objs', 'items', 'items2'] as const;

export const NAMES = ['Ava', 'Ben', 'Chen', 'Dara', 'Eli', 'Fatima', 'Gus', 'Hana', 'Ivan', 'Jade', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sam', 'Tara', 'Uma', 'Victor', 'Wen', 'Yara', 'Zoe'];
export const OBJECTS = ['apples', 'marbles', 'stickers', 'pencils', 'cards', 'shells', 'stamps', 'buttons', 'coins', 'beads', 'crayons', 'acorns'];
export const ITEMS = ['notebooks', 'pens', 'tickets', 'sandwiches', 'toy cars', 'plants', 'mugs', 'candles', 'kites', 'puzzles'];

/**
 * The largest number drawn into a question of levels 1–4 (fixed amounts such as bills of 200 or a glass
 * of 250 ml aside). The embedded default's model reads each integer as one token whose embedding it
 * learns only from the training questions: with numbers up to 999, the 1,600 training problems used
 * 474 of them, 15 % of the held-out problems held a number no training question had, and no method
 * solved any of those in any round (measured in #7; README, Limits). Up to 99, every number occurs
 * dozens of times. Answers can be larger: the program computes them. Level 5 keeps its ranges.
 */
export const MAX_DRAWN = 99;

const step = (comment: string, lines: string[], unit = false): PlanStep => (unit ? { comment, lines, unit } : { comment, lines });
const plan = (answerVar: string, ...steps: PlanStep[]): Plan => ({ steps, answerVar });
const FRACTION_IMPORT = 'from fractions import Fraction';
const SYMPY_IMPORT = 'from sympy import symbols, Eq, solve';

function T(id: string, level: Level, text: string, draw: Template['draw'], answer: Template['answer'], planOf: Template['plan'], naive?: Template['naive']): Template {
  const skill = id.slice(0, id.lastIndexOf('.'));
  return naive ? { id, skill, level, text, draw, answer, plan: planOf, naive } : { id, skill, level, text, draw, answer, plan: planOf };
}

// ---- Level 1: one operation ------------------------------------------------------------------------

const addDraw = (r: Rng): Values => ({ a: r.int(12, MAX_DRAWN), b: r.int(12, MAX_DRAWN) });
const addPlan = (v: Values): Plan =>
  plan('total', step('Write down the two amounts', [`first = ${v.a}`, `second = ${v.b}`]), step('Put them together by adding', ['total = first + second']));
const subDraw = (r: Rng): Values => {
  const a = r.int(30, MAX_DRAWN);
  return { a, b: r.int(2, a - 1) };
};
const subPlan = (v: Values): Plan =>
  plan('left', step('Write down the starting amount and the amount taken away', [`start = ${v.a}`, `removed = ${v.b}`]), step('Subtract what was taken away', ['left = start - removed']));
const mulDraw = (r: Rng): Values => ({ a: r.int(2, 30), b: r.int(2, 50) });
const mulPlan = (v: Values): Plan =>
  plan('total', step('Number of groups and size of each group', [`groups = ${v.a}`, `per_group = ${v.b}`]), step('Multiply the number of groups by the size of each', ['total = groups * per_group']));
const divDraw = (r: Rng): Values => {
  const d = r.int(2, 12);
  return { a: d * r.int(2, Math.floor(MAX_DRAWN / d)), d };
};
const divPlan = (v: Values): Plan =>
  plan('each', step('The total and the number of equal parts', [`total = ${v.a}`, `parts = ${v.d}`]), step('Divide the total into equal parts', ['each = total // parts']));

const level1: Template[] = [
  T('add.gift', 1, '{name} has {a} {objs}. A friend gives {name} {b} more. How many {objs} does {name} have now?', addDraw, (v) => rat(v.a + v.b), addPlan),
  T('add.shelves', 1, 'One shelf holds {a} books and another holds {b} books. How many books are on the two shelves?', addDraw, (v) => rat(v.a + v.b), addPlan),
  T('add.walk', 1, '{name} walked {a} meters before lunch and {b} meters after lunch. How many meters did {name} walk in all?', addDraw, (v) => rat(v.a + v.b), addPlan),
  T('sub.give', 1, '{name} had {a} {objs} and gave {b} of them away. How many {objs} does {name} have left?', subDraw, (v) => rat(v.a - v.b), subPlan),
  T('sub.tank', 1, 'A tank held {a} liters of water. Then {b} liters leaked out. How many liters are still in the tank?', subDraw, (v) => rat(v.a - v.b), subPlan),
  T('sub.farm', 1, 'A farm had {a} sheep and the farmer sold {b} of them. How many sheep are on the farm now?', subDraw, (v) => rat(v.a - v.b), subPlan),
  T('mul.boxes', 1, 'There are {a} boxes with {b} {objs} in each box. How many {objs} are there in all?', mulDraw, (v) => rat(v.a * v.b), mulPlan),
  T('mul.pages', 1, '{name} reads {b} pages every day for {a} days. How many pages does {name} read?', mulDraw, (v) => rat(v.a * v.b), mulPlan),
  T('mul.seats', 1, 'A hall has {a} rows of chairs with {b} chairs in each row. How many chairs are in the hall?', mulDraw, (v) => rat(v.a * v.b), mulPlan),
  T('div.share', 1, '{name} shares {a} {objs} equally among {d} friends. How many {objs} does each friend get?', divDraw, (v) => rat(v.a / v.d), divPlan),
  T('div.bags', 1, 'A baker puts {a} rolls into bags of {d} rolls each. How many bags does the baker fill?', divDraw, (v) => rat(v.a / v.d), divPlan),
  T('div.rope', 1, 'A rope {a} meters long is cut into {d} equal pieces. How many meters long is each piece?', divDraw, (v) => rat(v.a / v.d), divPlan),
];

// ---- Level 2: two operations -------------------------------------------------------------------------

const BILLS = [10, 20, 50, 100, 200];
const changeDraw = (r: Rng): Values => {
  const k = r.int(2, 9);
  const p = r.int(2, 20);
  return { k, p, m: r.pick(BILLS.filter((b) => b > k * p)) };
};
const changePlan = (v: Values): Plan =>
  plan(
    'change',
    step('Cost of all the items: number of items times the price of one', [`count = ${v.k}`, `price = ${v.p}`, 'cost = count * price']),
    step('The change is the money paid minus the cost', [`paid = ${v.m}`, 'change = paid - cost']),
  );
const packsDraw = (r: Rng): Values => ({ a: r.int(5, MAX_DRAWN), k: r.int(2, 9), b: r.int(2, 24) });
const packsPlan = (v: Values): Plan =>
  plan(
    'total',
    step('Items in the new packs: packs times items per pack', [`packs = ${v.k}`, `per_pack = ${v.b}`, 'new_items = packs * per_pack']),
    step('Add them to what was there before', [`before = ${v.a}`, 'total = before + new_items']),
  );
const restDraw = (r: Rng): Values => {
  const k = r.int(2, 9);
  const b = r.int(1, 30);
  return { a: k * r.int(2, Math.floor((MAX_DRAWN - b) / k)) + b, b, k };
};
const restPlan = (v: Values): Plan =>
  plan(
    'each',
    step('What is left after removing some', [`start = ${v.a}`, `removed = ${v.b}`, 'rest = start - removed']),
    step('Share the rest equally', [`people = ${v.k}`, 'each = rest // people']),
  );

const level2: Template[] = [
  T('change.bill', 2, '{name} buys {k} {items} at ${p} each and pays with a ${m} bill. How many dollars of change does {name} get?', changeDraw, (v) => rat(v.m - v.k * v.p), changePlan),
  T('change.pays', 2, '{k} {items} cost ${p} each. {name} pays for them with ${m}. How much change, in dollars, is left?', changeDraw, (v) => rat(v.m - v.k * v.p), changePlan),
  T('packs.buy', 2, '{name} has {a} {objs} and buys {k} packs with {b} {objs} in each pack. How many {objs} does {name} have now?', packsDraw, (v) => rat(v.a + v.k * v.b), packsPlan),
  T('packs.chairs', 2, 'A school has {a} chairs and gets {k} new boxes of {b} chairs each. How many chairs does the school have now?', packsDraw, (v) => rat(v.a + v.k * v.b), packsPlan),
  T('rest.cookies', 2, '{name} baked {a} cookies, ate {b} of them, and shared the rest equally among {k} friends. How many cookies did each friend get?', restDraw, (v) => rat((v.a - v.b) / v.k), restPlan),
  T('rest.cans', 2, 'A class collected {a} cans, threw away {b} dented ones and packed the rest into {k} equal boxes. How many cans went into each box?', restDraw, (v) => rat((v.a - v.b) / v.k), restPlan),
];

// ---- Level 3: three or four operations ---------------------------------------------------------------

const shopDraw = (r: Rng): Values => {
  const k1 = r.int(2, 6);
  const p1 = r.int(2, 15);
  const k2 = r.int(2, 6);
  const p2 = r.int(2, 15);
  return { k1, p1, k2, p2, m: r.pick(BILLS.filter((b) => b > k1 * p1 + k2 * p2)) };
};
const shopPlan = (v: Values): Plan =>
  plan(
    'change',
    step('Cost of the first kind of item', [`first_cost = ${v.k1} * ${v.p1}`]),
    step('Cost of the second kind of item', [`second_cost = ${v.k2} * ${v.p2}`]),
    step('Total cost of the purchase', ['total_cost = first_cost + second_cost']),
    step('Change from the bill', [`paid = ${v.m}`, 'change = paid - total_cost']),
  );
const shopAnswer = (v: Values): Rat => rat(v.m - v.k1 * v.p1 - v.k2 * v.p2);
const wageDraw = (r: Rng): Values => {
  const w = r.int(8, 30);
  const h = r.int(2, 9);
  const d = r.int(2, 7);
  return { w, h, d, s: r.int(1, Math.min(w * h * d - 1, MAX_DRAWN)) };
};
const wagePlan = (v: Values): Plan =>
  plan(
    'left',
    step('Pay for one day: hourly rate times hours per day', [`rate = ${v.w}`, `hours = ${v.h}`, 'per_day = rate * hours']),
    step('Pay for all the days', [`days = ${v.d}`, 'earned = per_day * days']),
    step('Subtract the spending', [`spent = ${v.s}`, 'left = earned - spent']),
  );
const wageAnswer = (v: Values): Rat => rat(v.w * v.h * v.d - v.s);
const machineDraw = (r: Rng): Values => {
  const a = r.int(5, 60);
  const h1 = r.int(2, 12);
  const h2 = r.int(2, 12);
  return { a, h1, h2, b: r.int(1, Math.min(a * (h1 + h2) - 1, MAX_DRAWN)) };
};
const machinePlan = (v: Values): Plan =>
  plan(
    'good',
    step('Total running time', [`first_run = ${v.h1}`, `second_run = ${v.h2}`, 'running = first_run + second_run']),
    step('Everything made: rate times running time', [`rate = ${v.a}`, 'made = rate * running']),
    step('Remove the faulty ones', [`faulty = ${v.b}`, 'good = made - faulty']),
  );
const machineAnswer = (v: Values): Rat => rat(v.a * (v.h1 + v.h2) - v.b);
const seatsDraw = (r: Rng): Values => {
  const rows = r.int(5, 40);
  const s = r.int(5, 30);
  const x = r.int(1, Math.min(Math.floor((rows * s) / 3), MAX_DRAWN));
  return { rows, s, x, y: r.int(1, Math.min(rows * s - x - 1, MAX_DRAWN)) };
};
const seatsPlan = (v: Values): Plan =>
  plan(
    'free',
    step('All the seats: rows times seats per row', [`rows = ${v.rows}`, `per_row = ${v.s}`, 'seats = rows * per_row']),
    step('Seats that can be used', [`broken = ${v.x}`, 'usable = seats - broken']),
    step('Seats still free after the taken ones', [`taken = ${v.y}`, 'free = usable - taken']),
  );
const seatsAnswer = (v: Values): Rat => rat(v.rows * v.s - v.x - v.y);

const level3: Template[] = [
  T('shop.two', 3, '{name} buys {k1} {items} at ${p1} each and {k2} {items2} at ${p2} each, paying with a ${m} bill. How many dollars of change does {name} get?', shopDraw, shopAnswer, shopPlan),
  T('shop.list', 3, 'At a fair, {k1} {items} cost ${p1} each and {k2} {items2} cost ${p2} each. {name} buys them all with ${m}. How much change, in dollars, is left?', shopDraw, shopAnswer, shopPlan),
  T('wage.spend', 3, '{name} earns ${w} an hour, works {h} hours a day for {d} days, then spends ${s}. How many dollars does {name} have left?', wageDraw, wageAnswer, wagePlan),
  T('wage.tutor', 3, 'A tutor is paid ${w} per hour. She teaches {h} hours a day for {d} days and pays ${s} for travel. How many dollars does she keep?', wageDraw, wageAnswer, wagePlan),
  T('machine.parts', 3, 'A machine makes {a} parts an hour. It runs {h1} hours on Monday and {h2} hours on Tuesday, and {b} parts are faulty. How many good parts were made?', machineDraw, machineAnswer, machinePlan),
  T('machine.pages', 3, 'A printer prints {a} pages a minute. It runs for {h1} minutes, then {h2} more minutes, and {b} pages jam. How many good pages are printed?', machineDraw, machineAnswer, machinePlan),
  T('seats.theater', 3, 'A theater has {rows} rows of {s} seats. {x} seats are broken and {y} of the others are taken. How many seats are free?', seatsDraw, seatsAnswer, seatsPlan),
  T('seats.parking', 3, 'A parking lot has {rows} rows of {s} spaces. {x} spaces are closed and {y} of the others are in use. How many spaces are free?', seatsDraw, seatsAnswer, seatsPlan),
];

// ---- Level 4: fractions and unit conversions ---------------------------------------------------------

const keepDraw = (r: Rng): Values => {
  const q = r.int(2, 9);
  return { n: q * r.int(2, Math.min(20, Math.floor(MAX_DRAWN / q))), p: r.int(1, q - 1), q };
};
const keepPlan = (v: Values): Plan =>
  plan(
    'kept',
    step('The part given away, as an exact fraction of the whole', [FRACTION_IMPORT, `whole = ${v.n}`, `given = Fraction(${v.p}, ${v.q}) * whole`]),
    step('What is kept is the whole minus the part given away', ['kept = whole - given']),
  );
const fullDraw = keepDraw;
const fullPlan = (v: Values): Plan =>
  plan(
    'amount',
    step('The fraction of the tank that is full', [FRACTION_IMPORT, `fraction = Fraction(${v.p}, ${v.q})`]),
    step('That fraction of the capacity', [`capacity = ${v.n}`, 'amount = fraction * capacity']),
  );
const sumDraw = (r: Rng): Values => {
  for (;;) {
    const b = r.int(2, 12);
    const d = r.int(2, 12);
    const a = r.int(1, b - 1);
    const c = r.int(1, d - 1);
    if (a * d + c * b <= b * d) return { a, b, c, d };
  }
};
const sumPlan = (v: Values): Plan =>
  plan(
    'together',
    step('Write both parts as exact fractions', [FRACTION_IMPORT, `first = Fraction(${v.a}, ${v.b})`, `second = Fraction(${v.c}, ${v.d})`]),
    step('Add the two fractions', ['together = first + second']),
  );
const sumAnswer = (v: Values): Rat => rat(v.a * v.d + v.c * v.b, v.b * v.d);
const lengthDraw = (r: Rng): Values => ({ m: r.int(2, 30), c: r.int(1, 99) });
const lengthPlan = (v: Values): Plan =>
  plan(
    'length',
    step('Convert the meters to centimeters (1 meter = 100 centimeters)', [`meters = ${v.m}`, 'from_meters = meters * 100'], true),
    step('Add the extra centimeters', [`extra = ${v.c}`, 'length = from_meters + extra']),
  );
const massDraw = (r: Rng): Values => ({ m: r.int(2, 30), c: r.int(1, MAX_DRAWN) });
const massPlan = (v: Values): Plan =>
  plan(
    'weight',
    step('Convert the kilograms to grams (1 kilogram = 1000 grams)', [`kilograms = ${v.m}`, 'from_kilograms = kilograms * 1000'], true),
    step('Add the extra grams', [`extra = ${v.c}`, 'weight = from_kilograms + extra']),
  );
const hoursDraw = (r: Rng): Values => ({ t: r.int(2, Math.floor(MAX_DRAWN / 5)) * 5 });
const hoursPlan = (v: Values): Plan =>
  plan('hours', step('An hour has 60 minutes; divide exactly to get hours', [FRACTION_IMPORT, `minutes = ${v.t}`, 'hours = Fraction(minutes, 60)'], true));
const glassesDraw = (r: Rng): Values => ({ l: r.int(1, 12), g: r.pick([100, 200, 250, 500]) });
const glassesPlan = (v: Values): Plan =>
  plan(
    'glasses',
    step('Convert the liters to milliliters (1 liter = 1000 milliliters)', [`liters = ${v.l}`, 'milliliters = liters * 1000'], true),
    step('How many glasses fit in that', [`glass = ${v.g}`, 'glasses = milliliters // glass']),
  );
const recipeDraw = (r: Rng): Values => {
  const b = r.int(2, 8);
  return { a: r.int(1, b - 1), b, k: r.int(2, 12) };
};
const recipePlan = (v: Values): Plan =>
  plan(
    'needed',
    step('Sugar for one batch, as an exact fraction', [FRACTION_IMPORT, `per_batch = Fraction(${v.a}, ${v.b})`]),
    step('Sugar for all the batches', [`batches = ${v.k}`, 'needed = per_batch * batches']),
  );
const speedDraw = (r: Rng): Values => ({ d: r.int(2, 40), t: r.int(2, Math.floor(MAX_DRAWN / 5)) * 5 });
const speedPlan = (v: Values): Plan =>
  plan(
    'speed',
    step('Convert the time to hours (60 minutes in an hour)', [FRACTION_IMPORT, `minutes = ${v.t}`, 'hours = Fraction(minutes, 60)'], true),
    step('Speed is distance divided by time', [`distance = ${v.d}`, 'speed = distance / hours']),
  );

const level4: Template[] = [
  T('fraction.keep', 4, '{name} has {n} {objs} and gives away {p}/{q} of them. How many {objs} does {name} keep?', keepDraw, (v) => rat(v.n * (v.q - v.p), v.q), keepPlan),
  T('fraction.tank', 4, 'A tank holds {n} liters when full and is {p}/{q} full. How many liters of water are in the tank?', fullDraw, (v) => rat(v.n * v.p, v.q), fullPlan),
  T('fraction.pizza', 4, '{name} ate {a}/{b} of a pizza and {friend} ate {c}/{d} of it. What fraction of the pizza did they eat together?', sumDraw, sumAnswer, sumPlan),
  T('fraction.juice', 4, 'A jug has {a}/{b} liter of juice and {c}/{d} liter more is poured in. How many liters of juice are in the jug now?', sumDraw, sumAnswer, sumPlan),
  T('fraction.recipe', 4, 'A recipe uses {a}/{b} cup of sugar per batch. How many cups of sugar are needed for {k} batches?', recipeDraw, (v) => rat(v.a * v.k, v.b), recipePlan),
  T('units.ribbon', 4, 'A ribbon is {m} meters and {c} centimeters long. How long is the ribbon in centimeters?', lengthDraw, (v) => rat(v.m * 100 + v.c), lengthPlan),
  T('units.rice', 4, 'A bag of rice weighs {m} kilograms and {c} grams. What is its weight in grams?', massDraw, (v) => rat(v.m * 1000 + v.c), massPlan),
  T('units.hours', 4, '{name} practiced the piano for {t} minutes. How many hours is that?', hoursDraw, (v) => rat(v.t, 60), hoursPlan),
  T('units.glasses', 4, 'A jug holds {l} liters of juice. How many {g}-milliliter glasses can it fill?', glassesDraw, (v) => rat((v.l * 1000) / v.g), glassesPlan),
  T('units.speed', 4, 'A cyclist rides {d} kilometers in {t} minutes. What is her speed in kilometers per hour?', speedDraw, (v) => rat(v.d * 60, v.t), speedPlan),
];

// ---- Level 5: equations, best solved with sympy ------------------------------------------------------

const linearDraw = (r: Rng): Values => {
  const a = r.int(2, 12);
  const b = r.int(1, 50);
  return { a, b, c: b + r.int(1, 300) };
};
const linearPlan = (v: Values): Plan =>
  plan(
    'number',
    step('Let x be the number and write the condition as an equation with sympy', [SYMPY_IMPORT, "x = symbols('x')", `equation = Eq(${v.a}*x + ${v.b}, ${v.c})`]),
    step('Solve the equation exactly for x', ['solution = solve(equation, x)', 'number = solution[0]']),
  );
const linearNaive = (v: Values): Plan[] => [
  plan('number', step('Undo the operations: add back and divide', [`number = (${v.c} + ${v.b}) / ${v.a}`])),
  plan('number', step('Divide the result by the multiplier, then take away what was added', [`number = ${v.c} / ${v.a} - ${v.b}`])),
  plan('number', step('Take away both given numbers from the result', [`number = ${v.c} - ${v.b} - ${v.a}`])),
];
const bothDraw = (r: Rng): Values => {
  const a = r.int(3, 12);
  return { a, b: r.int(1, 60), c: r.int(1, a - 1), d: r.int(1, 60) };
};
const bothPlan = (v: Values): Plan =>
  plan(
    'number',
    step('Let x be the number; both sides of the statement as one sympy equation', [SYMPY_IMPORT, "x = symbols('x')", `equation = Eq(${v.a}*x - ${v.b}, ${v.c}*x + ${v.d})`]),
    step('Solve the equation exactly for x', ['solution = solve(equation, x)', 'number = solution[0]']),
  );
const bothNaive = (v: Values): Plan[] => [
  plan('number', step('Collect the numbers and divide by the first multiplier', [`number = (${v.d} + ${v.b}) / ${v.a}`])),
  plan('number', step('Move the constants and divide by the difference of the multipliers', [`number = (${v.d} - ${v.b}) / (${v.a} - ${v.c})`])),
  plan('number', step('Combine all the numbers', [`number = ${v.d} + ${v.b} - ${v.a} + ${v.c}`])),
];
const pairDraw = (r: Rng): Values => {
  const s = r.int(20, 300);
  return { s, d: r.int(2, s - 1) };
};
const pairPlan = (v: Values): Plan =>
  plan(
    'larger',
    step('Let x be the larger and y the smaller number; the two conditions as sympy equations', [SYMPY_IMPORT, "x, y = symbols('x y')", `sum_equation = Eq(x + y, ${v.s})`, `difference_equation = Eq(x - y, ${v.d})`]),
    step('Solve the system exactly', ['solution = solve((sum_equation, difference_equation), (x, y))', 'larger = solution[x]']),
  );
const pairNaive = (v: Values): Plan[] => [
  plan('larger', step('The larger number is the sum minus the difference', [`larger = ${v.s} - ${v.d}`])),
  plan('larger', step('Half the sum, plus the difference', [`larger = ${v.s} // 2 + ${v.d}`])),
  plan('larger', step('Half of the sum', [`larger = ${v.s} / 2`])),
];
const ticketDraw = (r: Rng): Values => {
  const p = r.int(6, 20);
  const q = r.int(2, p - 1);
  const adults = r.int(1, 40);
  const children = r.int(1, 40);
  return { p, q, n: adults + children, t: p * adults + q * children };
};
const ticketPlan = (v: Values): Plan =>
  plan(
    'children',
    step('Let a be the adult and c the child tickets; the count and the money as sympy equations', [SYMPY_IMPORT, "a, c = symbols('a c')", `count_equation = Eq(a + c, ${v.n})`, `money_equation = Eq(${v.p}*a + ${v.q}*c, ${v.t})`]),
    step('Solve the system exactly', ['solution = solve((count_equation, money_equation), (a, c))', 'children = solution[c]']),
  );
const ticketNaive = (v: Values): Plan[] => [
  plan('children', step('Money divided by the child price, minus the tickets', [`children = ${v.t} // ${v.q} - ${v.n}`])),
  plan('children', step('Assume half the tickets were for children', [`children = ${v.n} // 2`])),
  plan('children', step('Money left after one dollar per ticket, in child tickets', [`children = (${v.t} - ${v.n}) // ${v.q}`])),
];
const ticketAnswer = (v: Values): Rat => rat((v.p * v.n - v.t) / (v.p - v.q));
const agesDraw = (r: Rng): Values => {
  const k = r.int(2, 5);
  const y = r.int(1, 15);
  return { k, y, s: (k + 1) * r.int(2, 20) + 2 * y };
};
const agesPlan = (v: Values): Plan =>
  plan(
    'age',
    step('Let f be the younger age now; the sum of both ages later as a sympy equation', [SYMPY_IMPORT, "f = symbols('f')", `equation = Eq(${v.k}*f + ${v.y} + f + ${v.y}, ${v.s})`]),
    step('Solve the equation exactly for f', ['solution = solve(equation, f)', 'age = solution[0]']),
  );
const agesNaive = (v: Values): Plan[] => [
  plan('age', step('Take the years away once and share by the number of parts', [`age = (${v.s} - ${v.y}) / (${v.k} + 1)`])),
  plan('age', step('Share the total by the number of parts', [`age = ${v.s} / (${v.k} + 1)`])),
  plan('age', step('Take away both waits and divide by the multiple', [`age = (${v.s} - 2 * ${v.y}) / ${v.k}`])),
];

const level5: Template[] = [
  T('linear.result', 5, 'When a number is multiplied by {a} and then {b} is added, the result is {c}. What is the number?', linearDraw, (v) => rat(v.c - v.b, v.a), linearPlan, linearNaive),
  T('linear.think', 5, '{name} thinks of a number, multiplies it by {a} and adds {b}, getting {c}. What number did {name} think of?', linearDraw, (v) => rat(v.c - v.b, v.a), linearPlan, linearNaive),
  T('linear.sides', 5, '{a} times a number, minus {b}, equals {c} times the number plus {d}. What is the number?', bothDraw, (v) => rat(v.d + v.b, v.a - v.c), bothPlan, bothNaive),
  T('system.pair', 5, 'Two numbers add up to {s} and their difference is {d}. What is the larger number?', pairDraw, (v) => rat(v.s + v.d, 2), pairPlan, pairNaive),
  T('system.tickets', 5, 'Adult tickets cost ${p} and child tickets cost ${q}. A group bought {n} tickets for ${t} in all. How many child tickets did they buy?', ticketDraw, ticketAnswer, ticketPlan, ticketNaive),
  T('system.ages', 5, '{name} is {k} times as old as {friend}. In {y} years their ages will add up to {s}. How old is {friend} now?', agesDraw, (v) => rat(v.s - 2 * v.y, v.k + 1), agesPlan, agesNaive),
];

/** Every template, level by level. */
export const TEMPLATES: readonly Template[] = [...level1, ...level2, ...level3, ...level4, ...level5];

/** The templates of one level. */
export function templatesOf(level: Level): Template[] {
  return TEMPLATES.filter((t) => t.level === level);
}
