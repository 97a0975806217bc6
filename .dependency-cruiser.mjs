// The repository's import rules, in one place (dependency-cruiser's configuration): no import cycle
// outside type-only imports, and the boundaries of both packages. The library's isomorphic folders and
// the CLI's data/, train/ and viz/ import no Node built-in and no Node-only module; inside each package
// the folders are layered one way (the tables below); the library imports nothing outside its src/;
// the CLI reaches the library only by its name ("egru", "egru/node"), never by a path, and its Node-only
// folders are layered too (cli/ over run/ over node/: nothing below cli/ imports it). `npm run
// depcruise` and test/package/boundaries.test.ts run it.

const LIB = "packages/egru/src/";
const CLI = "packages/cli/src/";
const EXAMPLE = "examples/browser/src/";

/**
 * The library's isomorphic folders (and its entry index.ts): which others each may import from (its own
 * folder always). node/ and node.ts ("egru/node") are Node-only and may import anything in the package.
 */
const LIBRARY_LAYERS = {
  core: [],
  kernels: ["core"],
  wasm: ["core", "kernels"],
  reference: ["core", "kernels"],
  layers: ["core", "kernels", "wasm"],
  nn: ["core", "kernels", "wasm", "layers"],
  optim: ["core", "kernels", "nn"],
  io: ["core"],
  model: ["core", "kernels", "wasm", "layers", "nn", "optim", "io"],
  "index.ts": ["core", "kernels", "wasm", "reference", "layers", "nn", "optim", "io", "model"],
};
const LIBRARY_NODE_ONLY = ["node", "node.ts"];

/** The CLI's isomorphic folders (and its entry index.ts), the same way. */
const CLI_LAYERS = {
  data: [],
  train: ["data"],
  viz: [],
  "index.ts": ["data", "train"],
};
/** The CLI's Node-only folders, top down: each may import anything in the package but the ones above it. */
const CLI_NODE_ONLY = ["cli", "run", "node"];

/** The packages (besides "egru") that the CLI's isomorphic folders may import. */
const CLI_ISOMORPHIC_PACKAGES = ["zod", "d3-scale", "d3-scale-chromatic"];

const escape = (s) => s.replaceAll(".", "\\.");
/** A regular expression for the entries of src (folders, or files such as index.ts) named. */
const entries = (src, names) =>
  `^${src}(${names.map((n) => (n.endsWith(".ts") ? `${escape(n)}$` : `${n}/`)).join("|")})`;

const isomorphic = [entries(LIB, Object.keys(LIBRARY_LAYERS)), entries(CLI, Object.keys(CLI_LAYERS)), `^${EXAMPLE}`];
const nodeOnly = [entries(LIB, LIBRARY_NODE_ONLY), entries(CLI, CLI_NODE_ONLY)];

/** One rule per isomorphic entry: it imports only from itself and the entries its table row names. */
const layering = (pkg, src, table) =>
  Object.entries(table).map(([name, allowed]) => ({
    name: `${pkg}-layers-${name.replace(/\.ts$/, "")}`,
    severity: "error",
    comment: `${src}${name} may import only from ${[name, ...allowed].join(", ")} (the layer table in .dependency-cruiser.mjs)`,
    from: { path: entries(src, [name]) },
    to: { path: `^${src}`, pathNot: [entries(src, [name, ...allowed]), ...nodeOnly] },
  }));

/** A file in a folder that no table names: the folder needs a row (and a line in the README's layout). */
const unlisted = (pkg, src, names) => ({
  name: `${pkg}-folder-has-no-rule`,
  severity: "error",
  comment: `${src} has a folder or top-level file that .dependency-cruiser.mjs does not name: give it a row`,
  from: { path: `^${src}`, pathNot: entries(src, names) },
  to: {},
});

/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "an import cycle (type-only imports do not count): break it",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "an import that resolves to no file or package",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "isomorphic-no-node-builtin",
      severity: "error",
      comment: "isomorphic code (runs in browsers) imports a Node built-in: move it to a node/ or cli/ folder",
      from: { path: isomorphic },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "isomorphic-no-node-only-module",
      severity: "error",
      comment: 'isomorphic code imports a Node-only module ("egru/node", or a node/, run/ or cli/ folder)',
      from: { path: isomorphic },
      to: { path: nodeOnly },
    },
    {
      name: "egru-self-contained",
      severity: "error",
      comment:
        "the library imports nothing outside its src/: no package (it has no runtime dependency), no path above src/",
      from: { path: `^${LIB}` },
      to: { pathNot: `^${LIB}`, dependencyTypesNot: ["core"] },
    },
    ...layering("egru", LIB, LIBRARY_LAYERS),
    unlisted("egru", LIB, [...Object.keys(LIBRARY_LAYERS), ...LIBRARY_NODE_ONLY]),
    {
      name: "cli-library-by-name",
      severity: "error",
      comment: 'the CLI imports by relative path only inside its src/: reach the library as "egru" or "egru/node"',
      from: { path: `^${CLI}` },
      to: { dependencyTypes: ["local"], dependencyTypesNot: ["aliased"], pathNot: `^${CLI}` },
    },
    {
      name: "cli-isomorphic-packages",
      severity: "error",
      comment: `the CLI's isomorphic code imports only "egru", ${CLI_ISOMORPHIC_PACKAGES.map((p) => `"${p}"`).join(", ")}`,
      from: { path: entries(CLI, Object.keys(CLI_LAYERS)) },
      to: { path: "^node_modules/", pathNot: `^node_modules/(${CLI_ISOMORPHIC_PACKAGES.map(escape).join("|")})/` },
    },
    ...layering("cli", CLI, CLI_LAYERS),
    ...CLI_NODE_ONLY.slice(1).map((name, i) => ({
      name: `cli-layers-${name}`,
      severity: "error",
      comment: `${CLI}${name}/ serves ${CLI_NODE_ONLY.slice(0, i + 1).join("/, ")}/ and imports nothing from them`,
      from: { path: entries(CLI, [name]) },
      to: { path: entries(CLI, CLI_NODE_ONLY.slice(0, i + 1)) },
    })),
    unlisted("cli", CLI, [...Object.keys(CLI_LAYERS), ...CLI_NODE_ONLY]),
  ],
  options: {
    // the sources of both packages, the browser example and the benchmarks are cruised (the command
    // line names them: package.json's "depcruise" script); packages are not followed into
    doNotFollow: { path: "(^|/)node_modules/" },
    // type-only imports are kept in the graph (marked "type-only"): they count for the boundaries,
    // not for cycles; `import … from "./x.js"` resolves to x.ts
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.test.json" },
    // "egru" and "egru/node" resolve through the workspace link and the library's exports to its sources
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["egru-source", "import", "default"],
      mainFields: ["module", "main"],
    },
    skipAnalysisNotInRules: true,
  },
};
