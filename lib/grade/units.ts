/**
 * Units of measurement and currencies the grader knows, for one rule (stated in lib/grade/answer.ts):
 * a unit written on only one side is ignored (the question fixed it), two known units of the same
 * dimension are converted (`5 cm` equals `50 mm`), and two known units of different dimensions, or two
 * currencies, never agree (`5 cm` is not `5 kg`, `\$5` is not `5` euros). Unknown words ("apples",
 * "ways", "square units") are not units for this rule: they are dropped and ignored.
 *
 * Left out: temperatures (offsets, not factors), angles (degrees are stripped as notation, and `30^\circ`
 * against `\pi/6` is not converted), compound units (`km/h`, `m/s`), and prefixes beyond the table.
 */

/** A known unit: its dimension (with the power, `length^2`) and its size in the dimension's base unit. */
export interface Unit {
  dim: string;
  factor: number;
}

const TABLE: Record<string, [dim: string, factor: number]> = {
  mm: ['length', 1e-3], millimeter: ['length', 1e-3], millimetre: ['length', 1e-3],
  cm: ['length', 1e-2], centimeter: ['length', 1e-2], centimetre: ['length', 1e-2],
  m: ['length', 1], meter: ['length', 1], metre: ['length', 1],
  km: ['length', 1e3], kilometer: ['length', 1e3], kilometre: ['length', 1e3],
  in: ['length', 0.0254], inch: ['length', 0.0254], inches: ['length', 0.0254],
  ft: ['length', 0.3048], foot: ['length', 0.3048], feet: ['length', 0.3048],
  yd: ['length', 0.9144], yard: ['length', 0.9144],
  mi: ['length', 1609.344], mile: ['length', 1609.344],
  mg: ['mass', 1e-3], milligram: ['mass', 1e-3], g: ['mass', 1], gram: ['mass', 1],
  kg: ['mass', 1e3], kilogram: ['mass', 1e3], lb: ['mass', 453.59237], lbs: ['mass', 453.59237],
  pound: ['mass', 453.59237], oz: ['mass', 28.349523125], ounce: ['mass', 28.349523125],
  s: ['time', 1], sec: ['time', 1], second: ['time', 1], min: ['time', 60], minute: ['time', 60],
  h: ['time', 3600], hr: ['time', 3600], hrs: ['time', 3600], hour: ['time', 3600],
  day: ['time', 86400], week: ['time', 604800],
  ml: ['volume', 1e-3], milliliter: ['volume', 1e-3], millilitre: ['volume', 1e-3], cc: ['volume', 1e-3],
  l: ['volume', 1], liter: ['volume', 1], litre: ['volume', 1],
  dollar: ['usd', 1], usd: ['usd', 1], cent: ['usd', 0.01],
  euro: ['eur', 1], eur: ['eur', 1],
};

/**
 * The unit named by `word` (case-insensitive, singular or plural) raised to `power`, or null when the
 * word is not a unit we know.
 *
 * @example
 * lookupUnit('cm', 2)     // { dim: 'length^2', factor: 1e-4 }
 * lookupUnit('Dollars', 1) // { dim: 'usd', factor: 1 }
 * lookupUnit('apples', 1) // null
 */
export function lookupUnit(word: string, power: number): Unit | null {
  const w = word.toLowerCase();
  const hit = TABLE[w] ?? (w.length > 3 && w.endsWith('es') ? TABLE[w.slice(0, -2)] : undefined) ?? (w.length > 2 && w.endsWith('s') ? TABLE[w.slice(0, -1)] : undefined);
  if (hit === undefined) return null;
  // Money has no powers: "dollars^2" is not a thing a grader should convert.
  if (power !== 1 && (hit[0] === 'usd' || hit[0] === 'eur')) return null;
  return { dim: power === 1 ? hit[0] : `${hit[0]}^${power}`, factor: hit[1] ** power };
}
