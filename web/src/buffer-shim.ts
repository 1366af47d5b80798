// @wasmer/wasi carries its own Wasm as a data: URL and decodes it with Node's Buffer.from, which a
// browser does not have; its README asks browser users for a Buffer. This is just enough of one:
// Buffer.from(text, "base64" | "ascii") as a Uint8Array.
const g = globalThis as { Buffer?: unknown };
g.Buffer ??= {
  from(text: string, encoding: string): Uint8Array {
    if (encoding === "base64") return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
  },
};
export {};
