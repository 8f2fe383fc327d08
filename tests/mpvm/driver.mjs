// Runs Python steps on MicroPython's WebAssembly port, one JSON line per step.
//
// Request lines on stdin: {"files": {"/lib/x.py": "source", ...}} writes files into the
// VM's filesystem (not the GC heap);
// {"code": "python source"} runs it in __main__. Every reply is one
// {"binary": {path: hex}} writes bytes. Every reply is one
// line: {"ok", "out", "error", "alloc"}, where "alloc" is gc.mem_alloc() after a
// gc.collect() run once control is back at the top level: the VM's collector frees
// only what no running frame reaches, so this is the live heap between two events.
import { createInterface } from "node:readline";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

let out = [];
const mp = await loadMicroPython({
  heapsize: 2 * 1024 * 1024,
  stdout: (line) => out.push(line),
  stderr: (line) => out.push(line),
});
const gc = mp.pyimport("gc");

function mkdirs(path) {
  const parts = path.split("/").slice(1, -1);
  let dir = "";
  for (const part of parts) {
    dir += "/" + part;
    try {
      mp.FS.mkdir(dir);
    } catch {
      // already there
    }
  }
}

function step(request) {
  out = [];
  let error = null;
  try {
    if (request.files) {
      for (const [path, text] of Object.entries(request.files)) {
        mkdirs(path);
        mp.FS.writeFile(path, text);
      }
    }
    for (const [path, hex] of Object.entries(request.binary || {})) {
      mkdirs(path);
      mp.FS.writeFile(path, Buffer.from(hex, "hex"));
    }
    if (request.code) {
      mp.runPython(request.code);
    }
  } catch (exc) {
    error = String(exc.message || exc);
  }
  gc.collect();
  const alloc = gc.mem_alloc();
  return { ok: error === null, out: out.join("\n"), error, alloc };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
for await (const line of lines) {
  if (!line.trim()) continue;
  process.stdout.write(JSON.stringify(step(JSON.parse(line))) + "\n");
}
