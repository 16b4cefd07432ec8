// Every custom error of every contract through the page's formatter (frontend/src/errors.js), with
// each argument given a realistic value of the kind it really is (a timestamp, a token amount, a
// bps rate, a count, a period, a small or a content-addressed id). Prints one JSON line per error:
// {name, text, args: [{name, kind}]}. An argument this table does not know fails the run: a new
// error must say what its numbers are. Used by tests/test_frontend_errors.py (argv[2]: the ABIs).
import fs from 'node:fs';
import { describeCustomError } from '../../frontend/src/errors.js';

const KINDS = {
  time: 'challengeEnd closesAt deadline expiry latestAllowed nowTime nowTimestamp releaseTime resolveBy timepoint clock',
  amount: 'allowance amount available balance budget cap ceiling collateral cumulativeAmount deposit fee increasedSupply locked maxSlash needed price redeemed required royalty votes',
  bps: 'bps feeBps maxBps shareBps',
  count: 'calldatas count given index item length maxLength oracleCount payloads previous targets values bits',
  period: 'delay minDelay maxValidity votingPeriod',
  id: 'jobId channelId',
  contentId: 'modelId tokenId proposalId',
  plain: 'attestationEpoch batchEpoch epoch lastEpoch currentNonce listedNonce nonce minScore score quorumDenominator quorumNumerator vramMiB',
};
const BY_NAME = Object.fromEntries(Object.entries(KINDS).flatMap(([k, names]) => names.split(' ').map((n) => [n, k])));
const BY_ERROR = {
  'AttestationRegistryMaxValidityOutOfBounds.min': 'period',
  'AttestationRegistryMaxValidityOutOfBounds.max': 'period',
  'AttestationRegistryTooManyOracles.max': 'count',
  'JobEscrowInvalidItemCount.max': 'count',
  'ModelMarketplacePriceChanged.expected': 'amount',
  'ModelMarketplacePriceTooHigh.max': 'amount',
  'ModelMarketplaceFeeTooHigh.max': 'bps',
  'TreasurySurplusShareTooHigh.max': 'bps',
  'AttestationRegistryThresholdOutOfBounds.threshold': 'count',
  'AttestationRegistryTooFewSignatures.threshold': 'count',
  'GovernorInsufficientProposerVotes.threshold': 'amount',
  'SafeCastOverflowedUintDowncast.value': 'plain',
  'StringsInsufficientHexLength.value': 'plain',
};
// ValueOutOfBounds(parameter, value, min, max): a real parameter of each contract, and its kind
const PARAMETER = {
  ComputeStaking: ['unbondingPeriod', 'period'],
  JobEscrow: ['feeBps', 'bps'],
  ModelNFT: ['maxRoyaltyBps', 'bps'],
  PaymentChannels: ['closeDelay', 'period'],
};
const VALUE = {
  time: 1796166018n,
  amount: 12345n * 10n ** 17n,
  bps: 250n,
  count: 3n,
  period: 3600n,
  id: 42n,
  contentId: 2n ** 255n + 987654321n,
  plain: 7n,
};

function kindOf(error, input, parameter) {
  if ((input.internalType || '').startsWith('enum ')) return 'enum';
  if (parameter && ['value', 'min', 'max'].includes(input.name)) return parameter[1];
  const kind = BY_ERROR[`${error}.${input.name}`] || BY_NAME[input.name];
  if (!kind) throw new Error(`${error}: argument ${input.name} has no kind in tests/support/error_sentences.mjs`);
  return kind;
}

function sample(input, kind, parameter) {
  const t = input.type;
  if (t.endsWith('[]')) return [];
  if (t === 'address') return '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  if (t === 'bool') return true;
  if (t.startsWith('bytes')) return `0x${'ab'.repeat(t === 'bytes' ? 4 : Number(t.slice(5)))}`;
  if (t === 'string') return parameter ? parameter[0] : 'text';
  if (kind === 'enum') return 1n;
  return VALUE[kind];
}

const doc = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
for (const c of Object.values(doc.contracts)) {
  for (const item of c.abi) {
    if (item.type !== 'error') continue;
    const owner = Object.keys(PARAMETER).find((p) => item.name === `${p}ValueOutOfBounds`);
    const parameter = owner ? PARAMETER[owner] : null;
    const args = [];
    const kinds = [];
    for (const input of item.inputs) {
      const kind = /int/.test(input.type) && !input.type.endsWith('[]') ? kindOf(item.name, input, parameter) : null;
      kinds.push({ name: input.name, kind });
      args.push(sample(input, kind, parameter));
    }
    console.log(JSON.stringify({ name: item.name, text: describeCustomError(item.name, args, item), args: kinds }));
  }
}
