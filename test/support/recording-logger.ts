import type { LogFields, Logger } from '../../src/application/ports.js';

/** Keeps log lines in memory; tests read them only alongside an outcome they assert first. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; fields?: LogFields }[] = [];
  debug = (message: string, fields?: LogFields) => void this.lines.push({ level: 'debug', message, ...(fields ? { fields } : {}) });
  info = (message: string, fields?: LogFields) => void this.lines.push({ level: 'info', message, ...(fields ? { fields } : {}) });
  warn = (message: string, fields?: LogFields) => void this.lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  error = (message: string, fields?: LogFields) => void this.lines.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  messages(): string[] {
    return this.lines.map((line) => line.message);
  }
}
