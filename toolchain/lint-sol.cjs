#!/usr/bin/env node
// Solidity lint: compile every file under contracts/ with the project's settings and fail on
// any warning or error in the project's own sources (OpenZeppelin's are not ours to fix).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
let solc;
try {
  solc = require('solc');
} catch (e) {
  console.error('lint-sol: npm package "solc" missing; run `make setup` first');
  process.exitCode = 2;
  return;
}

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith('.sol')) out.push(p);
  }
  return out;
}

const files = walk(path.join(root, 'contracts'));
const sources = {};
for (const f of files) sources[path.relative(root, f)] = { content: fs.readFileSync(f, 'utf8') };
const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion: 'prague',
    optimizer: { enabled: true, runs: 1000 },
    remappings: ['@openzeppelin/contracts=node_modules/@openzeppelin/contracts'],
    outputSelection: { '*': { '*': [] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input), {
  import: (p) => {
    try { return { contents: fs.readFileSync(path.resolve(root, p), 'utf8') }; } catch (e) { return { error: `not found: ${p}` }; }
  },
}));
const ours = (out.errors || []).filter((e) => {
  const file = e.sourceLocation && e.sourceLocation.file;
  return e.severity === 'error' || !file || file.startsWith('contracts/');
});
for (const e of ours) console.error(e.formattedMessage || e.message);
if (ours.length) {
  console.error(`lint-sol: ${ours.length} warning(s)/error(s) in contracts/ (warnings count as failures)`);
  process.exitCode = 1;
} else {
  console.log(`lint-sol: ${files.length} Solidity files, no warnings`);
}
