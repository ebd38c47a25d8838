// Rows pasted on the page: one sample a line, its inputs then its outputs, separated by
// commas, semicolons, tabs or spaces. A line of the wrong width is refused by number.

export interface PastedRows { rows: number; x: Float32Array; y: Float32Array }

export function parseRows(text: string, inputs: number, outputs: number): PastedRows {
  const width = inputs + outputs;
  const values: number[] = [];
  let rows = 0;
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const fields = line.trim().split(/[\s,;]+/).map(Number);
    if (fields.length !== width) throw new Error(`line ${index + 1} has ${fields.length} values; this model takes ${inputs} inputs and ${outputs} outputs (${width})`);
    if (fields.some((v) => !Number.isFinite(v))) throw new Error(`line ${index + 1} holds something that is not a finite number`);
    values.push(...fields);
    rows++;
  });
  if (rows === 0) throw new Error("no rows: paste one sample a line, inputs then outputs");
  const x = new Float32Array(rows * inputs);
  const y = new Float32Array(rows * outputs);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inputs; k++) x[r * inputs + k] = values[r * width + k]!;
    for (let j = 0; j < outputs; j++) y[r * outputs + j] = values[r * width + inputs + j]!;
  }
  return { rows, x, y };
}
