// A minimal sharp (libvips) server for benches/compare/serve_load.py: answers
// `GET /<file>?imageMogr2/quality/60` with the file from the folder given as the first
// argument re-encoded as JPEG at quality 60. Prints its port on the first line.
//
//     npm install --prefix target/sharp sharp
//     NODE_PATH=target/sharp/node_modules node benches/compare/sharp_serve.js DIR
const http = require("http");
const path = require("path");
const sharp = require("sharp");

const dir = process.argv[2];
const server = http.createServer((req, res) => {
  const name = path.basename(decodeURIComponent(req.url.split("?")[0]));
  sharp(path.join(dir, name))
    .jpeg({ quality: 60 })
    .toBuffer()
    .then((body) => {
      res.writeHead(200, { "Content-Type": "image/jpeg", "Content-Length": body.length });
      res.end(body);
    })
    .catch(() => {
      res.writeHead(500, { "Content-Length": 0 });
      res.end();
    });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
