// Scores the photos of a folder written by the export agreement test with an exported model in onnxruntime-node (no
// .NET) and prints, as JSON, for each photo whether its top-1 is predict's and its largest probability difference:
//   node agreement.js model.onnx FOLDER   (after npm install in this folder)
// FOLDER/manifest.json lists {file, width, height, probabilities}: file holds the photo's RGB bytes, uint8 H×W×3, as
// decoded at full size; probabilities are predict's for it.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
(async () => {
  const [modelPath, folder] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(modelPath);
  const photos = JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8'));
  const results = [];
  for (const p of photos) {
    const data = new Uint8Array(fs.readFileSync(path.join(folder, p.file)));
    const out = await session.run({ image: new ort.Tensor('uint8', data, [1, p.height, p.width, 3]) });
    const probs = Array.from(out.probabilities.data);
    const expected = p.probabilities.indexOf(Math.max(...p.probabilities));
    const difference = Math.max(...probs.map((v, i) => Math.abs(v - p.probabilities[i])));
    results.push({ file: p.file, agrees: Number(out.predicted_index.data[0]) === expected, difference });
  }
  const agree = results.filter(r => r.agrees).length;
  console.log(JSON.stringify({ onnxruntime: require('onnxruntime-node/package.json').version, agree, max_probability_difference: Math.max(...results.map(r => r.difference)), photos: results }));
})().catch(e => { console.error(e); process.exit(1); });
