/** The list of values in flight (src/pipeline/live-list.ts): exact as values come and go in any order. */
import t from 'tap';
import { LiveList } from '../src/pipeline/live-list.js';

t.test('values come and go in any order; forEach sees the rest, newest first, and may remove as it goes', async (t) => {
  const list = new LiveList<number>();
  const nodes = [0, 1, 2, 3, 4, 5].map((v) => list.add(v));
  const values = () => {
    const out: number[] = [];
    list.forEach((v) => {
      out.push(v);
    });
    return out;
  };
  t.same(values(), [5, 4, 3, 2, 1, 0]);
  nodes[5]!.remove(); // the first
  nodes[0]!.remove(); // the last
  nodes[2]!.remove(); // one in the middle
  nodes[2]!.remove(); // twice: nothing more
  t.equal(list.size, 3);
  t.same(values(), [4, 3, 1]);
  t.equal(nodes[2]!.value, null, 'a removed node lets go of its value');
  // Removing the node being visited, and the one after it, while walking.
  const seen: number[] = [];
  list.forEach((v, node) => {
    seen.push(v);
    node.remove();
    if (v === 4) nodes[3]!.remove();
  });
  t.same(seen, [4, 1], 'a value removed before it was reached is not visited');
  t.equal(list.size, 0);
  t.equal(list.first, null);
  list.add(7);
  t.same(values(), [7], 'and the list works on');
});
