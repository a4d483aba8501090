/**
 * One JSON object written as it is read: first the members already at hand (`head`), then each
 * list member from pages that arrive one at a time, so the text of a list of any length never
 * sits in memory whole. The result is what `JSON.stringify` would give for the same object; an
 * iteration that stops early (the consumer gone, a page that failed) leaves the text unclosed,
 * so a reader can never mistake a cut-off document for a whole one.
 */
export async function* jsonObjectText(head: Record<string, unknown>, lists: Array<[string, AsyncIterable<readonly unknown[]>]>): AsyncGenerator<string> {
  const opening = JSON.stringify(head);
  let separator = opening === '{}' ? '' : ',';
  yield opening.slice(0, -1);
  for (const [name, pages] of lists) {
    yield `${separator}${JSON.stringify(name)}:[`;
    separator = ',';
    let first = true;
    for await (const page of pages) {
      if (page.length === 0) continue;
      // One string per page: one write per page, not one per item.
      yield (first ? '' : ',') + page.map((item) => JSON.stringify(item)).join(',');
      first = false;
    }
    yield ']';
  }
  yield '}\n';
}
