import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emailProblem, normalizeEmail } from '../../src/common/email';
import { passwordPolicyError } from '../../src/common/password-policy';
import { normalizePassword } from '../../src/users/password.service';

describe('e-mail normalisation', () => {
  it('trims and lower-cases', () => {
    assert.equal(normalizeEmail('  Ada.Lovelace@Example.COM\t'), 'ada.lovelace@example.com');
    assert.equal(normalizeEmail('bob@example.com'), 'bob@example.com');
  });
});

describe('the one e-mail rule (API, ADMIN_EMAIL, CLI)', () => {
  it('accepts ordinary and internationalised addresses', () => {
    assert.equal(emailProblem('ada@example.com'), null);
    assert.equal(emailProblem('  ada@example.com '), null, 'trimmed first');
    assert.equal(emailProblem('zoë@exämple.org'), null);
  });
  it('refuses look-alike characters, non-addresses, over-long ones and non-strings', () => {
    assert.match(emailProblem('a\u200b@example.com')!, /invisible/);
    assert.match(emailProblem('not an address')!, /e-mail address|separator/);
    assert.match(emailProblem('ada@')!, /e-mail address/);
    assert.match(emailProblem(`${'a'.repeat(250)}@example.com`)!, /at most 254/);
    assert.match(emailProblem(42)!, /string/);
  });
});

describe('password policy', () => {
  it('accepts 8 to 128 characters', () => {
    assert.equal(passwordPolicyError('12345678'), null);
    assert.equal(passwordPolicyError('x'.repeat(128)), null);
  });
  it('refuses shorter, longer, blank and non-strings', () => {
    assert.match(passwordPolicyError('1234567')!, /at least 8/);
    assert.match(passwordPolicyError('x'.repeat(129))!, /at most 128/);
    assert.match(passwordPolicyError('x'.repeat(100_000))!, /at most 128/);
    assert.match(passwordPolicyError('          ')!, /white space/);
    assert.match(passwordPolicyError(12345678)!, /string/);
    assert.match(passwordPolicyError(['12345678'])!, /string/);
  });
  it('counts characters, not UTF-16 units', () => {
    assert.equal(passwordPolicyError('🔑'.repeat(8)), null, 'eight emoji are eight characters');
    assert.match(passwordPolicyError('🔑'.repeat(129))!, /at most 128/);
  });
  it('compares passwords in NFC', () => {
    assert.equal(normalizePassword('cafe\u0301 au lait'), normalizePassword('caf\u00e9 au lait'));
  });
});
