import { describe, expect, it } from 'vitest';
import { ImageDataset } from '@swarmgrad/data';
import { UsageError } from './args.js';
import { classReport } from './class-report.js';
import { dataOptionsFromDescriptor, dataOptionsFromFlags, displaySamples, transformImageData } from './image-data.js';

describe('image data flags', () => {
  it('parses --image-size, --augment, --normalize and --strict', () => {
    expect(dataOptionsFromFlags({ 'image-size': '24x32', augment: 'crop:3,flip', normalize: '0.5,0.4/0.2,0.1', strict: true }, 9)).toEqual({
      imageSize: [24, 32],
      augmentation: { cropPadding: 3, flip: true, seed: 9 },
      normalize: { mean: [0.5, 0.4], std: [0.2, 0.1] },
      strict: true,
    });
    for (const flags of [{ 'image-size': '32' }, { 'image-size': '0x4' }, { normalize: '0.5/0' }, { normalize: '0.5,0.5/0.2' }, { normalize: 'a/b' }, { augment: 'rotate' }]) {
      expect(() => dataOptionsFromFlags(flags, 1)).toThrow(UsageError);
    }
  });

  it('records normalisation, class names and augmentation in the descriptor and reads them back', () => {
    const images = Uint8Array.from({ length: 4 * 2 * 2 * 3 }, (_, i) => (i * 29) & 255);
    const make = () => new ImageDataset({ images, labels: [0, 1, 0, 1], height: 2, width: 2, channels: 3, classNames: ['a', 'b'] });
    const loaded = transformImageData({ descriptor: { name: 'images', dir: 'd' }, train: make(), test: make() }, { augmentation: { cropPadding: 1, flip: true, seed: 2 } }, 'auto');
    expect(loaded.descriptor.classNames).toEqual(['a', 'b']);
    const back = dataOptionsFromDescriptor(loaded.descriptor, true);
    expect(back.augmentation).toEqual({ cropPadding: 1, flip: true, seed: 2 });
    expect(back.normalize).toEqual(loaded.descriptor.normalization);
    expect(dataOptionsFromDescriptor(loaded.descriptor, false).augmentation).toBeUndefined();
    // Display values are the pixels / 255, not the normalised inputs.
    expect(Array.from(displaySamples(loaded.test, [1]).subarray(0, 2))).toEqual([images[12]! / 255, images[13]! / 255].map(Math.fround));
    expect(loaded.test.batch([1]).x[0]).not.toBeCloseTo(images[12]! / 255, 3);
  });
});

describe('classReport', () => {
  it('computes precision and recall per class, null where undefined', () => {
    const report = classReport([[3, 1, 0], [0, 2, 0], [1, 0, 0]], ['x', 'y', 'z']);
    expect(report[0]).toEqual({ class: 'x', precision: 3 / 4, recall: 3 / 4, support: 4 });
    expect(report[1]).toEqual({ class: 'y', precision: 2 / 3, recall: 1, support: 2 });
    expect(report[2]).toEqual({ class: 'z', precision: null, recall: 0, support: 1 });
  });
});
