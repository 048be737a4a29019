/**
 * An instant PostgreSQL holds in a timestamptz that a Date shows wrongly: 'infinity' and '-infinity',
 * dates before the common era, and instants after the last one a Date holds (+275760-09-13;
 * PostgreSQL goes on to 294276). As a Date it is the nearest instant a Date holds (so it sorts,
 * compares and computes as before); as text (toISOString, toJSON, String) it is PostgreSQL's own
 * text, `pgText`, which every command and page shows and which PostgreSQL reads back as the same
 * instant: '294276-12-31 23:59:59.999999+00', 'infinity', '4713-01-01 00:00:00+00 BC'.
 */
export class ExactInstant extends Date {
  constructor(
    ms: number,
    readonly pgText: string,
  ) {
    super(ms);
  }

  override toISOString(): string {
    return this.pgText;
  }

  override toJSON(): string {
    return this.pgText;
  }

  override toString(): string {
    return this.pgText;
  }
}

/** PostgreSQL's text of an instant, in one form whether it came from a column or from to_json ('T', '+00:00'). */
export const normalPgText = (text: string): string => text.replace('T', ' ').replace(/([+-]\d\d):00( BC)?$/, '$1$2');
