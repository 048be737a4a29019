import { cutText } from '../../src/shared/cut-text.js';

describe('cutText', () => {
  it('leaves text within the limit alone, and marks text it cuts', () => {
    expect(cutText('short', 10, '…')).toBe('short');
    expect(cutText('exactly10!', 10, '…')).toBe('exactly10!');
    expect(cutText('a longer line of text', 8, '…')).toBe('a longer…');
    expect(cutText('a longer line of text', 8)).toBe('a longer');
  });

  it('never cuts a character in half, wherever the limit falls', () => {
    // Emoji and other characters outside the BMP take two UTF-16 code units.
    const text = 'a😀bc🎉🎉d𝄞'.repeat(5);
    for (let limit = 1; limit < text.length; limit += 1) {
      const cut = cutText(text, limit);
      expect({ limit, wellFormed: cut.isWellFormed() }).toEqual({ limit, wellFormed: true });
      expect(cut.length).toBeLessThanOrEqual(limit);
      expect(cut.length).toBeGreaterThanOrEqual(limit - 1);
      expect(text.startsWith(cut)).toBe(true);
    }
  });
});
