import { destinationOf, httpOrigin } from '../../src/domain/index.js';

describe('httpOrigin, whose answers for recent URLs are kept', () => {
  it('answers a URL asked again as it did the first time, and non-http(s) or broken URLs with null each time', () => {
    for (let round = 0; round < 2; round += 1) {
      expect(httpOrigin('https://API.example.com:443/hook?x=1')).toBe('https://api.example.com');
      expect(httpOrigin('ftp://example.com/file')).toBeNull();
      expect(httpOrigin('not a url')).toBeNull();
      expect(destinationOf('http_callback', { url: 'http://example.com:8080/a' })).toBe('http://example.com:8080');
    }
  });

  it('stays right past the number of URLs it keeps', () => {
    for (let port = 1_001; port <= 3_500; port += 1) expect(httpOrigin(`http://127.0.0.1:${port}/x`)).toBe(`http://127.0.0.1:${port}`);
    for (let port = 3_500; port > 1_000; port -= 500) expect(httpOrigin(`http://127.0.0.1:${port}/y`)).toBe(`http://127.0.0.1:${port}`);
    expect(httpOrigin('javascript:alert(1)')).toBeNull();
  });
});
