import { noTracer, type Logger, type Tracer } from '../application/ports.js';
import type { Config } from './config/index.js';

export interface Tracing {
  readonly tracer: Tracer;
  /** Exports the spans still buffered; last to close, after the worker's final attempt ends. */
  readonly close: () => Promise<void>;
}

/**
 * OpenTelemetry when OTEL_TRACES_EXPORTER=otlp, else the no-op tracer. The SDK is imported only
 * here and only then: with tracing off no @opentelemetry module is loaded at all
 * (test/integration/tracing-off.test.ts holds that).
 */
export const startTracing = async (config: Config, logger: Logger): Promise<Tracing> => {
  if (!config.tracing.enabled) {
    if (config.tracing.endpointSet) {
      logger.warn('OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is off: set OTEL_TRACES_EXPORTER=otlp to turn it on');
    }
    return { tracer: noTracer, close: async () => undefined };
  }
  const { createOtlpTracing } = await import('../adapters/observability/otel-tracer.js');
  const tracing = await createOtlpTracing({ serviceName: config.tracing.serviceName, workerId: config.worker.id });
  logger.info('Tracing on: spans are exported over OTLP (OTEL_TRACES_EXPORTER=otlp)', { service_name: config.tracing.serviceName });
  return { tracer: tracing.tracer, close: () => tracing.shutdown() };
};
