import { html, jsonScript } from '../../src/adapters/dashboard/html.js';

describe('dashboard HTML', () => {
  it('escapes every value from the database, but not markup built by html itself', () => {
    const error = '<script>alert("x")</script> & \'quoted\'';
    expect(html`<td>${error}</td>${html`<b>${'<i>'}</b>`}`.text).toBe(
      '<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;</td><b>&lt;i&gt;</b>',
    );
  });

  it('keeps a JSON data block from closing its script element', () => {
    const block = jsonScript('data', { text: '</script><script>alert(1)</script>' }).text;
    expect(block.match(/<\/script>/g)).toHaveLength(1);
    expect(JSON.parse(block.replace(/^<script[^>]*>/, '').replace(/<\/script>$/, ''))).toEqual({
      text: '</script><script>alert(1)</script>',
    });
  });
});
