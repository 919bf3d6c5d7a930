/** Per-class precision and recall from a confusion matrix, and the text table `eval` prints. */

/** One class's figures. */
export interface ClassFigures {
  class: string;
  /** Of the samples predicted as this class, the fraction that are (null when none was predicted). */
  precision: number | null;
  /** Of the samples of this class, the fraction predicted as it (null when the class has no sample). */
  recall: number | null;
  /** Samples of this class. */
  support: number;
}

/** `confusion[true][predicted]` → per-class precision, recall and support. */
export function classReport(confusion: readonly (readonly number[])[], classNames: readonly string[]): ClassFigures[] {
  return classNames.map((name, k) => {
    const support = (confusion[k] ?? []).reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((sum, row) => sum + (row[k] ?? 0), 0);
    const hits = confusion[k]?.[k] ?? 0;
    return { class: name, precision: predicted ? hits / predicted : null, recall: support ? hits / support : null, support };
  });
}

/** The confusion matrix with class names, then precision / recall per class. */
export function formatClassReport(confusion: readonly (readonly number[])[], classNames: readonly string[], figures: readonly ClassFigures[]): string {
  const label = Math.max(9, ...classNames.map((n) => n.length));
  const width = Math.max(5, ...confusion.flat().map((v) => String(v).length + 1), ...classNames.map((n) => Math.min(n.length, 10) + 1));
  const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
  return [
    '\nconfusion matrix (rows: true class, columns: predicted)',
    `${'true\\pred'.padEnd(label)}${classNames.map((n) => n.slice(0, 10).padStart(width)).join('')}`,
    ...confusion.map((row, k) => `${(classNames[k] ?? String(k)).padEnd(label)}${row.map((v) => String(v).padStart(width)).join('')}`),
    '',
    `${'class'.padEnd(label)}  precision     recall    support`,
    ...figures.map((f) => `${f.class.padEnd(label)}  ${pct(f.precision).padStart(9)}  ${pct(f.recall).padStart(9)}  ${String(f.support).padStart(9)}`),
  ].join('\n');
}
