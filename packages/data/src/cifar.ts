/**
 * CIFAR-10 and CIFAR-100, "binary version": the parser is environment-free, the directory
 * loader (`loadCifar`) is Node-only and exported from `@swarmgrad/data/node`.
 *
 * Records: CIFAR-10 is `<1 label byte><3072 pixel bytes>`; CIFAR-100 is `<1 coarse label
 * byte><1 fine label byte><3072 pixel bytes>` (swarmgrad trains on the fine labels). Pixels
 * are channel-planar (1024 red, 1024 green, 1024 blue, each 32×32 row-major) and are
 * converted to NHWC.
 */
import { DataError, DataErrorCode } from './errors.js';
import { ImageDataset } from './dataset.js';

/** Which CIFAR. */
export type CifarVariant = 'cifar10' | 'cifar100';

/** Pixel bytes of one CIFAR image: 32 × 32 × 3. */
export const CIFAR_IMAGE_BYTES = 3072;

/** The CIFAR-10 class names, in label order (as in `batches.meta.txt`). */
export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/** The CIFAR-100 fine class names, in label order (as in `fine_label_names.txt`). */
export const CIFAR100_CLASS_NAMES = (
  'apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle caterpillar cattle ' +
  'chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard ' +
  'lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree ' +
  'plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider ' +
  'squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm'
).split(' ');

/** Record layout of a variant. */
export function cifarLayout(variant: CifarVariant): { labelBytes: number; recordBytes: number; numClasses: number } {
  return variant === 'cifar10' ? { labelBytes: 1, recordBytes: 3073, numClasses: 10 } : { labelBytes: 2, recordBytes: 3074, numClasses: 100 };
}

/** Decoded records: NHWC pixels and (fine) labels. */
export interface CifarRecords {
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

/**
 * Parses one CIFAR binary file.
 * @throws {@link DataError} `TRUNCATED` (empty, or the last record is cut short — the message
 *   gives the record count and the bytes left over), `BAD_LABEL` (a label ≥ the class count,
 *   naming the record and its byte offset)
 */
export function parseCifar(bytes: Uint8Array, variant: CifarVariant, name: string = variant): CifarRecords {
  const { labelBytes, recordBytes, numClasses } = cifarLayout(variant);
  if (bytes.length === 0) throw new DataError(DataErrorCode.TRUNCATED, `${name}: file is empty, expected records of ${recordBytes} bytes`);
  if (bytes.length % recordBytes !== 0) {
    throw new DataError(
      DataErrorCode.TRUNCATED,
      `${name}: ${bytes.length} bytes is ${Math.floor(bytes.length / recordBytes)} records of ${recordBytes} bytes and ${bytes.length % recordBytes} bytes over; expected whole ${variant} records (is this the ${variant === 'cifar10' ? 'CIFAR-100' : 'CIFAR-10'} format?)`,
    );
  }
  const count = bytes.length / recordBytes;
  const pixels = new Uint8Array(count * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const base = n * recordBytes;
    const label = bytes[base + labelBytes - 1] as number;
    if (label >= numClasses || (labelBytes === 2 && (bytes[base] as number) >= 20)) {
      throw new DataError(
        DataErrorCode.BAD_LABEL,
        `${name}: record ${n} (byte ${base}) has label ${label}${labelBytes === 2 ? ` / coarse ${bytes[base] as number}` : ''}, expected a label in [0, ${numClasses})${labelBytes === 2 ? ' and a coarse label in [0, 20)' : ''}`,
      );
    }
    labels[n] = label;
    const from = base + labelBytes;
    const to = n * CIFAR_IMAGE_BYTES;
    for (let p = 0; p < 1024; p++) {
      pixels[to + 3 * p] = bytes[from + p] as number;
      pixels[to + 3 * p + 1] = bytes[from + 1024 + p] as number;
      pixels[to + 3 * p + 2] = bytes[from + 2048 + p] as number;
    }
  }
  return { pixels, labels };
}

/** Joins parsed files into one {@link ImageDataset} of 32×32×3 images. */
export function cifarDataset(parts: readonly CifarRecords[], variant: CifarVariant, name: string, classNames: readonly string[]): ImageDataset {
  const count = parts.reduce((sum, p) => sum + p.labels.length, 0);
  const pixels = new Uint8Array(count * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const part of parts) {
    pixels.set(part.pixels, at * CIFAR_IMAGE_BYTES);
    labels.set(part.labels, at);
    at += part.labels.length;
  }
  return new ImageDataset({ name, images: pixels, labels, height: 32, width: 32, channels: 3, numClasses: cifarLayout(variant).numClasses, classNames });
}
