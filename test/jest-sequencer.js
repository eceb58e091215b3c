// Shards by expected cost instead of jest's default hash split: scripts/run-tests.js runs the
// integration tier as two concurrent jest processes, and a hash split can put the 10,000-case
// fuzzers (each 20 or more times an ordinary file) all in one of them.
const { basename } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

/** A rough relative cost: the HTTP fuzzers dominate, every other file is about the same. */
const cost = (path) => (/fuzz/.test(basename(path)) ? 20 : 1);

class CostShardSequencer extends Sequencer {
  shard(tests, { shardIndex, shardCount }) {
    const load = Array(shardCount).fill(0);
    const mine = [];
    // Greedy by cost, heaviest first, ties by path: deterministic, so the shards never overlap.
    const ordered = [...tests].sort((a, b) => cost(b.path) - cost(a.path) || (a.path < b.path ? -1 : 1));
    for (const test of ordered) {
      const lightest = load.indexOf(Math.min(...load));
      load[lightest] += cost(test.path);
      if (lightest === shardIndex - 1) mine.push(test);
    }
    return mine;
  }
}

module.exports = CostShardSequencer;
