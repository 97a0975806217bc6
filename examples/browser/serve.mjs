// Serves a built example folder (default examples/browser/dist) on 127.0.0.1 with node:http only:
// the right MIME types (.wasm, .js, .bin among them), no caching, and the two headers that make the
// page cross-origin isolated, so its worker can give the WebAssembly kernels a shared memory.
//   node examples/browser/serve.mjs [DIR] [--port N]     (--port 0: any free port; prints the address)

import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
  ".ico": "image/x-icon",
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: "string", default: "8000" } },
});
const root = resolve(positionals[0] ?? join(dirname(fileURLToPath(import.meta.url)), "dist"));

const server = createServer((req, res) => {
  const headers = {
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "X-Content-Type-Options": "nosniff",
  };
  let path = "",
    file = "",
    size = -1;
  try {
    path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    file = resolve(root, "." + (path.endsWith("/") ? path + "index.html" : path));
    if (file === root || file.startsWith(root + sep)) {
      const st = statSync(file);
      if (st.isFile()) size = st.size;
    }
  } catch {
    size = -1;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
  } else if (size < 0) {
    res.writeHead(404, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end(`not found: ${path}\n`);
  } else {
    res.writeHead(200, {
      ...headers,
      "Content-Type": MIME[extname(file)] ?? "application/octet-stream",
      "Content-Length": size,
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  }
});

server.listen(Number(values.port), "127.0.0.1", () => {
  const { port } = server.address();
  console.log(`serving ${root} at http://127.0.0.1:${port}/`);
});
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
