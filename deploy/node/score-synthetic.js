// Runs a model exported by `mlnet-classify export` with onnxruntime-node (no .NET) on a synthetic 300x200 RGB tensor
// and prints its outputs as JSON: node score-synthetic.js model.onnx (after npm install onnxruntime-node).
const ort = require('onnxruntime-node');
(async () => {
  const session = await ort.InferenceSession.create(process.argv[2]);
  const h = 200, w = 300, data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 3; data[i] = (x * 7 + y) % 256; data[i + 1] = (y * 5) % 256; data[i + 2] = ((x ^ y) * 3) % 256;
  }
  const out = await session.run({ image: new ort.Tensor('uint8', data, [1, h, w, 3]) });
  console.log(JSON.stringify({ probabilities: Array.from(out.probabilities.data), predicted: Number(out.predicted_index.data[0]), inputs: session.inputNames, outputs: session.outputNames }));
})().catch(e => { console.error(e); process.exit(1); });
