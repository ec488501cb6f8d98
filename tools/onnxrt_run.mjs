// onnxrt_run.mjs: runs an ONNX model in onnxruntime-node on .npy inputs (float32, one per
// graph input, in order) and writes each output as OUTDIR/NAME.npy; used by onnxrt-check.sh.
// usage: node onnxrt_run.mjs MODEL.onnx OUTDIR INPUT.npy...
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.ORT_DIR, 'package.json'));
const ort = require('onnxruntime-node');

function readNpy(file) {
  const b = fs.readFileSync(file);
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString('latin1');
  if (!header.includes("'<f4'")) throw new Error(`${file}: not float32`);
  const shape = header.match(/\(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + b.length));
  return new ort.Tensor('float32', data, shape);
}

function writeNpy(file, t) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${t.dims.join(', ')}${t.dims.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'), Buffer.from(new Float32Array(t.data).buffer)]));
}

const [model, outdir, ...inputs] = process.argv.slice(2);
const s = await ort.InferenceSession.create(model);
const feeds = {};
s.inputNames.forEach((n, k) => { feeds[n] = readNpy(inputs[k]); });
const r = await s.run(feeds);
for (const n of s.outputNames) writeNpy(path.join(outdir, `${n}.npy`), r[n]);
