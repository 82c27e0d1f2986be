export { Model } from './model.js';
export { TreeContext, Sequence, type TreeContextStats } from './tree-context.js';
export * from './types.js';
export { makeModel, quantizeModel, inspectModel, PRESETS, PRESET_SHAPES, MODEL_TYPES, type Preset, type ModelType, type Shape } from './model-files.js';
