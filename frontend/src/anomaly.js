// The validators' anomaly view of each node: GET /anomaly (the latest epoch a validator assessed)
// on every validator the deployment file names (`validatorEndpoints`), read in the background,
// bounded (a timeout, a size cap, a checked shape) and told as sentences.
//
// A validator's report (oracle/validator/anomaly.py, NetworkReport.to_json):
//   {epoch, evidence_digest, notes: [text], nodes: [{nodeId, score_ppm, multiplier_ppm,
//    reasons: [{kind, severity_ppm, detail}]}]}
// The multiplier (parts per million) is what lowered the node's attested score; validators compute
// it from the same on-chain evidence, so every honest one serves the same report for an epoch.
import { state } from './chain.js';

const TIMEOUT_MS = 3000; // per validator
const REFRESH_MS = 30_000; // a report changes once per epoch; asking more often buys nothing
const MAX_CHARS = 4_000_000; // a report of ~10,000 nodes; anything bigger is not a report
const MAX_ENDPOINTS = 8;
const PPM = 1_000_000;

// What each signal means, as a sentence the detail completes (kinds of oracle/validator/anomaly.py).
const SIGNALS = {
  above_peak: 'Claims more than the published peak of its GPU model',
  network_outlier: 'Its figures stand far above other nodes of the same GPU model',
  jump: 'Its figures rose suddenly above its own history',
  latency_too_fast: 'Answers challenges faster than its claimed speed allows (cached or precomputed answers)',
  latency_inconsistent: 'Its challenge times do not fit its claimed speed (work done elsewhere)',
  duplicate_uuid: 'Its GPU was registered before under another node id',
  uuid_mismatch: 'Its node id does not match the GPU it registered',
  shared_endpoint: 'Shares its challenge endpoint with another node (one machine answering for two GPUs)',
  operator_cofaults: "Its operator's nodes fail together",
  clustered_faults: 'Faults far more often than the network does',
  invalid_figure: 'Reported figures that cannot be used',
};
// Notes (severity 0): what could not be checked, and why.
const NOTES = {
  no_history: 'Not compared with its own history',
  few_peers: 'Not compared with other nodes',
  unknown_model: 'Not checked against a published peak',
  no_latency: 'No latency flag from k validators (challenge times fit its claim, or were not judged)',
  unregistered: 'Not in the registrations the validators read',
};

const COUNT = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const PERCENT = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

const view = { asked: [], answers: [], problems: [], fetchedAt: 0, inFlight: null };

/** The validators' URLs the deployment file names (http or https only, at most MAX_ENDPOINTS). */
export function validatorEndpoints() {
  const list = state.deployment?.validatorEndpoints;
  if (!Array.isArray(list)) return [];
  return list
    .filter((u) => typeof u === 'string' && /^https?:\/\/[^\s/]+/i.test(u))
    .map((u) => u.replace(/\/+$/, ''))
    .slice(0, MAX_ENDPOINTS);
}

const isPpm = (v) => Number.isInteger(v) && v >= 0 && v <= PPM;

/** A validator's answer as the page uses it; throws with the reason when it is not a report. */
export function parseReport(doc) {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
  if (!Number.isInteger(doc.epoch) || doc.epoch < 0) throw new Error('no epoch');
  if (!Array.isArray(doc.nodes)) throw new Error('no node list');
  const nodes = new Map();
  for (const n of doc.nodes) {
    const id = typeof n?.nodeId === 'string' ? n.nodeId.toLowerCase() : '';
    if (!/^0x[0-9a-f]{64}$/.test(id)) throw new Error('a node without a 32-byte node id');
    if (!isPpm(n.multiplier_ppm) || !isPpm(n.score_ppm)) throw new Error(`node ${id.slice(0, 10)}… has no multiplier in parts per million`);
    if (!Array.isArray(n.reasons)) throw new Error(`node ${id.slice(0, 10)}… has no reason list`);
    const reasons = n.reasons.map((r) => {
      if (typeof r?.kind !== 'string' || !isPpm(r.severity_ppm) || typeof r.detail !== 'string') throw new Error(`node ${id.slice(0, 10)}… has a malformed reason`);
      return { kind: r.kind.slice(0, 64), severityPpm: r.severity_ppm, detail: r.detail.slice(0, 500) };
    });
    nodes.set(id, { multiplierPpm: n.multiplier_ppm, scorePpm: n.score_ppm, reasons });
  }
  const notes = Array.isArray(doc.notes) ? doc.notes.filter((x) => typeof x === 'string').map((x) => x.slice(0, 300)) : [];
  return { epoch: doc.epoch, digest: typeof doc.evidence_digest === 'string' ? doc.evidence_digest : '', notes, nodes };
}

