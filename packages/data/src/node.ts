/**
 * `@swarmgrad/data/node` — Node-only entry: everything from `@swarmgrad/data`, plus reading IDX
 * files from disk (gzip via `node:zlib`), loading IDX directories, and the bundled MNIST.
 *
 * @packageDocumentation
 */
export * from './index.js';
export { readIdxFile, readIdxFileSync } from './idx-file.js';
export {
  findIdxFiles,
  loadIdxDataset,
  type IdxFilePair,
  type LoadIdxDatasetOptions,
  type Split,
} from './idx-dataset.js';
export { MNIST_CLASS_NAMES, loadMnist, mnistDataDirectory, type LoadMnistOptions } from './mnist.js';
export { MAX_IMAGE_PIXELS, decodeImage, imageToSample, luma, resizeBilinear, type DecodedImage } from './image-decode.js';
export {
  IMAGE_EXTENSIONS,
  loadImageFolder,
  type ImageFolder,
  type ImageFolderReport,
  type LoadImageFolderOptions,
} from './image-folder.js';
export { loadCifar } from './cifar-files.js';
