/**
 * `@swarmgrad/export` — take swarmgrad models out: ONNX ({@link toOnnx}) and TensorFlow.js
 * LayersModel ({@link toTfjsLayersModel}) writers from a model spec + flat parameters.
 * Environment-free. The TensorBoard event-file writer (Node) is `@swarmgrad/export/tensorboard`.
 *
 * @packageDocumentation
 */
export { ExportError, ExportErrorCode } from './errors.js';
export { checkExportInput, type CheckedModel, type ExportInput, type ExportNormalization } from './model-input.js';
export { ONNX_IR_VERSION, ONNX_OPSET, decodeOnnx, toOnnx } from './onnx.js';
export { TFJS_WEIGHTS_FILE, toTfjsLayersModel, type TfjsLayersModel } from './tfjs.js';
