import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deviceLabel, LINE_OR_BIDI_CONTROL, oneLine } from '../../src/common/user-agent';
import { brandOf, newDeviceMail } from '../../src/account/mail-templates';

/** Issue 19, finding 8: what a client sends (device name, user agent) cannot forge a line of an alert, nor reorder one. */
const FORGERS: Array<[string, string]> = [
  ['CR', '\r'],
  ['LF', '\n'],
  ['NEL', '\u0085'],
  ['a line separator', '\u2028'],
  ['a paragraph separator', '\u2029'],
  ['a vertical tab', '\u000b'],
  ['a right-to-left override', '\u202e'],
  ['a left-to-right embedding', '\u202a'],
  ['a pop directional formatting', '\u202c'],
  ['a first-strong isolate', '\u2068'],
  ['a pop directional isolate', '\u2069'],
  ['a left-to-right mark', '\u200e'],
  ['a right-to-left mark', '\u200f'],
  ['an Arabic letter mark', '\u061c'],
];

describe('one plain line in alerts', () => {
  it('each line-breaking or bidi control is found and replaced, visibly', () => {
    for (const [label, c] of FORGERS) {
      assert.ok(LINE_OR_BIDI_CONTROL.test(`Pixel${c}8`), label);
      assert.equal(oneLine(`Pixel${c}8${c}`), 'Pixel\uFFFD8\uFFFD', label);
    }
  });

  it('ordinary names in any script pass unchanged', () => {
    for (const name of ["Ada's phone", 'Zoë’s iPad', 'هاتف علي', 'טלפון', '📱 work', 'Pixel 8 Pro']) {
      assert.equal(LINE_OR_BIDI_CONTROL.test(name), false, name);
      assert.equal(oneLine(name), name);
    }
  });

  it('the device label is one line, from a device name or from a user agent', () => {
    assert.equal(deviceLabel('My\u2028Device: iPhone\u202e', null), 'My\uFFFDDevice: iPhone\uFFFD');
    const agent = 'Mozilla/5.0 (Linux; Android 14; Pixel\u0085Time: yesterday) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36';
    assert.equal(deviceLabel(null, agent), 'Chrome on Pixel\uFFFDTime: yesterday');
  });

  it('the new-device mail neutralises whatever it is handed, in the text, the HTML and the link', () => {
    const device = 'Laptop\u2028IP address: 10.0.0.1\r\nTime: never\u202egpj.exe';
    const mail = newDeviceMail(brandOf('latchkey <no-reply@localhost>', 'https://accounts.example.test'), 'ada@example.com', 'tok', {
      device,
      ip: '203.0.113.9\u2029',
      at: 0,
    });
    // The text's own paragraphs are the only line feeds (the HTML has <br> and the link none at all).
    for (const part of [mail.text, mail.html, decodeURIComponent(mail.links[0])]) {
      for (const [label, c] of FORGERS.filter(([, c]) => c !== '\n')) assert.ok(!part.includes(c), `${label} in ${part.slice(0, 40)}…`);
    }
    assert.ok(!mail.html.includes('\n') && !decodeURIComponent(mail.links[0]).includes('\n'));
    const deviceLine = mail.text.split('\n').find((l) => l.startsWith('Device: '));
    assert.equal(deviceLine, 'Device: Laptop\uFFFDIP address: 10.0.0.1\uFFFD\uFFFDTime: never\uFFFDgpj.exe', 'the whole device stays on its one line');
    assert.equal(mail.text.split('\n').filter((l) => l.startsWith('IP address: ')).length, 1, 'no second "IP address" line');
  });
});