async function ask(url) {
  try {
    const res = await fetch(`${url}/anomaly`, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (res.status === 404) return { url, problem: `${url} has not assessed an epoch yet` };
    if (!res.ok) return { url, problem: `${url} answered HTTP ${res.status}` };
    if (Number(res.headers.get('content-length')) > MAX_CHARS) return { url, problem: `${url} answered more than ${MAX_CHARS} bytes, too many for a report: ignored` };
    const text = await res.text();
    if (text.length > MAX_CHARS) return { url, problem: `${url} answered ${text.length} characters, too many for a report: ignored` };
    let doc;
    try {
      doc = JSON.parse(text);
    } catch {
      return { url, problem: `${url} answered something that is not JSON: ignored` };
    }
    return { url, report: parseReport(doc) };
  } catch (err) {
    if (err?.name === 'TimeoutError') return { url, problem: `${url} did not answer within ${TIMEOUT_MS / 1000} s` };
    if (err instanceof TypeError) return { url, problem: `${url} cannot be reached (down, or it does not allow this page to read it)` };
    return { url, problem: `${url} answered something that is not an anomaly report (${err.message}): ignored` };
  }
}

/**
 * Ask every validator again when the last answers are older than REFRESH_MS (or `force`); `onChange`
 * runs when new answers are in. One round at a time; never throws.
 */
export function refreshAnomaly(onChange, force = false) {
  const urls = validatorEndpoints();
  if (!urls.length || view.inFlight) return;
  if (!force && view.fetchedAt && Date.now() - view.fetchedAt < REFRESH_MS) return;
  view.fetchedAt = Date.now();
  view.inFlight = Promise.all(urls.map(ask)).then((results) => {
    view.asked = urls;
    view.answers = results.filter((r) => r.report);
    view.problems = results.filter((r) => r.problem).map((r) => r.problem);
    view.inFlight = null;
    onChange();
  });
}

/** What went wrong asking the validators last time (one sentence per validator that failed). */
export const anomalyProblems = () => [...view.problems];

/** A key that changes when the answers do (for renderIfChanged). */
export const anomalyKey = () => [view.fetchedAt, view.inFlight ? 1 : 0, view.answers.map((a) => [a.url, a.report.epoch, a.report.digest])];

/**
 * What the validators say of one node:
 *  {status: 'no-endpoint'} | {status: 'asking'} | {status: 'unreachable', problems}
 *  | {status: 'not-assessed', epoch, problems}
 *  | {status: 'assessed', epoch, multiplierPpm, reasons, agree, disagree: [url], from: [url], problems}
 * The newest epoch any validator answered is shown; validators answering that epoch with another
 * multiplier for the node are named in `disagree`.
 */
export function nodeAnomaly(nodeId) {
  if (!validatorEndpoints().length) return { status: 'no-endpoint' };
  if (!view.asked.length) return { status: 'asking' };
  const problems = view.problems;
  if (!view.answers.length) return { status: 'unreachable', problems };
  const epoch = Math.max(...view.answers.map((a) => a.report.epoch));
  const current = view.answers.filter((a) => a.report.epoch === epoch);
  const id = String(nodeId).toLowerCase();
  const withNode = current.filter((a) => a.report.nodes.has(id));
  if (!withNode.length) return { status: 'not-assessed', epoch, problems };
  const shown = withNode[0].report.nodes.get(id);
  const disagree = current.filter((a) => a.report.nodes.get(id)?.multiplierPpm !== shown.multiplierPpm).map((a) => a.url);
  return {
    status: 'assessed',
    epoch,
    multiplierPpm: shown.multiplierPpm,
    reasons: shown.reasons,
    from: withNode.map((a) => a.url),
    disagree,
    problems,
  };
}

/** A reason as a sentence: what the signal means, then the validator's detail. */
export function reasonSentence(r) {
  const lead = SIGNALS[r.kind] || NOTES[r.kind] || `Signal "${r.kind}"`;
  const detail = r.detail.trim().replace(/\.$/, '');
  return detail ? `${lead}: ${detail}.` : `${lead}.`;
}

/** Does the reason lower the score (a signal), or only say what was not checked (a note)? */
export const lowers = (r) => r.severityPpm > 0;

/** The multiplier for people: "× 0.1 (score lowered by 90%)" or "× 1 (nothing anomalous)". */
export function multiplierText(ppm) {
  const m = COUNT.format(ppm / PPM);
  return ppm >= PPM ? `× ${m} (nothing anomalous)` : `× ${m} (score lowered by ${PERCENT.format((PPM - ppm) / PPM)})`;
}
