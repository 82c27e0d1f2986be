/**
 * The text the search writes into a trajectory after a step's program ran (spec §1.3, §2.2): the
 * `<output>` block that follows the final code step (and a step that died of its error). Building the
 * program and formatting the observation belong to lib/exec/program.ts (`buildStepProgram`,
 * `observationOf`), so that rule has one implementation.
 */
import { MARKERS } from './markers.js';

/**
 * `"\n<output>" + observation + "<end_of_output>"`; when the step already ends with `<output>` (the
 * bootstrap round stops on it) only the observation and the closing marker are added.
 */
export function outputBlock(observation: string, stepEndsWithOutputMarker: boolean): string {
  return `${stepEndsWithOutputMarker ? '' : `\n${MARKERS.output}`}${observation}${MARKERS.endOfOutput}`;
}
