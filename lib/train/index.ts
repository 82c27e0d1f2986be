/** Training: the built-in SFT/PPM trainer (native/train), its data handling, and the external-trainer hook. */
export { trainModel, checkpointDirFor, type TrainOptions, type SftTrainOptions, type PpmTrainOptions, type TrainReport, type TrainProgress } from './trainer.js';
export { loadSftRows, loadPairRows, pairWeights, splitHeldOut, type SftRow, type PairRow } from './data.js';
export { runExternalTrainer, renderCommand, shellQuote, type ExternalTrainOptions, type ExternalTrainReport } from './external.js';
export { defaultTrainConfig, validateTrainConfig, type TrainConfig, type TrainHyperparameters, type SftTrainConfig, type PpmTrainConfig } from './config.js';
export { additionSftRows, additionPairRows, additionPrompt, additionSolution, additionRecipe, additionRecipeData, additionSplit, additionGreedyAccuracy } from './synthetic.js';
