// Every contract citation in the code and docs points at a page of this repository that has the cited
// section: `name.md N.N`, `name.md section N`, `name section N` and `name.md ("Heading")` are checked
// against docs/, and nothing cites the reference folder outside the repository that a clone lacks.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const SCANNED = ["src", "python", "test", "docs", "scripts", "bench", "README.md"];
const SKIP_DIRS = new Set(["node_modules", ".venv", "__pycache__", ".pytest_cache", "dist"]);
const TEXT = /\.(ts|js|mjs|py|md|css|html|sh|toml|txt)$/;
const SELF = path.relative(ROOT, import.meta.filename);

/** Names that must never appear: the outside reference folder and the old contract's name. */
const FORBIDDEN = [["..", "shared"].join("/"), ["shared", "docs"].join("/"), ["fal-wire", "contract"].join("-")];

function walk(rel: string, out: string[]): void {
  const abs = path.join(ROOT, rel);
  if (!fs.existsSync(abs)) return;
  const st = fs.statSync(abs);
  if (st.isFile()) {
    if (TEXT.test(rel)) out.push(rel);
    return;
  }
  for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
    if (entry.isDirectory() && SKIP_DIRS.has(entry.name)) continue;
    if (entry.isSymbolicLink()) continue;
    walk(path.join(rel, entry.name), out);
  }
}

interface DocIndex {
  numbers: Set<string>;
  titles: string[];
}

/** Section numbers ("3", "3.4") and heading texts of a markdown page. */
export function indexDoc(markdown: string): DocIndex {
  const numbers = new Set<string>();
  const titles: string[] = [];
  for (const line of markdown.split("\n")) {
    const h = /^#{1,6}\s+(.+?)\s*$/.exec(line);
    if (!h) continue;
    titles.push(h[1]!);
    const n = /^(\d+(?:\.\d+)*)\.?\s/.exec(h[1]!);
    if (n) numbers.add(n[1]!);
  }
  return { numbers, titles };
}

interface Citation {
  doc: string;
  sections: string[];
  heading?: string;
  text: string;
}

const NUM = String.raw`\d+(?:\.\d+)*(?![\w.]*\w)`;
const MORE = String.raw`(?:\s*(?:,|and|-|–)\s*(?:sections?\s+)?${NUM})*`;
/** `name.md 3.4`, `name.md section 5`, `name.md sections 3 and 6`, `name.md 1.3 and section 2`. */
const WITH_MD = new RegExp(String.raw`([A-Za-z0-9_-]+)\.md,?\s+(?:sections?\s+)?(${NUM}${MORE})`, "g");
/** `fal-wire-protocol section 5` (a hyphenated page name without `.md`). */
const WITHOUT_MD = new RegExp(String.raw`\b([a-z0-9]+(?:-[a-z0-9]+)+)\s+sections?\s+(${NUM}${MORE})`, "g");
/** `name.md ("Heading")`. */
const BY_TITLE = /([A-Za-z0-9_-]+)\.md \("([^"]+)"\)/g;

/** The citations in one file's text. */
export function findCitations(text: string): Citation[] {
  const found: Citation[] = [];
  const numbers = (s: string) => s.match(/\d+(?:\.\d+)*/g) ?? [];
  for (const m of text.matchAll(WITH_MD)) found.push({ doc: m[1]!, sections: numbers(m[2]!), text: m[0] });
  for (const m of text.matchAll(WITHOUT_MD)) {
    // Already taken by WITH_MD when written as `name.md section N`.
    if (text.slice(m.index! + m[1]!.length).startsWith(".md")) continue;
    found.push({ doc: m[1]!, sections: numbers(m[2]!), text: m[0] });
  }
  for (const m of text.matchAll(BY_TITLE)) found.push({ doc: m[1]!, sections: [], heading: m[2]!, text: m[0] });
  return found;
}

/** Problems of one file: forbidden names and citations that do not resolve. */
export function checkText(file: string, text: string, docs: Map<string, DocIndex>): string[] {
  const problems: string[] = [];
  for (const name of FORBIDDEN) if (text.includes(name)) problems.push(`${file}: cites "${name}"`);
  for (const c of findCitations(text)) {
    const doc = docs.get(c.doc);
    if (!doc) {
      problems.push(`${file}: "${c.text}" names ${c.doc}.md, which is not in docs/`);
      continue;
    }
    for (const s of c.sections) if (!doc.numbers.has(s)) problems.push(`${file}: "${c.text}": docs/${c.doc}.md has no section ${s}`);
    if (c.heading && !doc.titles.some((t) => t.startsWith(c.heading!))) problems.push(`${file}: "${c.text}": docs/${c.doc}.md has no heading "${c.heading}"`);
  }
  return problems;
}

function loadDocs(): Map<string, DocIndex> {
  const docs = new Map<string, DocIndex>();
  for (const f of fs.readdirSync(path.join(ROOT, "docs"))) {
    if (f.endsWith(".md")) docs.set(f.slice(0, -3), indexDoc(fs.readFileSync(path.join(ROOT, "docs", f), "utf8")));
  }
  return docs;
}

describe("contract citations", () => {
  const docs = loadDocs();

  it("the three protocol pages exist with numbered sections", () => {
    expect(docs.get("fal-wire-protocol")?.numbers).toContain("3.4");
    expect(docs.get("fal-wire-protocol")?.numbers).toContain("12");
    expect(docs.get("ltx-hosted-api")?.numbers).toContain("1.7");
    expect(docs.get("ltx-worker-protocol")?.numbers).toContain("2.1");
  });

  it("the checker finds a wrong section, an unknown page, a missing heading and an outside path", () => {
    const bad = [
      "see fal-wire-protocol.md 3.9 and fal-wire-protocol section 13",
      "(no-such-page.md 1.2)",
      'docs/ltx-engine.md ("No such heading")',
      `from ${FORBIDDEN[1]}/x.md`,
    ].join("\n");
    const problems = checkText("sample", bad, docs);
    expect(problems.join("\n")).toContain("no section 3.9");
    expect(problems.join("\n")).toContain("no section 13");
    expect(problems.join("\n")).toContain("no-such-page.md, which is not in docs/");
    expect(problems.join("\n")).toContain('no heading "No such heading"');
    expect(problems.join("\n")).toContain(`cites "${FORBIDDEN[1]}"`);
    expect(checkText("sample", "fal-wire-protocol.md sections 3 and 6; ltx-hosted-api.md 1.3 and section 2", docs)).toEqual([]);
  });

  it("every citation in src, python, test, docs, scripts, bench and the README resolves", () => {
    const files: string[] = [];
    for (const rel of SCANNED) walk(rel, files);
    expect(files.length).toBeGreaterThan(50);
    const problems = files
      .filter((f) => f !== SELF)
      .flatMap((f) => checkText(f, fs.readFileSync(path.join(ROOT, f), "utf8"), docs));
    expect(problems).toEqual([]);
  });
});
