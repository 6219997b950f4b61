import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicyFile, shippedPolicyPath } from '../../src/policy/load.js';
import { loadPriceTable, priceFor } from '../../src/model/prices.js';

test('the shipped policies name models the price table knows (an unknown one is billed as the dearest)', () => {
  const prices = loadPriceTable();
  for (const pack of ['default', 'strict']) {
    const models = loadPolicyFile(shippedPolicyPath(pack)).models ?? {};
    for (const role of ['act', 'triage'] as const) {
      const id = models[role];
      if (id === undefined) continue;
      assert.equal(priceFor(prices, id).known, true, `${pack}.yaml models.${role}: '${id}' is not in policies/prices.yaml`);
    }
  }
});
