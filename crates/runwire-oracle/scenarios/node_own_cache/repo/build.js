const fs = require('fs');
const st = fs.statSync('src/in.txt');
let cache = {};
try { cache = JSON.parse(fs.readFileSync('.mycache/state.json', 'utf8')); } catch {}
let text;
if (cache.mtime === st.mtimeMs && cache.size === st.size) { text = cache.text; }
else { text = fs.readFileSync('src/in.txt', 'utf8').toUpperCase(); fs.mkdirSync('.mycache', { recursive: true }); fs.writeFileSync('.mycache/state.json', JSON.stringify({ mtime: st.mtimeMs, size: st.size, text })); }
fs.mkdirSync('out', { recursive: true });
fs.writeFileSync('out/r.txt', text);
console.log('done');
