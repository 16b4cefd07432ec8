#!/usr/bin/env node
// A native-`solc`-compatible command line over solc-js (the npm `solc` package, the
// official wasm build of the same compiler release). py-solc-x and ape-solidity call
// `solc --version`, `solc --standard-json [--base-path P] [--include-path P] [--allow-paths ...]`
// and `solc --combined-json abi,bin,... file.sol`; this script answers all three offline.
'use strict';
const fs = require('fs');
const path = require('path');

const USAGE = 'usage: solc --version | --standard-json [--base-path DIR] [--include-path DIR]... ' +
  '| --combined-json FIELDS [--base-path DIR] [--evm-version V] [--optimize] [--optimize-runs N] FILE...';

function fail(msg, code = 1) {
  process.stderr.write(`solc shim: ${msg}\n`);
  process.exitCode = code;
}

function loadSolc() {
  try {
    return require('solc');
  } catch (e) {
    fail('the npm package "solc" is not installed next to this shim; run `make setup` (npm ci) first', 2);
    return null;
  }
}

function nativeVersion(solc) {
  // solc-js reports "...Emscripten.clang"; py-solc-x parses the native CLI format.
  return solc.version().replace(/\.Emscripten\.clang$/, '.Linux.g++');
}

function parseArgs(argv) {
  const opts = { files: [], includePaths: [], allowPaths: [], remappings: [] };
  const takesValue = new Set(['--base-path', '--include-path', '--allow-paths', '--combined-json',
    '--evm-version', '--optimize-runs', '--output-dir']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    let key = a, val;
    if (a.startsWith('--') && eq > 0) { key = a.slice(0, eq); val = a.slice(eq + 1); }
    if (takesValue.has(key) && val === undefined) {
      val = argv[++i];
      if (val === undefined) throw new Error(`option ${key} needs a value`);
    }
    switch (key) {
      case '--version': opts.version = true; break;
      case '--help': opts.help = true; break;
      case '--standard-json': opts.standardJson = true; break;
      case '--combined-json': opts.combinedJson = val.split(','); break;
      case '--base-path': opts.basePath = val; break;
      case '--include-path': opts.includePaths.push(val); break;
      case '--allow-paths': opts.allowPaths.push(...val.split(',')); break;
      case '--evm-version': opts.evmVersion = val; break;
      case '--optimize': opts.optimize = true; break;
      case '--optimize-runs': opts.optimizeRuns = parseInt(val, 10); break;
      case '--via-ir': opts.viaIR = true; break;
      case '--no-color': case '--pretty-json': break;
      case '--output-dir': break;
      default:
        if (a.startsWith('--')) throw new Error(`unsupported option ${a}`);
        if (a.includes('=') && !fs.existsSync(a)) opts.remappings.push(a);
        else opts.files.push(a);
    }
  }
  return opts;
}

// Import callback: solc hands us the (already remapped) source unit name; look it up under
// the base path, then each include path, then as given (absolute or cwd-relative).
function makeImportCallback(opts) {
  const roots = [opts.basePath, ...opts.includePaths].filter(Boolean);
  return function findImports(unitName) {
    const candidates = roots.map((r) => path.resolve(r, unitName));
    candidates.push(path.resolve(unitName));
    for (const c of candidates) {
      try {
        return { contents: fs.readFileSync(c, 'utf8') };
      } catch (e) { /* try the next root */ }
    }
    return { error: `File not found: ${unitName} (looked in ${roots.concat(['.']).join(', ')})` };
  };
}

function readStdin() {
  return fs.readFileSync(0, 'utf8');
}

function standardJson(solc, opts) {
  const input = readStdin();
  const out = solc.compile(input, { import: makeImportCallback(opts) });
  process.stdout.write(out);
}

function combinedJson(solc, opts) {
  if (opts.files.length === 0) throw new Error('--combined-json needs at least one source file');
  const sources = {};
  for (const f of opts.files) {
    const unit = opts.basePath ? path.relative(opts.basePath, path.resolve(f)) : f;
    sources[unit] = { content: fs.readFileSync(f, 'utf8') };
  }
  const fieldMap = {
    abi: 'abi', bin: 'evm.bytecode.object', 'bin-runtime': 'evm.deployedBytecode.object',
    hashes: 'evm.methodIdentifiers', metadata: 'metadata', userdoc: 'userdoc', devdoc: 'devdoc',
    'srcmap': 'evm.bytecode.sourceMap', 'srcmap-runtime': 'evm.deployedBytecode.sourceMap',
    'opcodes': 'evm.bytecode.opcodes', 'asm': 'evm.legacyAssembly', 'storage-layout': 'storageLayout',
  };
  const wanted = opts.combinedJson.filter((f) => f !== 'ast');
  const outputSelection = wanted.map((f) => fieldMap[f]).filter(Boolean);
  const settings = {
    outputSelection: { '*': { '*': outputSelection, '': opts.combinedJson.includes('ast') ? ['ast'] : [] } },
    optimizer: { enabled: !!opts.optimize, runs: opts.optimizeRuns || 200 },
    remappings: opts.remappings,
  };
  if (opts.evmVersion) settings.evmVersion = opts.evmVersion;
  if (opts.viaIR) settings.viaIR = true;
  const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings }),
    { import: makeImportCallback(opts) }));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  for (const e of out.errors || []) process.stderr.write((e.formattedMessage || e.message) + '\n');
  if (errors.length) { process.exitCode = 1; return; }
  const get = (obj, dotted) => dotted.split('.').reduce((o, k) => (o == null ? o : o[k]), obj);
  const contracts = {};
  for (const [unit, byName] of Object.entries(out.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      const entry = {};
      for (const f of wanted) {
        const v = get(c, fieldMap[f] || f);
        if (v !== undefined) entry[f] = v;
      }
      contracts[`${unit}:${name}`] = entry;
    }
  }
  const result = { contracts, version: nativeVersion(solc) };
  if (opts.combinedJson.includes('ast')) {
    result.sources = {};
    for (const [unit, s] of Object.entries(out.sources || {})) result.sources[unit] = { AST: s.ast, id: s.id };
  }
  process.stdout.write(JSON.stringify(result));
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    fail(`${e.message}\n${USAGE}`, 2);
    return;
  }
  if (opts.help) { process.stdout.write(USAGE + '\n'); return; }
  const solc = loadSolc();
  if (!solc) return;
  try {
    if (opts.version) {
      process.stdout.write('solc, the solidity compiler commandline interface\n' +
        `Version: ${nativeVersion(solc)}\n`);
    } else if (opts.standardJson) {
      standardJson(solc, opts);
    } else if (opts.combinedJson) {
      combinedJson(solc, opts);
    } else {
      fail(`nothing to do.\n${USAGE}`, 2);
    }
  } catch (e) {
    fail(e.message, 1);
  }
  // No process.exit(): it would cut stdout at 64 KiB when stdout is a pipe.
}

main();
