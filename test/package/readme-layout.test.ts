// The layout listings of README.md and docs/development.md cannot drift: the first code block under
// "## Layout" (an entry a line, indented entries inside the last unindented one, description lines
// indented deeper) must name every folder of packages/egru/src and packages/cli/src and every top-level
// folder of the repository (hidden and git-ignored ones aside), and no folder that does not exist.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "../helpers.js";

/** The folders whose every subfolder a listing names; elsewhere it names at least each top-level folder. */
const COMPLETE = ["packages/egru/src", "packages/cli/src"];

/** The folders the "## Layout" listing of a Markdown text names, from the repository root, without "/". */
function listedFolders(markdown: string): string[] {
  const section = markdown.split(/^## Layout$/m)[1]?.split(/^## /m)[0];
  const block = section && /^```\n([\s\S]*?)^```$/m.exec(section)?.[1];
  assert.ok(block, 'a "## Layout" section with a code block');
  const folders: string[] = [];
  let parent = "";
  for (const line of block.split("\n")) {
    const entry = /^( {0,2})(\S+)/.exec(line);
    if (!entry) continue;
    const [, indent, name] = entry as unknown as [string, string, string];
    const path = indent === "" ? name : parent + name;
    if (indent === "") parent = name;
    if (path.endsWith("/")) folders.push(path.slice(0, -1));
  }
  return folders;
}

const subfolders = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);

/** The folders a listing must name under `root`: top-level ones (not hidden, not in .gitignore) and COMPLETE's. */
function requiredFolders(root: string): string[] {
  const gitignore = readFileSync(join(root, ".gitignore"), "utf8");
  const ignored = new Set([...gitignore.matchAll(/^([^/*!#\s]+)\/$/gm)].map((m) => m[1]));
  const top = subfolders(root).filter((name) => !name.startsWith(".") && !ignored.has(name));
  return [...top, ...COMPLETE.flatMap((dir) => subfolders(join(root, dir)).map((name) => `${dir}/${name}`))];
}

/** What is wrong with the listing of `file` (relative to `root`): folders it misses, and entries that are stale. */
function layoutProblems(root: string, file: string): string[] {
  const listed = listedFolders(readFileSync(join(root, file), "utf8"));
  const named = new Set(listed);
  const namedTop = new Set(listed.map((path) => path.split("/")[0]));
  const missing = requiredFolders(root).filter((path) => (path.includes("/") ? !named.has(path) : !namedTop.has(path)));
  const stale = listed.filter((path) => !statSync(join(root, path), { throwIfNoEntry: false })?.isDirectory());
  return [
    ...missing.map((path) => `${file}: "## Layout" has no line for ${path}/ (add one)`),
    ...stale.map((path) => `${file}: "## Layout" names ${path}/, which does not exist (remove or rename it)`),
  ].sort();
}

for (const file of ["README.md", "docs/development.md"]) {
  test(`${file}'s layout names exactly the folders that exist`, () => {
    const listed = listedFolders(readFileSync(join(ROOT, file), "utf8"));
    for (const dir of COMPLETE)
      assert.ok(
        listed.some((p) => p.startsWith(`${dir}/`)),
        `${file} lists ${dir}/`,
      );
    assert.deepEqual(layoutProblems(ROOT, file), []);
  });
}

test("the layout check can fail: a folder added and a folder removed are both named", () => {
  const root = mkdtempSync(join(tmpdir(), "egru-layout-"));
  try {
    for (const dir of ["packages/egru/src/core", "packages/egru/src/added", "packages/cli/src/cli", "bench", "runs"]) {
      mkdirSync(join(root, dir), { recursive: true });
    }
    writeFileSync(join(root, ".gitignore"), "runs/\n");
    writeFileSync(
      join(root, "README.md"),
      "# x\n\n## Layout\n\n```\npackages/egru/src/   the library\n  core/            no ML\n  removed/         gone\n" +
        "                   (a description line)\npackages/cli/src/\n  cli/\n```\n\n## Next\n\n```\ndocs/\n```\n",
    );
    assert.deepEqual(layoutProblems(root, "README.md"), [
      'README.md: "## Layout" has no line for bench/ (add one)',
      'README.md: "## Layout" has no line for packages/egru/src/added/ (add one)',
      'README.md: "## Layout" names packages/egru/src/removed/, which does not exist (remove or rename it)',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
