// The IDX file format of the MNIST files (big-endian): a magic number whose low bytes give the
// element type (0x08 = unsigned byte) and the number of dimensions, one u32 size per dimension,
// then the elements in row-major order. Parses bytes already in memory (no file access here), and
// checks everything: the magic, the type, the sizes against the byte count, the expected shape.

import { ValueError } from "egru";

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  /** Sizes of the dimensions, e.g. [60000, 28, 28]. */
  shape: number[];
  /** The elements, row-major (a view of the input bytes). */
  data: Uint8Array;
}

const UBYTE = 0x08;

/**
 * Parse an IDX file of unsigned bytes. `name` (a file name) appears in every error;
 * `expectDims` is the number of dimensions the caller needs (images 3, labels 1).
 */
export function parseIdx(bytes: Uint8Array, name: string, expectDims: number): IdxArray {
  if (bytes.length < 4) throw new ValueError(name, "an IDX file (at least a 4-byte header)", `${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = (magic >>> 8) & 0xff;
  const dims = magic & 0xff;
  if (magic >>> 16 !== 0 || type !== UBYTE) {
    throw new ValueError(
      `${name}: magic number`,
      `0x000008NN (unsigned bytes)`,
      `0x${magic.toString(16).padStart(8, "0")}`,
    );
  }
  if (dims !== expectDims) throw new ValueError(`${name}: dimensions`, String(expectDims), String(dims));
  const header = 4 + 4 * dims;
  if (bytes.length < header) throw new ValueError(name, `a header of ${header} bytes`, `${bytes.length} bytes`);
  const shape: number[] = [];
  for (let d = 0; d < dims; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== header + count) {
    throw new ValueError(
      `${name}: size`,
      `${header + count} bytes for shape [${shape.join(", ")}]`,
      `${bytes.length} bytes`,
    );
  }
  return { shape, data: bytes.subarray(header) };
}
